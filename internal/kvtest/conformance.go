package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Conformance checks that s keeps the contract of keyvalue.Store that the gateway relies on.
// It runs against the backends and against the typed client calling a provider over NATS, so
// a store reached through wRPC is shown to behave like the backend behind it. s must start
// empty, and list pages of at most 10 keys make the paging checks cross pages.
func Conformance(t *testing.T, s keyvalue.Store) {
	ctx := context.Background()
	t.Run("absent, empty and present values", func(t *testing.T) {
		const b, k = "conformance bücket", "ключ/🔑 %2F"
		if v, ok, err := s.Get(ctx, b, k); err != nil || ok || v != nil {
			t.Fatalf("Get absent = %v, %v, %v; want absent", v, ok, err)
		}
		for _, want := range [][]byte{{}, {0}, {0, 1, 0xfe, 0xff}} {
			if err := s.Set(ctx, b, k, want); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Get(ctx, b, k)
			if err != nil || !ok || got == nil || !bytes.Equal(got, want) {
				t.Fatalf("Get after Set(% x) = % x, %v, %v", want, got, ok, err)
			}
			if ex, err := s.Exists(ctx, b, k); err != nil || !ex {
				t.Fatalf("Exists = %v, %v; want true", ex, err)
			}
		}
		for range 2 { // deleting an absent key succeeds too
			if err := s.Delete(ctx, b, k); err != nil {
				t.Fatal(err)
			}
		}
		if ex, err := s.Exists(ctx, b, k); err != nil || ex {
			t.Fatalf("Exists after Delete = %v, %v", ex, err)
		}
	})

	t.Run("increment", func(t *testing.T) {
		for _, want := range []uint64{3, 6} {
			if v, err := s.Increment(ctx, "counters", "n", 3); err != nil || v != want {
				t.Fatalf("Increment = %d, %v; want %d", v, err, want)
			}
		}
		if v, _, _ := s.Get(ctx, "counters", "n"); string(v) != "6" {
			t.Fatalf("counter stored as %q; want decimal text 6", v)
		}
		var other *keyvalue.OtherError
		if _, err := s.Increment(ctx, "counters", "n", ^uint64(0)); !errors.As(err, &other) {
			t.Fatalf("Increment past 2^64-1: err = %v; want an OtherError", err)
		}
		if err := s.Set(ctx, "counters", "text", []byte("six")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Increment(ctx, "counters", "text", 1); !errors.As(err, &other) {
			t.Fatalf("Increment of text: err = %v; want an OtherError", err)
		}
		if v, _, _ := s.Get(ctx, "counters", "text"); string(v) != "six" {
			t.Fatalf("a refused increment changed the value to %q", v)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					if _, err := s.Increment(ctx, "counters", "shared", 1); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if v, _, _ := s.Get(ctx, "counters", "shared"); string(v) != "200" {
			t.Fatalf("8 × 25 concurrent increments gave %q; want 200", v)
		}
	})

	t.Run("list keys", func(t *testing.T) {
		var want []string
		for i := range 25 {
			k := fmt.Sprintf("key %02d ✓", i)
			want = append(want, k)
			if err := s.Set(ctx, "listing", k, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, "listing", want[7]); err != nil {
			t.Fatal(err)
		}
		want = slices.Delete(want, 7, 8)
		var got []string
		var cursor *uint64
		for pages := 1; ; pages++ {
			if pages > 30 {
				t.Fatal("the cursor never reaches the end")
			}
			r, err := s.ListKeys(ctx, "listing", cursor)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Keys...)
			if cursor = r.Cursor; cursor == nil {
				if pages < 3 {
					t.Errorf("24 keys came in %d pages; the store should page at most 10 at a time", pages)
				}
				break
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("listed %q;\nwant each of %q once", got, want)
		}
		if r, err := s.ListKeys(ctx, "never written", nil); err != nil || len(r.Keys) != 0 || r.Cursor != nil {
			t.Fatalf("ListKeys of an unwritten bucket = %+v, %v; want empty", r, err)
		}
	})

	t.Run("batch", func(t *testing.T) {
		items := []keyvalue.KeyValue{{Key: "a", Value: []byte{1}}, {Key: "e", Value: []byte{}}, {Key: "ключ", Value: []byte("v")}}
		if err := s.SetMany(ctx, "batch", items); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMany(ctx, "batch", []string{"ключ", "missing", "e", "a"})
		if err != nil {
			t.Fatal(err)
		}
		want := []*keyvalue.KeyValue{&items[2], nil, &items[1], &items[0]}
		if len(got) != len(want) {
			t.Fatalf("GetMany returned %d items; want %d", len(got), len(want))
		}
		for i := range want {
			if (got[i] == nil) != (want[i] == nil) || got[i] != nil &&
				(got[i].Key != want[i].Key || got[i].Value == nil || !bytes.Equal(got[i].Value, want[i].Value)) {
				t.Fatalf("GetMany item %d = %+v; want %+v", i, got[i], want[i])
			}
		}
		if err := s.DeleteMany(ctx, "batch", []string{"a", "e", "missing"}); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetMany(ctx, "batch", []string{"a", "e", "ключ"})
		if err != nil || got[0] != nil || got[1] != nil || got[2] == nil {
			t.Fatalf("GetMany after DeleteMany = %v, %v", got, err)
		}
	})
}
