package wrpcnats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wire"
)

const (
	testInstance = "test:echo/bytes@0.1.0"
	testPrefix   = "lattice.prov"
)

// runNATS starts an embedded NATS server on a random loopback port.
func runNATS(t testing.TB, maxPayload int32) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: maxPayload}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// echo serves a function taking list<u8> and returning list<u8>: the params reversed, or a
// failure when the params are "fail".
func echo(params []byte) (Call, error) {
	p, _, err := wire.ConsumeBytes(params)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]byte, error) {
		if string(p) == "fail" {
			return nil, errors.New("handler failed")
		}
		if string(p) == "header" {
			return wire.AppendBytes(nil, []byte(InvocationHeader(ctx).Get("x-test")+"|"+InvocationHeader(ctx).Get("traceparent"))), nil
		}
		return wire.AppendBytes(nil, p), nil
	}, nil
}

func startEcho(t testing.TB, ns *server.Server, opts ...ServerOption) *Server {
	t.Helper()
	srv, err := NewServer(connect(t, ns), append([]ServerOption{ServePrefix(testPrefix), Logger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(testInstance, "echo", echo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return srv
}

func newClient(t testing.TB, ns *server.Server, opts ...ClientOption) *Client {
	t.Helper()
	c, err := NewClient(connect(t, ns), append([]ClientOption{WithPrefix(testPrefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func callEcho(ctx context.Context, c *Client, fn string, p []byte) ([]byte, error) {
	var out []byte
	err := c.Invoke(ctx, testInstance, fn, wire.AppendBytes(nil, p), func(b []byte) error {
		v, _, err := wire.ConsumeBytes(b)
		out = v
		return err
	})
	return out, err
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestRoundTripSizes(t *testing.T) {
	// A small max_payload makes every size above a few hundred bytes cross message
	// boundaries in both directions, at every offset the sizes below produce.
	ns := runNATS(t, 1024)
	startEcho(t, ns)
	c := newClient(t, ns)
	for _, n := range []int{0, 1, 127, 128, 900, 1000, 1023, 1024, 1025, 2048, 5000, 100_000} {
		want := pattern(n)
		got, err := callEcho(context.Background(), c, "echo", want)
		if err != nil {
			t.Fatalf("echo %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("echo %d bytes: got %d bytes, want the same bytes back", n, len(got))
		}
	}
}

func TestRoundTripLargeDefaultPayload(t *testing.T) {
	ns := runNATS(t, 0) // default max_payload 1 MiB
	startEcho(t, ns)
	c := newClient(t, ns)
	for _, n := range []int{1<<20 + 1, 8 << 20} {
		want := pattern(n)
		got, err := callEcho(context.Background(), c, "echo", want)
		if err != nil {
			t.Fatalf("echo %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("echo %d bytes: got %d bytes back", n, len(got))
		}
	}
}

func TestConcurrentCallsShareOneInbox(t *testing.T) {
	ns := runNATS(t, 2048)
	startEcho(t, ns, MaxConcurrency(8))
	c := newClient(t, ns)
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	before := ns.NumSubscriptions()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := pattern(i * 97)
			got, err := callEcho(context.Background(), c, "echo", want)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("call %d: wrong bytes", i)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ns.NumSubscriptions(); n != before {
		t.Errorf("server has %d subscriptions after 64 calls, %d before; want no SUB per call", n, before)
	}
}

func TestNoRespondersFailsFast(t *testing.T) {
	ns := runNATS(t, 0)
	c := newClient(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := callEcho(ctx, c, "nobody", []byte("x"))
	if !errors.Is(err, ErrNoResponders) {
		t.Fatalf("call to unserved subject: err = %v; want ErrNoResponders (the 5 s deadline gives ErrTimeout)", err)
	}
}

func TestHandlerFailureIsRemoteFailure(t *testing.T) {
	ns := runNATS(t, 0)
	startEcho(t, ns)
	c := newClient(t, ns)
	_, err := callEcho(context.Background(), c, "echo", []byte("fail"))
	if !errors.Is(err, ErrRemoteFailure) {
		t.Fatalf("err = %v; want ErrRemoteFailure", err)
	}
}

func TestUndecodableParamsEndTheResults(t *testing.T) {
	ns := runNATS(t, 0)
	startEcho(t, ns)
	c := newClient(t, ns)
	// A list<u8> whose LEB128 length overflows u32: the handler can never decode it.
	bad := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
	err := c.Invoke(context.Background(), testInstance, "echo", bad, func(b []byte) error {
		_, _, err := wire.ConsumeBytes(b)
		return err
	})
	if !errors.Is(err, ErrRemoteFailure) {
		t.Fatalf("err = %v; want ErrRemoteFailure", err)
	}
	// Truncated params: the end-of-params marker arrives before a complete value.
	err = c.Invoke(context.Background(), testInstance, "echo", []byte{0x05, 1, 2}, func(b []byte) error {
		_, _, err := wire.ConsumeBytes(b)
		return err
	})
	if !errors.Is(err, ErrRemoteFailure) {
		t.Fatalf("truncated params: err = %v; want ErrRemoteFailure", err)
	}
}

func TestHeadersReachTheHandler(t *testing.T) {
	ns := runNATS(t, 0)
	startEcho(t, ns)
	c := newClient(t, ns, WithHeader(nats.Header{"x-test": {"static"}}))
	ctx := WithCallHeader(context.Background(), nats.Header{"traceparent": {"00-abc-def-01"}})
	got, err := callEcho(ctx, c, "echo", []byte("header"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "static|00-abc-def-01" {
		t.Fatalf("handler saw headers %q; want %q", got, "static|00-abc-def-01")
	}
}

// rawPeer subscribes to the echo subject on its own connection and lets a test answer
// invocations by hand, as a misbehaving provider would.
func rawPeer(t *testing.T, ns *server.Server, answer func(nc *nats.Conn, m *nats.Msg)) {
	t.Helper()
	nc := connect(t, ns)
	if _, err := nc.Subscribe(Subject(testPrefix, testInstance, "echo"), func(m *nats.Msg) { answer(nc, m) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestHostilePeers(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(nc *nats.Conn, m *nats.Msg)
		opts    []ClientOption
		timeout time.Duration
		want    error
	}{
		{"silent", func(*nats.Conn, *nats.Msg) {}, nil, 200 * time.Millisecond, ErrTimeout},
		{"silent after handshake", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
		}, nil, 200 * time.Millisecond, context.DeadlineExceeded},
		{"handshake without reply", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.Publish(m.Reply, nil)
		}, nil, 5 * time.Second, ErrProtocol},
		{"garbage results", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
			_ = nc.Publish(m.Reply+".results", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}, nil, 5 * time.Second, ErrProtocol},
		{"endless results", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
			_ = nc.Publish(m.Reply+".results", []byte{0xff, 0xff, 0xff, 0x7f}) // a 256 MiB list
			chunk := make([]byte, 1000)
			for range 100 {
				_ = nc.Publish(m.Reply+".results", chunk)
			}
		}, []ClientOption{WithMaxResultBytes(10_000)}, 5 * time.Second, ErrResultTooLarge},
		// A value announced larger than the cap fails the call on its first message, with
		// nothing more to come: waiting for the bytes would end in a timeout instead.
		{"announced too large", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
			_ = nc.Publish(m.Reply+".results", []byte{0x80, 0x80, 0x80, 0x80, 0x04, 'x'}) // a 1 GiB list
		}, []ClientOption{WithMaxResultBytes(1 << 20)}, 5 * time.Second, ErrResultTooLarge},
		{"results end early", func(nc *nats.Conn, m *nats.Msg) {
			_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
			_ = nc.Publish(m.Reply+".results", []byte{0x05, 1, 2})
			_ = nc.Publish(m.Reply+".results", nil)
		}, nil, 5 * time.Second, ErrRemoteFailure},
		{"handshake timeout", func(*nats.Conn, *nats.Msg) {},
			[]ClientOption{WithHandshakeTimeout(100 * time.Millisecond)}, 5 * time.Second, ErrTimeout},
		{"handshake timeout is no handshake", func(*nats.Conn, *nats.Msg) {},
			[]ClientOption{WithHandshakeTimeout(100 * time.Millisecond)}, 5 * time.Second, ErrNoHandshake},
		{"default handshake timeout, before the call's deadline", func(*nats.Conn, *nats.Msg) {},
			nil, 10 * time.Second, ErrNoHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := runNATS(t, 0)
			rawPeer(t, ns, tt.answer)
			c := newClient(t, ns, tt.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			_, err := callEcho(ctx, c, "echo", []byte("x"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	ns := runNATS(t, 0)
	rawPeer(t, ns, func(*nats.Conn, *nats.Msg) {})
	c := newClient(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := callEcho(ctx, c, "echo", []byte("x"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want context.Canceled and not ErrTimeout", err)
	}
}

// TestWireSequence checks, from a third connection watching everything, the messages of one
// call between our client and our server: the exact sequence of PROTOCOL.md §1.2.
func TestWireSequence(t *testing.T) {
	ns := runNATS(t, 0)
	startEcho(t, ns)
	c := newClient(t, ns, WithHeader(nats.Header{"source-id": {"gw"}}))
	spy := connect(t, ns)
	msgs := make(chan *nats.Msg, 16)
	if _, err := spy.ChanSubscribe(">", msgs); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := callEcho(context.Background(), c, "echo", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var seen []*nats.Msg
	deadline := time.After(10 * time.Second)
	for len(seen) < 5 {
		select {
		case m := <-msgs:
			seen = append(seen, m)
		case <-deadline:
			t.Fatalf("saw %d messages; want 5", len(seen))
		}
	}
	inv := seen[0]
	if inv.Subject != "lattice.prov.wrpc.0.0.1.test:echo/bytes@0.1.0.echo" || inv.Header.Get("source-id") != "gw" ||
		!bytes.Equal(inv.Data, []byte{3, 1, 2, 3}) || inv.Reply == "" {
		t.Fatalf("invocation = %q reply %q hdr %v data % x", inv.Subject, inv.Reply, inv.Header, inv.Data)
	}
	rc := inv.Reply
	var hs, res, end, params *nats.Msg
	for _, m := range seen[1:] {
		switch {
		case m.Subject == rc:
			hs = m
		case m.Subject == rc+".results" && len(m.Data) > 0:
			res = m
		case m.Subject == rc+".results":
			end = m
		default:
			params = m
		}
	}
	if hs == nil || hs.Reply == "" || len(hs.Data) != 0 || len(hs.Header) != 0 {
		t.Fatalf("handshake = %+v; want empty message to R_c with a reply subject", hs)
	}
	if res == nil || !bytes.Equal(res.Data, []byte{3, 1, 2, 3}) || end == nil {
		t.Fatalf("results = %+v, end = %+v", res, end)
	}
	if params == nil || params.Subject != hs.Reply+".params" || len(params.Data) != 0 {
		t.Fatalf("end of params = %+v; want an empty message to R_s.params", params)
	}
}

func TestServerCloseWaitsForCallsInFlight(t *testing.T) {
	ns := runNATS(t, 0)
	nc := connect(t, ns)
	srv, err := NewServer(nc, ServePrefix(testPrefix))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	err = srv.Handle(testInstance, "echo", func(p []byte) (Call, error) {
		return func(ctx context.Context) ([]byte, error) {
			close(started)
			<-release
			return wire.AppendBytes(nil, []byte("done")), nil
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ns)
	result := make(chan error, 1)
	go func() {
		got, err := callEcho(context.Background(), c, "echo", nil)
		if err == nil && string(got) != "done" {
			err = fmt.Errorf("got %q", got)
		}
		result <- err
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("call in flight during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = callEcho(context.Background(), c, "echo", nil)
	if !errors.Is(err, ErrNoResponders) {
		t.Fatalf("call after Close: err = %v; want ErrNoResponders", err)
	}
}

func TestQueueGroupAnswersOnce(t *testing.T) {
	ns := runNATS(t, 0)
	startEcho(t, ns)
	startEcho(t, ns)
	c := newClient(t, ns)
	for range 20 {
		if _, err := callEcho(context.Background(), c, "echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCallFailsWhenConnectionDrops: a call waiting on a peer fails as soon as the client's
// connection drops, not at its deadline; its replies would be lost anyway.
func TestCallFailsWhenConnectionDrops(t *testing.T) {
	ns := runNATS(t, 0)
	rawPeer(t, ns, func(*nats.Conn, *nats.Msg) {}) // never answers
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := NewClient(nc, WithPrefix(testPrefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	time.AfterFunc(100*time.Millisecond, ns.Shutdown)
	_, err = callEcho(ctx, c, "echo", []byte("x"))
	if !errors.Is(err, ErrNotConnected) {
		t.Fatalf("err = %v; want ErrNotConnected (the 10 s deadline gives ErrTimeout)", err)
	}
	if _, err := callEcho(ctx, c, "echo", []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("call while reconnecting: err = %v; want ErrNotConnected", err)
	}
}

// A handler that ignores its canceled context does not keep Close waiting for ever.
func TestServerCloseIsBounded(t *testing.T) {
	ns := runNATS(t, 0)
	srv, err := NewServer(connect(t, ns), ServePrefix(testPrefix), Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv.closeGrace = 100 * time.Millisecond
	started := make(chan struct{})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	err = srv.Handle(testInstance, "echo", func(p []byte) (Call, error) {
		return func(context.Context) ([]byte, error) {
			close(started)
			<-stuck // ignores ctx
			return nil, errors.New("released")
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ns)
	go func() { _, _ = callEcho(context.Background(), c, "echo", nil) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = srv.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 calls still running") {
		t.Fatalf("Close = %v; want the deadline and the call still running", err)
	}
}

// countGoroutines counts the goroutines whose stack holds fn.
func countGoroutines(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte(fn))
}

// A client or server nobody closes leaves no goroutine behind once its connection is closed.
func TestMuxEndsWithItsConnection(t *testing.T) {
	ns := runNATS(t, 0)
	const fn = "wrpcnats.(*mux).failOnDisconnect"
	before := countGoroutines(fn)
	var conns []*nats.Conn
	for range 5 {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		if _, err := NewClient(nc); err != nil {
			t.Fatal(err)
		}
		if _, err := NewServer(nc); err != nil {
			t.Fatal(err)
		}
	}
	waitGoroutines := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for countGoroutines(fn) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines watch the connections; want %d", countGoroutines(fn)-before, want-before)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitGoroutines(before + 10)
	for _, nc := range conns {
		nc.Close()
	}
	waitGoroutines(before)
	// A mux made on a closed connection starts none.
	if _, err := NewClient(conns[0]); err == nil {
		t.Fatal("NewClient on a closed connection succeeded")
	}
}

// A peer that keeps sending after its call ended (refused as too large, or complete) stops
// reaching the client: the mux moves to a fresh inbox and drops the old subscription, so the
// NATS server has nobody to forward the rest to. Other calls go on working.
func TestFloodStopsAtTheServer(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first []byte // the first results message
		opts  []ClientOption
		want  error
	}{
		{"after a value announced too large", []byte{0x80, 0x80, 0x80, 0x80, 0x04}, []ClientOption{WithMaxResultBytes(1 << 20)}, ErrResultTooLarge},
		{"after a complete value", wire.AppendBytes(nil, []byte("ok")), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := runNATS(t, 0)
			const floodMsgs, size = 400, 256 << 10
			done := make(chan struct{})
			rawPeer(t, ns, func(nc *nats.Conn, m *nats.Msg) {
				if !bytes.Equal(m.Data, wire.AppendBytes(nil, []byte("flood"))) {
					_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
					_ = nc.Publish(m.Reply+".results", wire.AppendBytes(nil, []byte("fine")))
					return
				}
				go func() {
					defer close(done)
					_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()})
					_ = nc.Publish(m.Reply+".results", tt.first)
					chunk := make([]byte, size)
					for range floodMsgs {
						_ = nc.Publish(m.Reply+".results", chunk)
					}
					_ = nc.Flush()
				}()
			})
			nc := connect(t, ns)
			c, err := NewClient(nc, append([]ClientOption{WithPrefix(testPrefix)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			subsBefore := ns.NumSubscriptions()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := callEcho(ctx, c, "echo", []byte("flood")); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("the flooding call: %v; want %v", err, tt.want)
			}
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("the flood did not end")
			}
			if got, err := callEcho(ctx, c, "echo", []byte("x")); err != nil || string(got) != "fine" {
				t.Fatalf("a call after the flood = %q, %v", got, err)
			}
			received := nc.Stats().InMsgs
			if received > floodMsgs/2 {
				t.Errorf("the client received %d of the %d flooding messages; the server should have stopped forwarding them", received, floodMsgs)
			}
			if c.mux.rotations.Load() != 1 {
				t.Errorf("%d rotations; want 1", c.mux.rotations.Load())
			}
			if err := nc.Flush(); err != nil { // the server has seen the UNSUB
				t.Fatal(err)
			}
			if got := ns.NumSubscriptions(); got != subsBefore {
				t.Errorf("%d subscriptions on the server after the flood; want %d (the old inbox dropped)", got, subsBefore)
			}
		})
	}
}

// InvokeFrom sends the params as it reads them, at every size across message boundaries, and
// a handler writing through ResultWriter sends its results in parts: both peers see the
// same bytes as with whole buffers.
func TestStreamedParamsAndResults(t *testing.T) {
	ns := runNATS(t, 1024)
	srv, err := NewServer(connect(t, ns), ServePrefix(testPrefix), Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	var runs atomic.Int64
	// "parts" echoes its list<u8> param, written through the result writer in pieces of 333.
	if err := srv.Handle(testInstance, "parts", func(p []byte) (Call, error) {
		v, _, err := wire.ConsumeBytes(p)
		return func(ctx context.Context) ([]byte, error) {
			runs.Add(1)
			w := ResultWriter(ctx)
			if _, err := w.Write(wire.AppendListLen(nil, len(v))); err != nil {
				return nil, err
			}
			for len(v) > 333 {
				if _, err := w.Write(v[:333]); err != nil {
					return nil, err
				}
				v = v[333:]
			}
			return v, nil // the rest, returned
		}, err
	}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ns)
	ctx := context.Background()
	for _, n := range []int{0, 1, 900, 1000, 1024, 1025, 5000, 100_000} {
		want := pattern(n)
		var got []byte
		err := c.InvokeFrom(ctx, testInstance, "parts", wire.AppendListLen(nil, n), bytes.NewReader(want), int64(n), 5*time.Second, 1<<20,
			func(b []byte) error {
				v, _, err := wire.ConsumeBytes(b)
				got = v
				return err
			})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes back, not the same", n, len(got))
		}
	}

	// A body that fails half way stops the params short: the function does not run.
	before := runs.Load()
	broken := io.MultiReader(bytes.NewReader(pattern(3000)), iotest.ErrReader(errors.New("client went away")))
	err = c.InvokeFrom(ctx, testInstance, "parts", wire.AppendListLen(nil, 10_000), broken, 10_000, 5*time.Second, 1<<20, func([]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "client went away") {
		t.Fatalf("InvokeFrom with a failing body = %v; want its error", err)
	}
	short := bytes.NewReader(pattern(3000)) // ends before the 10 000 bytes announced
	if err := c.InvokeFrom(ctx, testInstance, "parts", wire.AppendListLen(nil, 10_000), short, 10_000, 5*time.Second, 1<<20, func([]byte) error { return nil }); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("InvokeFrom with a short body = %v; want ErrUnexpectedEOF", err)
	}
	time.Sleep(100 * time.Millisecond)
	if runs.Load() != before {
		t.Fatalf("the function ran for params cut short")
	}
}
