package client

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// DefaultFallbackConcurrency is the number of single-key calls a Fallback keeps in flight.
const DefaultFallbackConcurrency = 16

// Fallback is a keyvalue.Store over another whose provider may not serve the batch interface
// (the world's "server" part is store and atomics only): when a batch call finds nobody
// serving batch (ErrNoResponders), it is made again as single-key calls of the store
// interface, at most Concurrency at once. Every other call, and every other answer, passes
// through unchanged.
type Fallback struct {
	keyvalue.Store
	// Concurrency bounds the single-key calls in flight for one batch (default
	// DefaultFallbackConcurrency).
	Concurrency int
	// OnFallback, when set, is called with the batch function's name ("get-many", ...) each
	// time a batch call is made key by key.
	OnFallback func(fn string)
}

var _ keyvalue.Store = (*Fallback)(nil)

// NewFallback returns a Fallback over s with the default concurrency.
func NewFallback(s keyvalue.Store) *Fallback {
	return &Fallback{Store: s, Concurrency: DefaultFallbackConcurrency}
}

var _ keyvalue.SetStreamer = (*Fallback)(nil)

// SetFrom streams the value to the store underneath when it can take it so, and reads it
// whole for Set otherwise.
func (f *Fallback) SetFrom(ctx context.Context, bucket, key string, size int64, r io.Reader) error {
	return keyvalue.SetFrom(ctx, f.Store, bucket, key, size, r)
}

func (f *Fallback) fellBack(fn string) {
	if f.OnFallback != nil {
		f.OnFallback(fn)
	}
}

// GetMany reads keys through the batch interface, or key by key when nobody serves it.
func (f *Fallback) GetMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	kvs, err := f.Store.GetMany(ctx, bucket, keys)
	if !errors.Is(err, keyvalue.ErrNoResponders) {
		return kvs, err
	}
	f.fellBack("get-many")
	kvs = make([]*keyvalue.KeyValue, len(keys))
	err = f.each(ctx, len(keys), func(ctx context.Context, i int) error {
		v, ok, err := f.Store.Get(ctx, bucket, keys[i])
		if ok {
			kvs[i] = &keyvalue.KeyValue{Key: keys[i], Value: v}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return kvs, nil
}

// SetMany writes items through the batch interface, or key by key when nobody serves it.
// Key by key, a key given twice is written once, with its last value, as the batch interface
// leaves it.
func (f *Fallback) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	err := f.Store.SetMany(ctx, bucket, items)
	if !errors.Is(err, keyvalue.ErrNoResponders) {
		return err
	}
	f.fellBack("set-many")
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[it.Key] = i
	}
	return f.each(ctx, len(items), func(ctx context.Context, i int) error {
		if last[items[i].Key] != i {
			return nil
		}
		return f.Store.Set(ctx, bucket, items[i].Key, items[i].Value)
	})
}

// DeleteMany deletes keys through the batch interface, or key by key when nobody serves it.
func (f *Fallback) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	err := f.Store.DeleteMany(ctx, bucket, keys)
	if !errors.Is(err, keyvalue.ErrNoResponders) {
		return err
	}
	f.fellBack("delete-many")
	return f.each(ctx, len(keys), func(ctx context.Context, i int) error {
		return f.Store.Delete(ctx, bucket, keys[i])
	})
}

// each calls fn for 0..n-1, at most Concurrency at once, and returns the first error; after
// it, calls not yet started are skipped and the running ones see their context canceled. It
// returns nil only when every call ran and succeeded: when ctx ends before all were started,
// it returns ctx's error, so a batch that was only partly applied never reads as done.
func (f *Fallback) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, f.Concurrency))
	var done atomic.Int64
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := fn(gctx, i); err != nil {
				return err
			}
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if int(done.Load()) != n {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		return context.Canceled
	}
	return nil
}
