// Package memory is an in-memory keyvalue.Store: safe for concurrent use, with atomic
// increments and list-keys pages that follow a real cursor. It keeps nothing across restarts;
// tests use it, and it serves as a provider backend where persistence is not wanted.
package memory

import (
	"context"
	"sort"
	"sync"

	"github.com/wrpc-kv/gateway/keyvalue"
)

var _ keyvalue.Store = (*Store)(nil)

// DefaultPageSize is the number of keys a list-keys page holds unless PageSize says otherwise.
const DefaultPageSize = 1000

// Option configures a Store.
type Option func(*Store)

// CreateBuckets sets whether a bucket comes into being on its first write (the default). With
// false, only buckets made by Store.CreateBucket exist, and every call on any other bucket
// answers keyvalue.ErrNoSuchStore.
func CreateBuckets(create bool) Option {
	return func(s *Store) { s.createBuckets = create }
}

// PageSize sets the most keys one list-keys page holds. Values below 1 keep the default.
func PageSize(n int) Option {
	return func(s *Store) {
		if n >= 1 {
			s.pageSize = n
		}
	}
}

// Store is an in-memory keyvalue.Store. The zero value is not usable; call New.
type Store struct {
	createBuckets bool
	pageSize      int

	mu      sync.RWMutex
	buckets map[string]*bucket
}

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		createBuckets: true,
		pageSize:      DefaultPageSize,
		buckets:       make(map[string]*bucket),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// CreateBucket makes bucket exist (empty) if it does not yet. It is how buckets come into
// being when the Store was made with CreateBuckets(false).
func (s *Store) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; !ok {
		s.buckets[name] = newBucket()
	}
}

// lookup returns the bucket for a read. With auto-create on, a bucket never written answers
// like an empty bucket (nil, nil) without coming into being.
func (s *Store) lookup(ctx context.Context, name string) (*bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	b := s.buckets[name]
	s.mu.RUnlock()
	if b == nil && !s.createBuckets {
		return nil, keyvalue.ErrNoSuchStore
	}
	return b, nil
}

// lookupForWrite returns the bucket for a write, creating it when auto-create is on.
func (s *Store) lookupForWrite(ctx context.Context, name string) (*bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	b := s.buckets[name]
	s.mu.RUnlock()
	if b != nil {
		return b, nil
	}
	if !s.createBuckets {
		return nil, keyvalue.ErrNoSuchStore
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.buckets[name]; b == nil {
		b = newBucket()
		s.buckets[name] = b
	}
	return b, nil
}

// Get returns a copy of the value at key; an empty value is a non-nil empty slice.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, bool, error) {
	b, err := s.lookup(ctx, bucket)
	if err != nil || b == nil {
		return nil, false, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, ok := b.entries[key]
	if !ok {
		return nil, false, nil
	}
	return clone(e.value), true, nil
}

// Set stores a copy of value at key.
func (s *Store) Set(ctx context.Context, bucket, key string, value []byte) error {
	b, err := s.lookupForWrite(ctx, bucket)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.set(key, clone(value))
	return nil
}

// Delete removes key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	b, err := s.lookup(ctx, bucket)
	if err != nil || b == nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delete(key)
	return nil
}

// Exists reports whether key is present.
func (s *Store) Exists(ctx context.Context, bucket, key string) (bool, error) {
	b, err := s.lookup(ctx, bucket)
	if err != nil || b == nil {
		return false, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, ok := b.entries[key]
	return ok, nil
}

// ListKeys returns the keys inserted after cursor, in insertion order, at most the page size.
//
// Each key carries the sequence number of its insertion, kept when the key is overwritten and
// renewed when it is deleted and set again; the cursor is the last sequence a page returned.
// So following cursors yields every key exactly once on a bucket nobody writes to, and while
// others write, every key present throughout the walk still appears exactly once.
func (s *Store) ListKeys(ctx context.Context, bucket string, cursor *uint64) (keyvalue.KeyResponse, error) {
	b, err := s.lookup(ctx, bucket)
	if err != nil || b == nil {
		return keyvalue.KeyResponse{Keys: []string{}}, err
	}
	var after uint64
	if cursor != nil {
		after = *cursor
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	keys := make([]string, 0, min(s.pageSize, len(b.entries)))
	i := sort.Search(len(b.log), func(i int) bool { return b.log[i].seq > after })
	var last uint64
	for ; i < len(b.log); i++ {
		r := b.log[i]
		if !b.live(r) {
			continue
		}
		if len(keys) == s.pageSize {
			// A live key follows this full page: hand out a cursor.
			return keyvalue.KeyResponse{Keys: keys, Cursor: &last}, nil
		}
		keys = append(keys, r.key)
		last = r.seq
	}
	return keyvalue.KeyResponse{Keys: keys}, nil
}

// Increment adds delta to the decimal counter at key (absent counts as 0), stores the result
// as decimal ASCII text and returns it. An existing value that is not an unsigned decimal
// integer, or a sum past 2^64-1, answers *keyvalue.OtherError and leaves the value unchanged.
func (s *Store) Increment(ctx context.Context, bucket, key string, delta uint64) (uint64, error) {
	b, err := s.lookupForWrite(ctx, bucket)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var current []byte
	if e, ok := b.entries[key]; ok {
		current = e.value
		if current == nil {
			current = []byte{}
		}
	}
	next, stored, err := keyvalue.AddToCounter(current, delta)
	if err != nil {
		return 0, err
	}
	b.set(key, stored)
	return next, nil
}

// GetMany returns one element per key in request order, nil where a key is absent. The values
// are read under one lock, so they are a consistent snapshot.
func (s *Store) GetMany(ctx context.Context, bucket string, keys []string) ([]*keyvalue.KeyValue, error) {
	b, err := s.lookup(ctx, bucket)
	if err != nil {
		return nil, err
	}
	out := make([]*keyvalue.KeyValue, len(keys))
	if b == nil {
		return out, nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i, k := range keys {
		if e, ok := b.entries[k]; ok {
			out[i] = &keyvalue.KeyValue{Key: k, Value: clone(e.value)}
		}
	}
	return out, nil
}

// SetMany stores every item under one lock; a key given twice ends with its last value.
func (s *Store) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	b, err := s.lookupForWrite(ctx, bucket)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, it := range items {
		b.set(it.Key, clone(it.Value))
	}
	return nil
}

// DeleteMany removes every key under one lock; absent keys are not an error.
func (s *Store) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	b, err := s.lookup(ctx, bucket)
	if err != nil || b == nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		b.delete(k)
	}
	return nil
}

// clone copies v; the copy of an empty or nil value is a non-nil empty slice.
func clone(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	return out
}
