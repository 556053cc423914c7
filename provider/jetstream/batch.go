package jetstream

import (
	"context"
	"sync"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// GetMany returns one element per key in request order, nil where a key is absent. The keys are
// read concurrently (see Concurrency), each on its own, so the result is not a snapshot.
func (s *Store) GetMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var out []*keyvalue.KeyValue
	err := s.do(ctx, "get-many", bucket, false, func(h *handle) error {
		out = make([]*keyvalue.KeyValue, len(keys))
		if h == nil {
			return nil
		}
		enc, err := h.keys(keys)
		if err != nil {
			return err
		}
		return s.each(ctx, len(keys), func(ctx context.Context, i int) error {
			v, ok, err := h.get(ctx, enc[i])
			if ok {
				out[i] = &keyvalue.KeyValue{Key: keys[i], Value: v}
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetMany stores every item; a key given more than once ends with its last value. Names and
// sizes are checked before anything is written, but the writes are not atomic: a failure part
// way leaves the items written so far in place.
func (s *Store) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.do(ctx, "put-many", bucket, true, func(h *handle) error {
		keys := make([]string, len(items))
		for i, it := range items {
			keys[i] = it.Key
			if err := s.checkValue(h, it.Value); err != nil {
				return err
			}
		}
		enc, err := h.keys(keys)
		if err != nil {
			return err
		}
		// Concurrent writes of one key would race; only its last value needs writing.
		idx := lastOccurrences(enc)
		return s.each(ctx, len(idx), func(ctx context.Context, j int) error {
			i := idx[j]
			_, err := h.kv.Put(ctx, enc[i], items[i].Value)
			return err
		})
	})
}

// DeleteMany removes every key; absent keys are not an error.
func (s *Store) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.do(ctx, "delete-many", bucket, false, func(h *handle) error {
		if h == nil {
			return nil
		}
		enc, err := h.keys(keys)
		if err != nil {
			return err
		}
		idx := lastOccurrences(enc)
		return s.each(ctx, len(idx), func(ctx context.Context, j int) error {
			return h.delete(ctx, enc[idx[j]])
		})
	})
}

// keys encodes every key, failing before any I/O when one is too long.
func (h *handle) keys(keys []string) ([]string, error) {
	enc := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if enc[i], err = h.key(k); err != nil {
			return nil, err
		}
	}
	return enc, nil
}

// lastOccurrences returns the index of the last occurrence of each distinct name, in order.
func lastOccurrences(names []string) []int {
	last := make(map[string]int, len(names))
	for i, n := range names {
		last[n] = i
	}
	idx := make([]int, 0, len(last))
	for i, n := range names {
		if last[n] == i {
			idx = append(idx, i)
		}
	}
	return idx
}

// each runs fn for 0..n-1 with at most the configured number in flight, and returns the first
// error; after it the remaining calls are not started and the running ones see ctx canceled.
func (s *Store) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 || s.opts.concurrency == 1 {
		for i := range n {
			if err := fn(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	sem := make(chan struct{}, s.opts.concurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
