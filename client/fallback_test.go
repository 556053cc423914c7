package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// unbatched is a store whose batch interface nobody serves; its single-key writes may run a
// hook first.
type unbatched struct {
	*memory.Store
	mu     sync.Mutex
	writes int
	onSet  func(n int) error // called with the number of the write, from 1
}

func (s *unbatched) GetMany(context.Context, string, []string) ([]*keyvalue.KeyValue, error) {
	return nil, fmt.Errorf("call: %w", client.ErrNoResponders)
}
func (s *unbatched) SetMany(context.Context, string, []keyvalue.KeyValue) error {
	return client.ErrNoResponders
}
func (s *unbatched) DeleteMany(context.Context, string, []string) error {
	return client.ErrNoResponders
}
func (s *unbatched) Set(ctx context.Context, b, k string, v []byte) error {
	s.mu.Lock()
	s.writes++
	n := s.writes
	s.mu.Unlock()
	if s.onSet != nil {
		if err := s.onSet(n); err != nil {
			return err
		}
	}
	return s.Store.Set(ctx, b, k, v)
}

func TestFallbackKeyByKey(t *testing.T) {
	s := &unbatched{Store: memory.New()}
	var fellBack []string
	f := &client.Fallback{Store: s, Concurrency: 3, OnFallback: func(fn string) { fellBack = append(fellBack, fn) }}
	ctx := context.Background()
	items := []keyvalue.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("3")}}
	if err := f.SetMany(ctx, "b", items); err != nil {
		t.Fatal(err)
	}
	if s.writes != 2 {
		t.Errorf("%d single-key writes for 3 items of 2 keys; want 2", s.writes)
	}
	got, err := f.GetMany(ctx, "b", []string{"a", "missing", "b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"3", "", "2", "3"}
	for i, it := range got {
		if (it == nil) != (want[i] == "") || it != nil && string(it.Value) != want[i] {
			t.Errorf("item %d = %+v; want %q", i, it, want[i])
		}
	}
	if err := f.DeleteMany(ctx, "b", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Store.ListKeys(ctx, "b", nil); len(r.Keys) != 0 {
		t.Errorf("keys left after DeleteMany: %v", r.Keys)
	}
	if fmt.Sprint(fellBack) != "[set-many get-many delete-many]" {
		t.Errorf("OnFallback saw %v", fellBack)
	}
}

// A batch whose context ends after some of its single-key calls reports the failure: part
// of it was never applied.
func TestFallbackReportsAPartlyAppliedBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &unbatched{Store: memory.New(), onSet: func(n int) error {
		if n == 1 {
			cancel() // the client goes away after the first write succeeded
		}
		return nil
	}}
	f := &client.Fallback{Store: s, Concurrency: 1}
	items := make([]keyvalue.KeyValue, 10)
	for i := range items {
		items[i] = keyvalue.KeyValue{Key: fmt.Sprint(i), Value: []byte("v")}
	}
	err := f.SetMany(ctx, "b", items)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SetMany cut short = %v; want context.Canceled", err)
	}
	if s.writes == len(items) {
		t.Fatalf("all %d writes ran after the context ended", s.writes)
	}
}

// The first failing single-key call is the answer.
func TestFallbackFirstError(t *testing.T) {
	boom := &keyvalue.OtherError{Message: "boom"}
	s := &unbatched{Store: memory.New(), onSet: func(n int) error {
		if n == 3 {
			return boom
		}
		return nil
	}}
	f := client.NewFallback(s)
	items := make([]keyvalue.KeyValue, 50)
	for i := range items {
		items[i] = keyvalue.KeyValue{Key: fmt.Sprint(i)}
	}
	if err := f.SetMany(context.Background(), "b", items); !errors.Is(err, boom) {
		t.Fatalf("SetMany = %v; want the failing call's error", err)
	}
}
