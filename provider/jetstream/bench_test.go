package jetstream

import (
	"context"
	"fmt"
	"testing"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
)

func BenchmarkGet(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	if err := s.Set(ctx, "b", "k", make([]byte, 100)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := s.Get(ctx, "b", "k"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	v := make([]byte, 100)
	for b.Loop() {
		if err := s.Set(ctx, "b", "k", v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncrement(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Increment(ctx, "b", "n", 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListKeysPage reads one page of 1000 keys from the middle of a bucket of 20000 keys
// with 100-byte values, a third of them deleted.
func BenchmarkListKeysPage(b *testing.B) {
	s, _ := testStore(b, Concurrency(64))
	ctx := context.Background()
	const n = 20000
	items := make([]keyvalue.KeyValue, n)
	for i := range items {
		items[i] = keyvalue.KeyValue{Key: fmt.Sprintf("user.%06d", i), Value: make([]byte, 100)}
	}
	if err := s.SetMany(ctx, "b", items); err != nil {
		b.Fatal(err)
	}
	var del []string
	for i := 0; i < n; i += 3 {
		del = append(del, items[i].Key)
	}
	if err := s.DeleteMany(ctx, "b", del); err != nil {
		b.Fatal(err)
	}
	cursor := uint64(n / 2)
	for b.Loop() {
		resp, err := s.ListKeys(ctx, "b", &cursor)
		if err != nil || len(resp.Keys) != DefaultPageSize {
			b.Fatalf("page of %d keys, %v", len(resp.Keys), err)
		}
	}
}

// BenchmarkReadYourWrites is what read-your-writes costs on a bucket of three replicas: a get
// through the stream leader (what Get does) beside a plain direct get that any replica may
// answer, possibly stale; and a get-many of 100 keys with the leader's last sequence asked
// first (what GetMany does) beside the batched direct get alone. The Store is connected to
// a server that does not lead the stream, as a provider usually is for two of three buckets.
//
//	go test ./provider/jetstream -run '^$' -bench ReadYourWrites -count 6
func BenchmarkReadYourWrites(b *testing.B) {
	servers := natstest.Cluster(b, b.TempDir(), 3)
	js, err := natsjs.New(natstest.Connect(b, servers[0]))
	if err != nil {
		b.Fatal(err)
	}
	s := newStore(b, js, Replicas(3))
	ctx := context.Background()
	keys := make([]string, 100)
	items := make([]keyvalue.KeyValue, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
		items[i] = keyvalue.KeyValue{Key: keys[i], Value: make([]byte, 100)}
	}
	if err := s.SetMany(ctx, "b", items); err != nil {
		b.Fatal(err)
	}
	follower := -1
	for i, ns := range servers {
		if !ns.JetStreamIsStreamLeader("$G", "KV_b") && follower < 0 {
			follower = i
		}
	}
	js, err = natsjs.New(natstest.Connect(b, servers[follower]))
	if err != nil {
		b.Fatal(err)
	}
	s = newStore(b, js, Replicas(3))
	h, err := s.resolve(ctx, "b", false)
	if err != nil {
		b.Fatal(err)
	}
	subj := h.prefix + EncodeKey("k000")
	subjects := make([]string, len(keys))
	for i, k := range keys {
		subjects[i] = h.prefix + EncodeKey(k)
	}
	b.Run("get/leader", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := s.Get(ctx, "b", "k000"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("get/direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.st.GetLastMsgForSubject(ctx, subj); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-many/fresh", func(b *testing.B) {
		for b.Loop() {
			if kvs, err := s.GetMany(ctx, "b", keys); err != nil || kvs[99] == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-many/direct", func(b *testing.B) {
		for b.Loop() {
			if got, _, err := s.multiGet(ctx, h, subjects); err != nil || len(got) != 100 {
				b.Fatal(err)
			}
		}
	})
}
