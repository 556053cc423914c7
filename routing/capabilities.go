package routing

import (
	"context"
	"sync"
	"time"
)

// capsTTL is how long what a target was found not to serve is believed: a provider may start
// serving an interface later, so absence is asked about again after this long.
const capsTTL = 30 * time.Second

// capabilities is what the router has learnt of which interfaces a target serves ("store",
// "atomics", "batch"): from probes (Target.discover) and from the calls themselves.
type capabilities struct {
	mu      sync.Mutex
	served  map[string]bool
	learnt  map[string]time.Time
	probing sync.Mutex // one discovery at a time
}

// get returns what is known of iface: served, and whether that is known (and, for an absent
// interface, recent enough to go by).
func (c *capabilities) get(iface string) (served, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.served[iface]
	if !ok || !s && time.Since(c.learnt[iface]) > capsTTL {
		return false, false
	}
	return s, true
}

func (c *capabilities) learn(iface string, served bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.served == nil {
		c.served, c.learnt = map[string]bool{}, map[string]time.Time{}
	}
	c.served[iface], c.learnt[iface] = served, time.Now()
}

// Interface states, as GET /buckets/{bucket} answers them.
const (
	Served    = "served"
	NotServed = "not-served"
	Fallback  = "fallback" // batch, not served: made key by key through store
	Unknown   = "unknown"  // the probe failed (timeout, no connection)
)

// discover asks the target which interfaces it serves (without running any function) and
// remembers it.
func (t *Target) discover(ctx context.Context) (map[string]bool, error) {
	t.caps.probing.Lock()
	defer t.caps.probing.Unlock()
	caps, err := t.kv.Serves(ctx)
	for iface, served := range caps {
		// An interface is missing only beside one that is there: with no store either,
		// nobody serves the target at the moment (a provider stopped, or reconnecting),
		// which says nothing of what it serves.
		if served || caps["store"] {
			t.caps.learn(iface, served)
		}
	}
	return caps, err
}

// Interfaces returns what the target serves, interface by interface, asking it when what is
// known is incomplete or stale.
func (t *Target) Interfaces(ctx context.Context) map[string]string {
	out := map[string]string{}
	stale := false
	for _, iface := range []string{"store", "atomics", "batch"} {
		if _, known := t.caps.get(iface); !known {
			stale = true
		}
	}
	if stale {
		_, _ = t.discover(ctx)
	}
	for _, iface := range []string{"store", "atomics", "batch"} {
		served, known := t.caps.get(iface)
		switch {
		case !known:
			out[iface] = Unknown
		case served:
			out[iface] = Served
		case iface == "batch" && out["store"] == Served:
			out[iface] = Fallback
		case iface == "batch":
			out[iface] = Unknown // nobody serves the store now: no fallback either
		default:
			out[iface] = NotServed
		}
	}
	return out
}
