package jetstream

import (
	"context"
	"fmt"
	"testing"

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
