package kvtest

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Shuffled wraps a store so that GetMany answers in an order of its own, as keyvalue-nats
// answers in completion order: each present key is its own entry naming it, each absent key
// an empty entry, and the entries are shuffled (with a seed, so a failing test repeats).
// Served by a provider, it is a provider whose get-many answers cannot be read by position.
func Shuffled(s keyvalue.Store, seed uint64) keyvalue.Store {
	return &shuffled{Store: s, r: rand.New(rand.NewPCG(seed, seed))}
}

type shuffled struct {
	keyvalue.Store
	mu sync.Mutex
	r  *rand.Rand
}

func (s *shuffled) GetMany(ctx context.Context, b string, keys []string) ([]*keyvalue.KeyValue, error) {
	items, err := s.Store.GetMany(ctx, b, keys)
	if err != nil {
		return nil, err
	}
	// A shuffle that leaves every entry in place answers in order after all; rotate once
	// more so that positions are always wrong when they can be.
	s.mu.Lock()
	defer s.mu.Unlock()
	for tries := 0; tries < 10; tries++ {
		s.r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		if !inOrder(items, keys) {
			break
		}
	}
	return items, nil
}

func inOrder(items []*keyvalue.KeyValue, keys []string) bool {
	for i, it := range items {
		if it != nil && it.Key != keys[i] {
			return false
		}
	}
	return true
}

// Misanswering wraps a store so that GetMany breaks the function's contract as fix says, for
// example by naming a key that was not asked for.
func Misanswering(s keyvalue.Store, fix func(keys []string, items []*keyvalue.KeyValue) []*keyvalue.KeyValue) keyvalue.Store {
	return &misanswering{Store: s, fix: fix}
}

type misanswering struct {
	keyvalue.Store
	fix func([]string, []*keyvalue.KeyValue) []*keyvalue.KeyValue
}

func (s *misanswering) GetMany(ctx context.Context, b string, keys []string) ([]*keyvalue.KeyValue, error) {
	items, err := s.Store.GetMany(ctx, b, keys)
	if err != nil {
		return nil, err
	}
	return s.fix(keys, items), nil
}
