package memory

import "sync"

// bucket holds one bucket's keys and the insertion log list-keys pages through.
type bucket struct {
	mu      sync.RWMutex
	seq     uint64 // last insertion sequence handed out; the first key gets 1
	entries map[string]entry
	// log records insertions in sequence order. A record is live while its key's entry still
	// carries its sequence; deletes leave dead records behind, which compact drops.
	log  []record
	dead int
}

type entry struct {
	value []byte
	seq   uint64
}

type record struct {
	seq uint64
	key string
}

func newBucket() *bucket {
	return &bucket{entries: make(map[string]entry)}
}

// live reports whether r is the insertion of a key that is still present. The lock must be held.
func (b *bucket) live(r record) bool {
	e, ok := b.entries[r.key]
	return ok && e.seq == r.seq
}

// set stores value (already copied) at key. An overwrite keeps the key's sequence; a new key
// gets the next one. The write lock must be held.
func (b *bucket) set(key string, value []byte) {
	if e, ok := b.entries[key]; ok {
		e.value = value
		b.entries[key] = e
		return
	}
	b.seq++
	b.entries[key] = entry{value: value, seq: b.seq}
	b.log = append(b.log, record{seq: b.seq, key: key})
}

// delete removes key if present. The write lock must be held.
func (b *bucket) delete(key string) {
	if _, ok := b.entries[key]; !ok {
		return
	}
	delete(b.entries, key)
	b.dead++
	if b.dead > 64 && b.dead > len(b.log)/2 {
		b.compact()
	}
}

// compact drops dead records. Cursors are sequences, not positions, so they stay valid.
// The write lock must be held.
func (b *bucket) compact() {
	kept := make([]record, 0, len(b.entries))
	for _, r := range b.log {
		if b.live(r) {
			kept = append(kept, r)
		}
	}
	b.log = kept
	b.dead = 0
}
