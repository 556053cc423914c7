package auth

import (
	"sync"

	"golang.org/x/time/rate"
)

// cache is a map of at most size entries; when full, an arbitrary entry makes room, which
// is enough for caches whose misses cost a recomputation, not a failure.
type cache[V any] struct {
	mu   sync.RWMutex
	size int
	m    map[[32]byte]V
}

func newCache[V any](size int) *cache[V] {
	return &cache[V]{size: size, m: make(map[[32]byte]V)}
}

func (c *cache[V]) get(k [32]byte) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *cache[V]) put(k [32]byte, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

// limiters holds a rate limiter per key, at most size of them: when full, an arbitrary one
// is dropped (its key starts again with a full burst).
type limiters[K comparable] struct {
	mu   sync.Mutex
	size int
	m    map[K]limiterEntry
}

type limiterEntry struct {
	l     *rate.Limiter
	limit Limit
}

func newLimiters[K comparable](size int) *limiters[K] {
	return &limiters[K]{size: size, m: make(map[K]limiterEntry)}
}

// get returns the limiter of k with limit l, kept across calls while l stays the same.
func (ls *limiters[K]) get(k K, l Limit) *rate.Limiter {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if e, ok := ls.m[k]; ok && e.limit == l {
		return e.l
	}
	if len(ls.m) >= ls.size {
		for old := range ls.m {
			delete(ls.m, old)
			break
		}
	}
	e := limiterEntry{l: rate.NewLimiter(rate.Limit(l.PerSecond), l.Burst), limit: l}
	ls.m[k] = e
	return e.l
}
