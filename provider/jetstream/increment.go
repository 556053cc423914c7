package jetstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Bounds of the pause between two attempts of an increment that lost a race.
const (
	minBackoff = 500 * time.Microsecond
	maxBackoff = 50 * time.Millisecond
)

// Increment adds delta to the decimal counter at key (absent counts as 0), stores the sum as
// decimal ASCII text and returns it. An existing value that is not an unsigned decimal integer,
// or a sum past 2^64-1, answers *keyvalue.OtherError and leaves the value as it was.
//
// It is a compare-and-set loop on the key's revision: read, then write only if nobody wrote
// since. A lost race is retried after a jittered, growing pause for as long as the context
// allows, so the counter stays exact under any number of callers, across processes. Callers in
// the same process take turns per key first, so they do not race each other at all.
func (s *Store) Increment(ctx context.Context, bucket, key string, delta uint64) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var sum uint64
	err := s.do(ctx, "increment", bucket, true, func(h *handle) error {
		k, err := h.key(key)
		if err != nil {
			return err
		}
		unlock, err := s.locks.lock(ctx, h.stream+"\x00"+k)
		if err != nil {
			return err
		}
		defer unlock()
		sum, err = s.increment(ctx, h, k, delta)
		return err
	})
	return sum, err
}

func (s *Store) increment(ctx context.Context, h *handle, k string, delta uint64) (uint64, error) {
	backoff := minBackoff
	for {
		current, rev, err := s.entry(ctx, h, k)
		if err != nil {
			return 0, err
		}
		sum, v, err := keyvalue.AddToCounter(current, delta)
		if err != nil {
			return 0, err
		}
		_, err = s.write(ctx, h, k, v, nil, natsjs.WithExpectLastSequencePerSubject(rev))
		if err == nil {
			return sum, nil
		}
		if !isWrongLastSeq(err) {
			return 0, err
		}
		s.conflicts.Add(1)
		t := time.NewTimer(rand.N(backoff) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// keyLocks hands out one lock per name, held while a goroutine increments that key; locks are
// created on demand and dropped when nobody holds or waits for them.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while the lock is taken
	refs int           // holders and waiters; guarded by keyLocks.mu
}

// lock waits for the lock of name or for ctx to end, and returns the function that releases it.
func (l *keyLocks) lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*keyLock)
	}
	kl := l.m[name]
	if kl == nil {
		kl = &keyLock{ch: make(chan struct{}, 1)}
		l.m[name] = kl
	}
	kl.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		if kl.refs--; kl.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
	select {
	case kl.ch <- struct{}{}:
		return func() { <-kl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// entry reads the encoded key k for a compare-and-set, from the stream leader: its value (nil
// when absent) and the revision to write over, that of a delete marker included, 0 when the
// key has no message at all. A value in chunks is not a counter: its manifest's empty data
// is what AddToCounter refuses.
func (s *Store) entry(ctx context.Context, h *handle, k string) ([]byte, uint64, error) {
	m, err := s.lastMsg(ctx, h, h.prefix+k)
	switch {
	case errors.Is(err, errNoMessage):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	case isDeleted(m.header):
		return nil, m.seq, nil
	}
	if m.data == nil {
		m.data = []byte{}
	}
	return m.data, m.seq, nil
}
