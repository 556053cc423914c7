// Package gcpace makes the garbage collector run more often while large values are in flight.
//
// A value of many MiB crosses NATS in messages of max_payload bytes, and each message is
// copied several times on its way (by the NATS server, embedded or not, and by the client
// library), each copy garbage a moment later. With the collector's default pacing (GOGC=100,
// a collection when the heap has doubled since the last one), that garbage piles up to the
// size of everything live at the last collection, which a large value has just made large:
// the process's peak memory grows by several times the value. While at least one large value
// is in flight, the pacing is GOGC=Percent instead, and back to what it was when the last one
// is done; small requests keep the default pacing. A process started with GOGC set keeps it.
package gcpace

import (
	"os"
	"runtime/debug"
	"sync"
)

// Threshold is the size from which a value counts as large.
const Threshold = 1 << 20

// Percent is the collector's pacing while a large value is in flight.
const Percent = 25

var (
	mu      sync.Mutex
	active  int
	saved   int
	managed = os.Getenv("GOGC") == "" // the operator's own setting wins
)

// Begin notes a value of size bytes in flight and returns the function that notes it done
// (safe to call more than once). Values under Threshold change nothing.
func Begin(size int) (done func()) {
	if size < Threshold || !managed {
		return func() {}
	}
	mu.Lock()
	if active == 0 {
		saved = debug.SetGCPercent(Percent)
		if saved >= 0 && saved < Percent { // already paced tighter: keep that
			debug.SetGCPercent(saved)
		}
	}
	active++
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			active--
			if active == 0 {
				debug.SetGCPercent(saved)
			}
			mu.Unlock()
		})
	}
}
