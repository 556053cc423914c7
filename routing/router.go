package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/filewatch"
	"github.com/wrpc-kv/gateway/internal/glob"
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Options configures a Router.
type Options struct {
	// Conn is the NATS connection every target is called over.
	Conn *nats.Conn
	// File is the routes file; "" routes every bucket to Single.
	File string
	// Single is the table without a routes file (see the function Single).
	Single Config
	// Defaults are what a routes file leaves to the gateway's flags.
	Defaults Defaults
	// ClientOptions are the options of a target's client besides its prefix, headers and
	// timeout (result caps, observers, tracing).
	ClientOptions func(t TargetConfig) []client.Option
	// OnFallback, when set, returns the hook told of each batch call a target's client makes
	// key by key (metrics).
	OnFallback func(target string) func(fn string)
	// ReadyBucket is the bucket the readiness probe asks about, unless a target's routes name
	// one (see Target.readyBucket).
	ReadyBucket string
	// Logger tells of reloads and readiness. Nil logs nothing.
	Logger *slog.Logger
}

// Router is a keyvalue.Store that sends each call to the target its bucket routes to, under
// the name the provider knows the bucket by. It is safe for concurrent use; Reload swaps its
// table while calls go on, each with the table it started with.
type Router struct {
	opts  Options
	log   *slog.Logger
	table atomic.Pointer[table]

	mu      sync.Mutex // serializes reloads
	mod     time.Time  // of the routes file when last read
	version atomic.Uint64
}

var _ keyvalue.Store = (*Router)(nil)

// table is one version of the routing.
type table struct {
	cfg     Config
	version uint64
	targets map[string]*Target
	routes  []route
}

type route struct {
	RouteConfig
	pattern glob.Pattern
	target  *Target
	header  nats.Header // the route's own headers, over the target's; nil for none
}

// Target is a provider the router sends calls to.
type Target struct {
	cfg   TargetConfig
	kv    *client.KeyValue
	store *client.Fallback
	ready *readiness
	caps  capabilities
	// key identifies the configuration, so a reload keeps a target whose configuration did
	// not change (its client, what it learnt).
	key string
}

// Name is the target's name.
func (t *Target) Name() string { return t.cfg.Name }

// Config is the target's configuration.
func (t *Target) Config() TargetConfig { return t.cfg }

// New returns a router on its routes file (or its single table), with a client per target.
func New(opts Options) (*Router, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadyBucket == "" {
		opts.ReadyBucket = ReadyProbeKey
	}
	if opts.ClientOptions == nil {
		opts.ClientOptions = func(TargetConfig) []client.Option { return nil }
	}
	r := &Router{opts: opts, log: opts.Logger}
	cfg := opts.Single
	if opts.File != "" {
		r.mod = filewatch.ModTime(opts.File)
		var err error
		if cfg, err = Load(opts.File, opts.Defaults); err != nil {
			return nil, err
		}
	}
	t, err := r.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	r.table.Store(t)
	return r, nil
}

// build makes the table of cfg, keeping the targets of old whose configuration is the same.
func (r *Router) build(cfg Config, old *table) (*table, error) {
	t := &table{cfg: cfg, version: r.version.Add(1), targets: make(map[string]*Target, len(cfg.Targets))}
	var made []*Target
	for _, tc := range cfg.Targets {
		bucket, headers := readyBucket(tc, cfg, r.opts.ReadyBucket)
		key := fmt.Sprintf("%+v|%s|%v", tc, bucket, headers)
		if old != nil {
			if prev := old.targets[tc.Name]; prev != nil && prev.key == key {
				t.targets[tc.Name] = prev
				continue
			}
		}
		tg, err := r.newTarget(tc, bucket, headers)
		if err != nil {
			for _, m := range made {
				_ = m.kv.Close()
			}
			return nil, fmt.Errorf("target %q: %w", tc.Name, err)
		}
		tg.key = key
		made = append(made, tg)
		t.targets[tc.Name] = tg
	}
	for _, rc := range cfg.Routes {
		rt := route{RouteConfig: rc, pattern: glob.New(rc.Pattern), target: t.targets[rc.Target]}
		if len(rc.Headers) > 0 {
			rt.header = nats.Header{}
			for _, h := range rc.Headers {
				rt.header.Set(h[0], h[1])
			}
		}
		t.routes = append(t.routes, rt)
	}
	return t, nil
}

func (r *Router) newTarget(tc TargetConfig, readyBucket string, readyHeaders [][2]string) (*Target, error) {
	opts := []client.Option{client.WithPrefix(tc.Prefix), client.WithTimeout(tc.Timeout)}
	for _, h := range tc.Headers {
		opts = append(opts, client.WithHeader(h[0], h[1]))
	}
	kv, err := client.New(r.opts.Conn, append(opts, r.opts.ClientOptions(tc)...)...)
	if err != nil {
		return nil, err
	}
	t := &Target{cfg: tc, kv: kv, store: client.NewFallback(kv)}
	hook := func(string) {}
	if r.opts.OnFallback != nil {
		hook = r.opts.OnFallback(tc.Name)
	}
	t.store.OnFallback = func(fn string) {
		t.caps.learn("batch", false)
		hook(fn)
	}
	t.ready = newReadiness(r.opts.Conn, t.kv, readyBucket, readyHeaders, r.log.With("target", tc.Name))
	return t, nil
}

// readyBucket is the bucket a target's probe asks about, with the headers it goes with:
// those of the first route that names one bucket for the target (keyvalue-nats serves only
// buckets named after its links, so a route to it names one), else def with the target's.
func readyBucket(tc TargetConfig, cfg Config, def string) (string, [][2]string) {
	headers := slices.Clone(tc.Headers)
	for _, rc := range cfg.Routes {
		if rc.Target != tc.Name || strings.Contains(rc.Pattern, "*") {
			continue
		}
		for _, h := range rc.Headers {
			headers = setHeader(headers, h[0], h[1])
		}
		if rc.As != "" {
			return rc.As, headers
		}
		return rc.Pattern, headers
	}
	return def, headers
}

func setHeader(hs [][2]string, k, v string) [][2]string {
	for i, h := range hs {
		if strings.EqualFold(h[0], k) {
			hs[i][1] = v
			return hs
		}
	}
	return append(hs, [2]string{k, v})
}

// Reload reads the routes file again (on SIGHUP or a change). A file that does not load
// leaves the routes in force, and the log says why. Targets that left the table are closed
// once the calls they may still be making have had time to end.
func (r *Router) Reload() error {
	if r.opts.File == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mod = filewatch.ModTime(r.opts.File)
	cfg, err := Load(r.opts.File, r.opts.Defaults)
	if err == nil {
		var t *table
		old := r.table.Load()
		if t, err = r.build(cfg, old); err == nil {
			r.table.Store(t)
			r.retire(old, t)
			r.log.Info("routes reloaded", "file", r.opts.File, "targets", len(cfg.Targets), "routes", len(cfg.Routes))
			return nil
		}
	}
	r.log.Error("routes not reloaded; the previous ones stay in force", "err", err)
	return err
}

// retire closes the targets of old that t no longer has, after the longest timeout.
func (r *Router) retire(old, t *table) {
	for name, tg := range old.targets {
		if t.targets[name] == tg {
			continue
		}
		time.AfterFunc(tg.cfg.Timeout+time.Second, func() { _ = tg.kv.Close() })
	}
}

// Watch reloads the routes file whenever it changes, checking every interval, until ctx ends.
func (r *Router) Watch(ctx context.Context, interval time.Duration) {
	if r.opts.File == "" {
		return
	}
	filewatch.Poll(ctx, interval, func() {
		r.mu.Lock()
		changed := !filewatch.ModTime(r.opts.File).Equal(r.mod)
		r.mu.Unlock()
		if changed {
			_ = r.Reload()
		}
	})
}

// Close closes every target's client.
func (r *Router) Close() error {
	var errs []error
	for _, t := range r.table.Load().targets {
		errs = append(errs, t.kv.Close())
	}
	return errors.Join(errs...)
}

// InboxRotations counts, by target, the times its client moved to a fresh inbox because a
// provider went on sending after its call ended (client.KeyValue.InboxRotations).
func (r *Router) InboxRotations() map[string]int64 {
	out := map[string]int64{}
	for name, t := range r.table.Load().targets {
		out[name] = t.kv.InboxRotations()
	}
	return out
}

// Version changes whenever the table does.
func (r *Router) Version() uint64 { return r.table.Load().version }

// Config is the table in force.
func (r *Router) Config() Config { return r.table.Load().cfg }

// Targets are the targets in force, by name.
func (r *Router) Targets() []*Target {
	t := r.table.Load()
	out := make([]*Target, 0, len(t.targets))
	for _, tc := range t.cfg.Targets {
		out = append(out, t.targets[tc.Name])
	}
	return out
}

// Resolution is where a bucket's calls go.
type Resolution struct {
	Route          RouteConfig
	Target         *Target
	ProviderBucket string // the name the provider knows the bucket by
	header         nats.Header
}

// Resolve returns where bucket's calls go; ok is false when no route matches.
func (r *Router) Resolve(bucket string) (Resolution, bool) {
	for _, rt := range r.table.Load().routes {
		if rt.pattern.Match(bucket) {
			name := bucket
			if rt.As != "" {
				name = rt.As
			}
			return Resolution{Route: rt.RouteConfig, Target: rt.target, ProviderBucket: name, header: rt.header}, true
		}
	}
	return Resolution{}, false
}

// resolve returns the target's store, the provider's name of bucket and the context the call
// goes with, or no-such-store when no route matches.
func (r *Router) resolve(ctx context.Context, bucket string) (context.Context, *Target, string, error) {
	res, ok := r.Resolve(bucket)
	if !ok {
		return ctx, nil, "", fmt.Errorf("%w: bucket %q", keyvalue.ErrNoRoute, bucket)
	}
	if res.header != nil {
		h := nats.Header{}
		for k, v := range wrpcnats.CallHeader(ctx) {
			h[k] = v
		}
		for k, v := range res.header {
			h[k] = v
		}
		ctx = wrpcnats.WithCallHeader(ctx, h)
	}
	return ctx, res.Target, res.ProviderBucket, nil
}

func hasKey(m map[string]bool, k string) bool {
	_, ok := m[k]
	return ok
}

// observe learns from a call's outcome what the target serves: an answer means the
// interface is served.
func (t *Target) observe(iface string, err error) {
	if err == nil || keyvalue.IsAnswer(err) {
		t.caps.learn(iface, true)
	}
}

func (r *Router) Get(ctx context.Context, bucket, key string) ([]byte, bool, error) {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return nil, false, err
	}
	v, ok, err := t.store.Get(ctx, name, key)
	t.observe("store", err)
	return v, ok, err
}

func (r *Router) Set(ctx context.Context, bucket, key string, value []byte) error {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return err
	}
	err = t.store.Set(ctx, name, key, value)
	t.observe("store", err)
	return err
}

var _ keyvalue.SetStreamer = (*Router)(nil)

// SetFrom is Set with the value streamed to the target as it is read.
func (r *Router) SetFrom(ctx context.Context, bucket, key string, size int64, body io.Reader) error {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return err
	}
	err = keyvalue.SetFrom(ctx, t.store, name, key, size, body)
	t.observe("store", err)
	return err
}

func (r *Router) Delete(ctx context.Context, bucket, key string) error {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return err
	}
	err = t.store.Delete(ctx, name, key)
	t.observe("store", err)
	return err
}

func (r *Router) Exists(ctx context.Context, bucket, key string) (bool, error) {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return false, err
	}
	ok, err := t.store.Exists(ctx, name, key)
	t.observe("store", err)
	return ok, err
}

func (r *Router) ListKeys(ctx context.Context, bucket string, cursor *uint64) (keyvalue.KeyResponse, error) {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return keyvalue.KeyResponse{}, err
	}
	resp, err := t.store.ListKeys(ctx, name, cursor)
	t.observe("store", err)
	return resp, err
}

// Increment adds delta to the counter at key. A target known not to serve atomics, or one
// found so now (nobody serves atomics while its store interface answers), answers
// keyvalue.ErrNotImplemented: no retry would help.
func (r *Router) Increment(ctx context.Context, bucket, key string, delta uint64) (uint64, error) {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return 0, err
	}
	if served, known := t.caps.get("atomics"); known && !served {
		return 0, fmt.Errorf("%w: target %q has no atomics interface", keyvalue.ErrNotImplemented, t.cfg.Name)
	}
	v, err := t.store.Increment(ctx, name, key, delta)
	t.observe("atomics", err)
	if errors.Is(err, keyvalue.ErrNoResponders) {
		if caps, _ := t.discover(ctx); caps["store"] && !caps["atomics"] && hasKey(caps, "atomics") {
			return 0, fmt.Errorf("%w: target %q has no atomics interface", keyvalue.ErrNotImplemented, t.cfg.Name)
		}
	}
	return v, err
}

func (r *Router) GetMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return t.store.GetMany(ctx, name, keys)
}

func (r *Router) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return err
	}
	return t.store.SetMany(ctx, name, items)
}

func (r *Router) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	ctx, t, name, err := r.resolve(ctx, bucket)
	if err != nil {
		return err
	}
	return t.store.DeleteMany(ctx, name, keys)
}

// Describe is what the served API document states of the table (info.x-routes): each route's
// pattern and target, in order, and the limits each target lowers. It names no prefix and no
// header: the document is public.
func (r *Router) Describe() any {
	t := r.table.Load()
	type routeDesc struct {
		Bucket string `yaml:"bucket"`
		Target string `yaml:"target"`
	}
	type targetDesc struct {
		MaxValueBytes     int64 `yaml:"maxValueBytes,omitempty"`
		MaxBatchItems     int   `yaml:"maxBatchItems,omitempty"`
		MaxBatchBodyBytes int64 `yaml:"maxBatchBodyBytes,omitempty"`
	}
	out := struct {
		Routes  []routeDesc           `yaml:"routes"`
		Targets map[string]targetDesc `yaml:"targets"`
	}{Targets: map[string]targetDesc{}}
	for _, rc := range t.cfg.Routes {
		out.Routes = append(out.Routes, routeDesc{rc.Pattern, rc.Target})
	}
	for _, tc := range t.cfg.Targets {
		out.Targets[tc.Name] = targetDesc{tc.Limits.MaxValueBytes, tc.Limits.MaxBatchItems, tc.Limits.MaxBatchBodyBytes}
	}
	return out
}
