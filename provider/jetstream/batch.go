package jetstream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// GetMany returns one element per key in request order, nil where a key is absent. The result
// is not a snapshot: each key is read at the moment the server answering reaches it. Keys are
// read with batched direct gets, up to getManyBatch keys a request; in a replicated bucket
// these count only when answered by a server that has reached the stream's last sequence, as
// its leader tells it first (read.go). A server before 2.11, which has no batched direct get,
// is asked key by key.
func (s *Store) GetMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var out []*keyvalue.KeyValue
	err := s.do(ctx, "get-many", bucket, false, func(h *handle) error {
		out = make([]*keyvalue.KeyValue, len(keys))
		if h == nil || len(keys) == 0 {
			return nil
		}
		enc, err := h.keys(keys)
		if err != nil {
			return err
		}
		var minSeq uint64
		if h.replicas > 1 {
			err = attempt(ctx, "read", func(ctx context.Context) error {
				minSeq, err = s.lastStreamSeq(ctx, h)
				return err
			})
			if err != nil {
				return err
			}
		}
		for start := 0; start < len(enc); start += getManyBatch {
			end := min(start+getManyBatch, len(enc))
			subjects := make([]string, 0, end-start)
			for _, k := range enc[start:end] {
				subjects = append(subjects, h.prefix+k)
			}
			got, err := s.freshMultiGet(ctx, h, subjects, minSeq)
			if errors.Is(err, errNoBatch) || errors.Is(err, errStale) {
				return s.getEach(ctx, h, keys[start:], enc[start:], out[start:])
			}
			if err != nil {
				return err
			}
			for i, subj := range subjects {
				m := got[subj]
				if m == nil || isDeleted(m.header) {
					continue
				}
				v, ok, err := s.readValue(ctx, h, m)
				if err == nil && !ok { // replaced while its chunks were read
					v, ok, err = s.get(ctx, h, enc[start+i])
				}
				if err != nil {
					return err
				}
				if ok {
					out[start+i] = &keyvalue.KeyValue{Key: keys[start+i], Value: v}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getManyBatch is the most keys one batched direct get asks for.
const getManyBatch = 256

// errStale is a batched read answered only by replicas behind the leader.
var errStale = errors.New("jetstream: the replicas that answered are behind the stream leader")

// freshMultiGet is multiGet answered by a server that had reached minSeq: a lagging replica's
// answer is asked again, twice, before errStale sends the caller to the leader key by key.
// An answer that cannot tell how far its server had got (no subject held a message) counts as
// fresh only when minSeq is 0.
func (s *Store) freshMultiGet(ctx context.Context, h *handle, subjects []string, minSeq uint64) (map[string]*storedMsg, error) {
	for attempt := 0; ; attempt++ {
		got, upTo, err := s.multiGet(ctx, h, subjects)
		if err != nil || minSeq == 0 || upTo >= minSeq {
			return got, err
		}
		if attempt == 2 {
			return nil, errStale
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

// getEach reads keys one request each, concurrently (see Concurrency).
func (s *Store) getEach(ctx context.Context, h *handle, keys, enc []string, out []*keyvalue.KeyValue) error {
	return s.each(ctx, len(keys), func(ctx context.Context, i int) error {
		v, ok, err := s.get(ctx, h, enc[i])
		if ok {
			out[i] = &keyvalue.KeyValue{Key: keys[i], Value: v}
		}
		return err
	})
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
		defer s.gc.noteWrite(h)
		return s.each(ctx, len(idx), func(ctx context.Context, j int) error {
			i := idx[j]
			return s.setValue(ctx, h, enc[i], items[i].Value)
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
		defer s.gc.noteWrite(h)
		return s.each(ctx, len(idx), func(ctx context.Context, j int) error {
			return s.deleteKey(ctx, h, enc[idx[j]])
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
	return s.eachN(ctx, n, s.opts.concurrency, fn)
}

// eachN is each with at most limit calls in flight.
func (s *Store) eachN(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 || limit == 1 {
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
	sem := make(chan struct{}, limit)
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
