package jetstream

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// wantUnavailable fails unless err is keyvalue.Unavailable naming each of words.
func wantUnavailable(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	var oe *keyvalue.OtherError
	if !errors.As(err, &oe) || !oe.IsUnavailable() {
		t.Errorf("%s = %v; want unavailable", what, err)
		return
	}
	for _, w := range words {
		if !strings.Contains(oe.Message, w) {
			t.Errorf("%s = %q; want it to say %q", what, oe.Message, w)
		}
	}
}

// A server without JetStream, and more replicas than a lone server can hold, answer
// unavailable at once, saying why.
func TestMisconfiguredJetStream(t *testing.T) {
	plain := natstest.Run(t)
	js, err := natsjs.New(natstest.Connect(t, plain))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, js)
	ctx := testCtx(t)
	wantUnavailable(t, "Set without JetStream", s.Set(ctx, "b", "k", []byte("v")), "not enabled")
	_, _, err = s.Get(ctx, "b", "k")
	wantUnavailable(t, "Get without JetStream", err, "not enabled")

	lone := natstest.Run(t, natstest.JetStream(t.TempDir()))
	js, err = natsjs.New(natstest.Connect(t, lone))
	if err != nil {
		t.Fatal(err)
	}
	s = newStore(t, js, Replicas(3))
	wantUnavailable(t, "Set with 3 replicas on one server", s.Set(ctx, "b", "k", []byte("v")), "3 replicas", "--replicas 1")
}

// A bucket whose stream lost its quorum answers unavailable by the call's deadline, every
// call, instead of hanging or failing with a timeout.
func TestQuorumLost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	servers := natstest.Cluster(t, t.TempDir(), 3)
	js, err := natsjs.New(natstest.Connect(t, servers[0]))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := newStore(t, js, Replicas(3)).Set(ctx, "b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// The leader and one follower go; the Store talks to the other follower. (A leader left
	// alone goes on answering reads until it notices it lost its quorum: it has every
	// acknowledged write, and no other leader can be elected without it meanwhile.)
	survivor := -1
	for i, ns := range servers {
		if !ns.JetStreamIsStreamLeader("$G", "KV_b") {
			survivor = i
		}
	}
	js, err = natsjs.New(natstest.Connect(t, servers[survivor]))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, js, Replicas(3))
	for i, ns := range servers {
		if i != survivor {
			ns.Shutdown()
		}
	}
	calls := map[string]func(ctx context.Context) error{
		"Set":    func(ctx context.Context) error { return s.Set(ctx, "b", "k", []byte("v2")) },
		"Get":    func(ctx context.Context) error { _, _, err := s.Get(ctx, "b", "k"); return err },
		"Exists": func(ctx context.Context) error { _, err := s.Exists(ctx, "b", "k"); return err },
		"GetMany": func(ctx context.Context) error {
			_, err := s.GetMany(ctx, "b", []string{"k", "j"})
			return err
		},
		"Delete":     func(ctx context.Context) error { return s.Delete(ctx, "b", "k") },
		"Increment":  func(ctx context.Context) error { _, err := s.Increment(ctx, "b", "n", 1); return err },
		"new bucket": func(ctx context.Context) error { return s.Set(ctx, "other", "k", []byte("v")) },
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			why := []string{"quorum"}
			if name == "new bucket" { // no leader of the cluster, or not enough servers
				why = nil
			}
			wantUnavailable(t, name+" without quorum", call(ctx), why...)
		})
	}
	wg.Wait()
}
