package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

const prefix = "default.kvtest"

func setup(t testing.TB, opts ...client.Option) (*client.KeyValue, *server.Server) {
	t.Helper()
	ns := natstest.Run(t)
	p, err := provider.Serve(natstest.Connect(t, ns), kvtest.Answering(memory.New(memory.PageSize(3))),
		provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns), append([]client.Option{client.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv, ns
}

// The behaviour of each function through the client (absent and empty values, paging,
// counters, batch order) is checked by kvtest.Conformance, which provider/conformance_test.go
// runs through this client over NATS against both backends. The tests here are about the
// client itself: errors, transport faults, sizes and headers.

func TestProviderErrors(t *testing.T) {
	kv, _ := setup(t)
	for _, tt := range []struct {
		bucket string
		check  func(error) bool
	}{
		{"no-such-store", func(err error) bool { return errors.Is(err, client.ErrNoSuchStore) }},
		{"access-denied", func(err error) bool { return errors.Is(err, client.ErrAccessDenied) }},
		{"other", func(err error) bool {
			var o *client.OtherError
			return errors.As(err, &o) && o.Message == "boom"
		}},
		{"fail", func(err error) bool {
			return errors.Is(err, client.ErrRemoteFailure) && !errors.Is(err, client.ErrNoSuchStore)
		}},
	} {
		for fn, err := range kvtest.CallAll(kv, tt.bucket) {
			if !tt.check(err) {
				t.Errorf("%s on bucket %q: err = %v", fn, tt.bucket, err)
			}
			if tt.bucket != "fail" && errors.Is(err, client.ErrRemoteFailure) {
				t.Errorf("%s on bucket %q: provider answer reported as transport failure: %v", fn, tt.bucket, err)
			}
		}
	}
}

func TestNoRespondersAndTimeout(t *testing.T) {
	ns := natstest.Run(t)
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("nobody.here"), client.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for fn, err := range kvtest.CallAll(kv, "b") {
		if !errors.Is(err, client.ErrNoResponders) {
			t.Errorf("%s: err = %v; want ErrNoResponders", fn, err)
		}
	}
	// A subscriber that never answers: the client's default timeout applies.
	nc := natstest.Connect(t, ns)
	if _, err := nc.Subscribe("silent.wrpc.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	silent, err := client.New(natstest.Connect(t, ns), client.WithPrefix("silent"), client.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = silent.Get(context.Background(), "b", "k")
	if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get on a silent provider: err = %v; want ErrTimeout", err)
	}
}

func TestLargeValuesCrossMaxPayload(t *testing.T) {
	kv, _ := setup(t)
	ctx := context.Background()
	for _, n := range []int{0, 1, 1<<20 + 1, 8 << 20} {
		want := bytes.Repeat([]byte{0xab, 0x00, 0x17}, n/3+1)[:n]
		if err := kv.Set(ctx, "big", "v", want); err != nil {
			t.Fatalf("Set %d bytes: %v", n, err)
		}
		got, ok, err := kv.Get(ctx, "big", "v")
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Fatalf("Get %d bytes: got %d bytes, ok %v, err %v", n, len(got), ok, err)
		}
	}
}

func TestResultSizeCap(t *testing.T) {
	kv, _ := setup(t, client.WithMaxResultBytes(1000))
	ctx := context.Background()
	if err := kv.Set(ctx, "b", "big", make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get(ctx, "b", "big"); !errors.Is(err, client.ErrResultTooLarge) {
		t.Fatalf("Get of 5000 bytes with a 1000-byte cap: err = %v", err)
	}
}

func TestStaticAndCallHeaders(t *testing.T) {
	kv, _ := setup(t, client.WithHeader("source-id", "gateway"), client.WithHeader("link-name", "default"))
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := client.WithCallHeader(context.Background(), "traceparent", tp)
	for name, want := range map[string]string{"source-id": "gateway", "link-name": "default", "traceparent": tp} {
		got, ok, err := kv.Get(ctx, kvtest.Headers, name)
		if err != nil || !ok || string(got) != want {
			t.Errorf("provider saw header %s = %q (present %v, err %v); want %q", name, got, ok, err, want)
		}
	}
	if _, ok, _ := kv.Get(context.Background(), kvtest.Headers, "traceparent"); ok {
		t.Error("a call without WithCallHeader carried traceparent")
	}
}

// TestNATSRestart stops the NATS server under a client and a provider: calls fail at once
// while it is down and work again, data intact, once it is back on the same address.
func TestNATSRestart(t *testing.T) {
	ns := natstest.Run(t)
	port := ns.Addr().(*net.TCPAddr).Port
	reconnect := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}
	p, err := provider.Serve(natstest.Connect(t, ns, reconnect...), memory.New(), provider.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns, reconnect...), client.WithPrefix(prefix), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := kv.Set(ctx, "b", "k", []byte("kept")); err != nil {
		t.Fatal(err)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	// ErrNotConnected, not ErrTimeout: the call fails at once instead of waiting 5 s.
	_, _, err = kv.Get(ctx, "b", "k")
	if !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Get with NATS down: err = %v; want ErrNotConnected", err)
	}

	natstest.Run(t, natstest.Port(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, ok, err := kv.Get(ctx, "b", "k")
		if err == nil {
			if !ok || string(v) != "kept" {
				t.Fatalf("Get after restart = %q, %v", v, ok)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still fail 20 s after NATS came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get(ctx, "b", "k"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Get after Close: err = %v; want ErrClosed", err)
	}
}

// A provider answering get-many in an order of its own (keyvalue-nats answers in completion
// order) is read by the keys its entries name, never by position.
func TestGetManyPairsByKey(t *testing.T) {
	ns := natstest.Run(t)
	backend := memory.New()
	p, err := provider.Serve(natstest.Connect(t, ns), kvtest.Shuffled(backend, 1),
		provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var keys []string
	for i := range 300 {
		k := fmt.Sprintf("bk-%d", i)
		keys = append(keys, k)
		if i%3 != 0 { // every third key is absent
			if err := backend.Set(ctx, "b", k, []byte("v"+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys = append(keys, "bk-1", "bk-3") // asked twice: one present, one absent
	for range 5 {
		got, err := kv.GetMany(ctx, "b", keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(keys) {
			t.Fatalf("GetMany = %d items for %d keys", len(got), len(keys))
		}
		for i, k := range keys {
			n, _ := strconv.Atoi(strings.TrimPrefix(k, "bk-"))
			switch {
			case n%3 == 0 && got[i] != nil:
				t.Fatalf("item %d (%s) = %+v; want absent", i, k, got[i])
			case n%3 != 0 && (got[i] == nil || got[i].Key != k || string(got[i].Value) != "v"+k):
				t.Fatalf("item %d (%s) = %+v; want its own value", i, k, got[i])
			}
		}
	}
}

// A get-many answer that does not fit the keys asked for is a protocol error, never a guess.
func TestGetManyAnswerNotFittingTheKeys(t *testing.T) {
	for name, fix := range map[string]func([]string, []*keyvalue.KeyValue) []*keyvalue.KeyValue{
		"a key not asked for": func(keys []string, items []*keyvalue.KeyValue) []*keyvalue.KeyValue {
			items[0] = &keyvalue.KeyValue{Key: "stranger", Value: []byte("x")}
			return items
		},
		"more entries than keys": func(keys []string, items []*keyvalue.KeyValue) []*keyvalue.KeyValue {
			return append(items, nil)
		},
		"a key named twice": func(keys []string, items []*keyvalue.KeyValue) []*keyvalue.KeyValue {
			items[1] = items[0]
			return items
		},
	} {
		t.Run(name, func(t *testing.T) {
			ns := natstest.Run(t)
			backend := memory.New()
			p, err := provider.Serve(natstest.Connect(t, ns), kvtest.Misanswering(backend, fix),
				provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close(context.Background()) })
			kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_ = backend.Set(ctx, "b", "a", []byte("1"))
			_ = backend.Set(ctx, "b", "c", []byte("2"))
			_, err = kv.GetMany(ctx, "b", []string{"a", "c"})
			if !errors.Is(err, client.ErrProtocol) || !errors.Is(err, keyvalue.ErrProtocol) {
				t.Fatalf("GetMany = %v; want ErrProtocol", err)
			}
		})
	}
}

// Empty batches make no call: providers such as keyvalue-redis fail them.
func TestEmptyBatchesMakeNoCall(t *testing.T) {
	ns := natstest.Run(t)
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("nobody.serves"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if items, err := kv.GetMany(ctx, "b", nil); err != nil || items == nil || len(items) != 0 {
		t.Errorf("GetMany(no keys) = %v, %v; want an empty list", items, err)
	}
	if err := kv.SetMany(ctx, "b", nil); err != nil {
		t.Errorf("SetMany(no items) = %v", err)
	}
	if err := kv.DeleteMany(ctx, "b", []string{}); err != nil {
		t.Errorf("DeleteMany(no keys) = %v", err)
	}
}

// Transport failures match keyvalue's failure kinds and the wRPC errors alike.
func TestFailuresMatchKeyvalueKinds(t *testing.T) {
	ns := natstest.Run(t)
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("nobody.serves"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = kv.Get(context.Background(), "b", "k")
	if !errors.Is(err, keyvalue.ErrNoResponders) || !errors.Is(err, wrpcnats.ErrNoResponders) || errors.Is(err, keyvalue.ErrTimeout) {
		t.Fatalf("Get with nobody serving = %v; want ErrNoResponders of both packages", err)
	}
}

// A value announced larger than WithMaxValueBytes allows is refused.
func TestMaxValueBytes(t *testing.T) {
	kv, _ := setup(t, client.WithMaxValueBytes(1000))
	ctx := context.Background()
	if err := kv.Set(ctx, "b", "small", make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := kv.Get(ctx, "b", "small"); err != nil || !ok {
		t.Fatalf("Get of 1000 bytes with a 1000-byte limit = %v, %v", ok, err)
	}
	// Larger than the limit and its overhead: refused.
	if err := kv.Set(ctx, "b", "big", make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Get(ctx, "b", "big"); !errors.Is(err, client.ErrResultTooLarge) {
		t.Fatalf("Get of 100 KiB with a 1000-byte limit: err = %v; want ErrResultTooLarge", err)
	}
}

// Serves tells which interfaces a provider serves, without running any function.
func TestServes(t *testing.T) {
	ns := natstest.Run(t)
	backend := memory.New()
	p, err := provider.Serve(natstest.Connect(t, ns), backend, provider.WithPrefix(prefix),
		provider.WithLogger(slog.New(slog.DiscardHandler)), provider.WithInterfaces(keyvalue.StoreInstance, keyvalue.BatchInstance))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Serves(context.Background())
	if err != nil || !got["store"] || got["atomics"] || !got["batch"] || len(got) != 3 {
		t.Fatalf("Serves = %v, %v; want store and batch", got, err)
	}
	if r, _ := backend.ListKeys(context.Background(), "", nil); len(r.Keys) != 0 {
		t.Errorf("a probe stored something: %v", r.Keys)
	}
	nobody, _ := client.New(natstest.Connect(t, ns), client.WithPrefix("nobody"))
	if got, err := nobody.Serves(context.Background()); err != nil || got["store"] || got["atomics"] || got["batch"] {
		t.Fatalf("Serves with nobody = %v, %v", got, err)
	}
}

// A call whose invocation is lost on its way (its NATS server killed as it passed) is not
// acknowledged: a read is sent once more and succeeds, a write fails as unacknowledged
// without being sent again, since it may only be late.
func TestLostInvocation(t *testing.T) {
	ns := natstest.Run(t)
	p, err := provider.Serve(natstest.Connect(t, ns), memory.New(), provider.WithPrefix(prefix),
		provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	// A relay from the prefix "lossy" to the provider's that drops every other invocation.
	relay := natstest.Connect(t, ns)
	var seen, dropped atomic.Int64
	if _, err := relay.Subscribe("lossy.>", func(m *nats.Msg) {
		if seen.Add(1)%2 == 1 {
			dropped.Add(1)
			return
		}
		out := nats.NewMsg(prefix + strings.TrimPrefix(m.Subject, "lossy"))
		out.Reply, out.Header, out.Data = m.Reply, m.Header, m.Data
		_ = relay.PublishMsg(out)
	}); err != nil {
		t.Fatal(err)
	}
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("lossy"), client.WithHandshakeTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	ctx := context.Background()

	err = kv.Set(ctx, "b", "k", []byte("v")) // dropped
	if !errors.Is(err, client.ErrUnacknowledged) || errors.Is(err, client.ErrTimeout) {
		t.Fatalf("Set through a lost invocation = %v; want ErrUnacknowledged", err)
	}
	if seen.Load() != 1 {
		t.Fatalf("the write was sent %d times; want once", seen.Load())
	}
	if err := kv.Set(ctx, "b", "k", []byte("v")); err != nil { // relayed
		t.Fatal(err)
	}
	v, ok, err := kv.Get(ctx, "b", "k") // dropped, then relayed
	if err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get through a lost invocation = %q, %v, %v; want v after one more try", v, ok, err)
	}
	if seen.Load() != 4 || dropped.Load() != 2 {
		t.Fatalf("%d invocations, %d dropped; want 4 and 2", seen.Load(), dropped.Load())
	}
}
