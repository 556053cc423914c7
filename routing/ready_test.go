package routing

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// answerAll answers every exists call with err (nil: the memory store answers).
type answerAll struct {
	*memory.Store
	mu  sync.Mutex
	err error
}

func (s *answerAll) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *answerAll) Exists(ctx context.Context, b, k string) (bool, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	return s.Store.Exists(ctx, b, k)
}

type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.Key + "=" + a.Value.String(); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, line)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }
func (r *records) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

// Readiness follows what the provider answers: a value or no-such-store is ready, any other
// provider error is not, with its message and, for wasmCloud's messages, the headers to set.
func TestReadiness(t *testing.T) {
	ns := natstest.Run(t)
	store := &answerAll{Store: memory.New()}
	p, err := provider.Serve(natstest.Connect(t, ns), store, provider.WithPrefix("ready.kv"),
		provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	nc := natstest.Connect(t, ns)
	kv, err := client.New(nc, client.WithPrefix("ready.kv"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &records{}
	r := newReadiness(nc, kv, "default", [][2]string{{"source-id", "gw"}}, slog.New(logs))
	ctx := context.Background()

	for _, tt := range []struct {
		name   string
		answer error
		want   []string // in the error; none: ready
	}{
		{"a value", nil, nil},
		{"no such store", keyvalue.ErrNoSuchStore, nil},
		{"missing context", &keyvalue.OtherError{Message: "unexpectedly missing context"},
			[]string{"unexpectedly missing context", "--header source-id=", "--header link-name=", `source-id="gw" link-name=""`}},
		{"no link", &keyvalue.OtherError{Message: "No Redis connection found for component [gw]. Please ensure the URL supplied in the link definition is a valid Redis URL"},
			[]string{"No Redis connection found for component [gw]", "must name a component linked"}},
		{"keyvalue-nats bucket", &keyvalue.OtherError{Message: "No NATS Kv store found for bucket id (link name): readyz"},
			[]string{"ready bucket"}},
		{"access denied", keyvalue.ErrAccessDenied, []string{"denies access", `"default"`}},
	} {
		store.set(tt.answer)
		err := r.check(ctx)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: not ready: %v", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: ready; want not ready", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", tt.name, err, w)
			}
		}
	}

	// Each change is logged once: Warn with the reason, Info when ready again.
	logs.take()
	store.set(&keyvalue.OtherError{Message: "unexpectedly missing context"})
	for range 3 {
		_ = r.check(ctx)
	}
	store.set(nil)
	_ = r.check(ctx)
	_ = r.check(ctx)
	got := logs.take()
	if len(got) != 2 || !strings.HasPrefix(got[0], "WARN not ready reason=") || !strings.Contains(got[0], "missing context") ||
		!strings.HasPrefix(got[1], "INFO ready") {
		t.Errorf("logs = %q; want one Warn with the reason, then one Info", got)
	}

	// Transport failures are not ready too.
	_ = p.Close(ctx)
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), "no responders") {
		t.Errorf("with no provider: %v; want not ready, no responders", err)
	}
	nc.Close()
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), "NATS is") {
		t.Errorf("with NATS closed: %v; want not ready", err)
	}
}
