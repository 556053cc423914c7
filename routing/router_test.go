package routing

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/filewatch"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// recording is a memory store that counts its calls and keeps the headers of the last one.
type recording struct {
	*memory.Store
	calls  atomic.Int64
	mu     sync.Mutex
	header nats.Header
}

func (s *recording) seen(ctx context.Context) {
	s.calls.Add(1)
	s.mu.Lock()
	s.header = wrpcnats.InvocationHeader(ctx)
	s.mu.Unlock()
}

func (s *recording) Get(ctx context.Context, b, k string) ([]byte, bool, error) {
	s.seen(ctx)
	return s.Store.Get(ctx, b, k)
}

func (s *recording) Set(ctx context.Context, b, k string, v []byte) error {
	s.seen(ctx)
	return s.Store.Set(ctx, b, k, v)
}

func (s *recording) lastHeader(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header.Get(name)
}

func serve(t *testing.T, ns *server.Server, prefix string, store keyvalue.Store, ifaces ...string) {
	t.Helper()
	opts := []provider.Option{provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler))}
	if len(ifaces) > 0 {
		opts = append(opts, provider.WithInterfaces(ifaces...))
	}
	p, err := provider.Serve(natstest.Connect(t, ns), store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
}

const routesA = `
targets:
  a: {prefix: lattice.a}
  b:
    prefix: lattice.b
    headers: {source-id: gw}
    timeout: 2s
    limits: {max_value_bytes: 1KiB, max_batch_items: 10}
routes:
  - {bucket: sessions, target: b, as: default, headers: {link-name: sess}}
  - {bucket: "cache-*", target: b}
  - {bucket: "data-*", target: a}
`

func writeRoutes(t *testing.T, path, text string) {
	t.Helper()
	old := filewatch.ModTime(path)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if !old.IsZero() {
		_ = os.Chtimes(path, time.Now(), old.Add(time.Second))
	}
}

func newTestRouter(t *testing.T) (*Router, *recording, *recording, string) {
	t.Helper()
	ns := natstest.Run(t)
	a, b := &recording{Store: memory.New()}, &recording{Store: memory.New()}
	serve(t, ns, "lattice.a", a)
	serve(t, ns, "lattice.b", b, keyvalue.StoreInstance) // no atomics, no batch
	path := filepath.Join(t.TempDir(), "routes.yaml")
	writeRoutes(t, path, routesA)
	r, err := New(Options{Conn: natstest.Connect(t, ns), File: path,
		Defaults: Defaults{Timeout: 5 * time.Second, Limits: Limits{MaxValueBytes: 16 << 20, MaxBatchItems: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, a, b, path
}

func TestRouting(t *testing.T) {
	r, a, b, _ := newTestRouter(t)
	ctx := context.Background()
	if err := r.Set(ctx, "sessions", "k", []byte("s")); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := b.Store.Get(ctx, "default", "k"); !ok || string(v) != "s" {
		t.Errorf("sessions/k is not in target b's bucket default")
	}
	if got, want := b.lastHeader("link-name")+" "+b.lastHeader("source-id"), "sess gw"; got != want {
		t.Errorf("headers of the call = %q; want the route's link-name and the target's source-id (%q)", got, want)
	}
	if err := r.Set(ctx, "data-1", "k", []byte("d")); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := a.Store.Get(ctx, "data-1", "k"); !ok || string(v) != "d" {
		t.Errorf("data-1/k is not in target a")
	}
	if a.lastHeader("link-name") != "" {
		t.Errorf("a route's headers reached another target")
	}

	before := a.calls.Load() + b.calls.Load()
	if _, _, err := r.Get(ctx, "elsewhere", "k"); !errors.Is(err, keyvalue.ErrNoSuchStore) {
		t.Errorf("a bucket no route matches: %v; want ErrNoSuchStore", err)
	}
	if a.calls.Load()+b.calls.Load() != before {
		t.Error("a bucket no route matches reached a provider")
	}

	// Target b has no atomics: 501, not a retryable 503, also from what it learnt.
	for range 2 {
		if _, err := r.Increment(ctx, "cache-x", "n", 1); !errors.Is(err, keyvalue.ErrNotImplemented) {
			t.Errorf("increment on a target without atomics: %v; want ErrNotImplemented", err)
		}
	}
	if n, err := r.Increment(ctx, "data-x", "n", 2); err != nil || n != 2 {
		t.Errorf("increment on target a = %d, %v", n, err)
	}
	// Batch falls back to single calls and says so.
	if err := r.SetMany(ctx, "cache-x", []keyvalue.KeyValue{{Key: "p", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	res, _ := r.Resolve("cache-x")
	got := res.Target.Interfaces(ctx)
	if got["store"] != Served || got["atomics"] != NotServed || got["batch"] != Fallback {
		t.Errorf("interfaces of b = %v", got)
	}
	resA, _ := r.Resolve("data-x")
	if got := resA.Target.Interfaces(ctx); got["store"] != Served || got["atomics"] != Served || got["batch"] != Served {
		t.Errorf("interfaces of a = %v", got)
	}
	if res.Target.Config().Limits.MaxValueBytes != 1024 || res.Target.Config().Limits.MaxBatchItems != 10 {
		t.Errorf("limits of b = %+v", res.Target.Config().Limits)
	}
}

// Reloads swap the table under calls in flight without failing any; a broken file keeps the
// routes in force.
func TestReload(t *testing.T) {
	r, _, _, path := newTestRouter(t)
	ctx := context.Background()
	if err := r.Set(ctx, "data-1", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, ok, err := r.Get(ctx, "data-1", "k"); err != nil || !ok {
					failed.Add(1)
				}
				done.Add(1)
			}
		})
	}
	for i := range 20 {
		text := routesA
		if i%2 == 1 { // another table with the same route for data-*, and a target that comes and goes
			text = strings.Replace(routesA, "  b:\n", "  c: {prefix: lattice.c}\n  b:\n", 1) + "  - {bucket: \"tmp-*\", target: c}\n"
		}
		writeRoutes(t, path, text)
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || done.Load() == 0 {
		t.Errorf("%d of %d calls failed during 20 reloads", failed.Load(), done.Load())
	}
	for _, broken := range []string{
		"targets: [",
		"targets:\n  a: {prefix: x}\nroutes:\n  - {bucket: b, target: nowhere}\n",
		"targets:\n  a: {prefix: x, timeout: soon}\nroutes:\n  - {bucket: b, target: a}\n",
		"targets:\n  a: {prefix: x}\nroutes:\n  - {bucket: b, target: a, header: {x: y}}\n",
		"targets:\n  a: {prefix: x, limits: {max_value_bytes: 1GiB}}\nroutes:\n  - {bucket: b, target: a}\n",
		"targets:\n  a: {embedded: true}\nroutes:\n  - {bucket: b, target: a}\n",
		"",
	} {
		writeRoutes(t, path, broken)
		if err := r.Reload(); err == nil {
			t.Errorf("the broken file %q loaded", broken)
		}
		if _, ok, err := r.Get(ctx, "data-1", "k"); err != nil || !ok {
			t.Errorf("after the broken file %q: %v; want the routes in force", broken, err)
		}
	}
}

// Readiness covers the targets with routes; one nobody routes to does not count.
func TestTargetReadiness(t *testing.T) {
	r, _, _, path := newTestRouter(t)
	ctx := context.Background()
	if err := r.Ready(ctx); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	writeRoutes(t, path, strings.Replace(routesA, "  b:\n", "  idle: {prefix: nobody.here}\n  b:\n", 1))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	states, err := r.Report(ctx)
	if err != nil {
		t.Errorf("a target without routes made the router unready: %v", err)
	}
	var idle TargetStatus
	for _, s := range states {
		if s.Name == "idle" {
			idle = s
		}
	}
	if idle.Ready || idle.Status != "no-responders" || idle.Routes != 0 {
		t.Errorf("idle target = %+v", idle)
	}
	writeRoutes(t, path, strings.Replace(routesA, "  b:\n", "  idle: {prefix: nobody.here}\n  b:\n", 1)+"  - {bucket: x, target: idle}\n")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(ctx); err == nil || !strings.Contains(err.Error(), "target idle") {
		t.Errorf("Ready with a routed target nobody serves = %v", err)
	}
	// A route naming one bucket is what the probe asks about (keyvalue-nats serves only
	// buckets named after its links).
	for _, s := range r.Check(ctx) {
		if s.Name == "b" && s.ReadyBucket != "default" || s.Name == "idle" && s.ReadyBucket != "x" || s.Name == "a" && s.ReadyBucket != ReadyProbeKey {
			t.Errorf("target %s probes bucket %q", s.Name, s.ReadyBucket)
		}
	}
}

// A target nobody serves for the moment (its provider stopped or reconnecting) answers
// no-responders, not 501: missing atomics is learnt only beside a store that is there.
func TestNobodyServingIsNotMissingInterfaces(t *testing.T) {
	ns := natstest.Run(t)
	path := filepath.Join(t.TempDir(), "routes.yaml")
	writeRoutes(t, path, "targets:\n  a: {prefix: lattice.a}\nroutes:\n  - {bucket: \"*\", target: a}\n")
	r, err := New(Options{Conn: natstest.Connect(t, ns), File: path,
		Defaults: Defaults{Timeout: 2 * time.Second, Limits: Limits{MaxValueBytes: 1 << 20, MaxBatchItems: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	for range 2 {
		if _, err := r.Increment(ctx, "b", "n", 1); !errors.Is(err, keyvalue.ErrNoResponders) || errors.Is(err, keyvalue.ErrNotImplemented) {
			t.Fatalf("increment with no provider = %v; want no-responders", err)
		}
	}
	serve(t, ns, "lattice.a", memory.New())
	if n, err := r.Increment(ctx, "b", "n", 1); err != nil || n != 1 {
		t.Fatalf("increment once the provider is up = %d, %v", n, err)
	}
}
