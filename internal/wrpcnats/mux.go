package wrpcnats

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/wrpc-kv/gateway/internal/gcpace"
)

// A receiver gets the messages published to one token's subjects: suffix is "" for the token
// subject itself and the rest of the subject otherwise (e.g. "results", "params").
// receive runs on the mux's delivery goroutine and must not block. fail is called when the
// connection drops: what the peer sends meanwhile is lost, so the exchange cannot complete.
type receiver interface {
	receive(suffix string, m *nats.Msg)
	fail(err error)
}

// strayLimit is how many bytes may arrive for tokens no exchange holds any more before the
// mux moves to a fresh inbox. Normal strays are empty (end-of-stream markers that follow a
// complete value); a peer that goes on sending after its exchange ended is flooding.
const strayLimit = 1 << 20

// mux routes messages from a wildcard inbox subscription (<inbox>.>) to the receivers
// registered under <inbox>.<token>. It replaces a subscription per exchange.
//
// A peer can go on publishing to an exchange's subjects after the exchange has ended (a
// provider streaming a value larger than the caller accepts, or one that never stops). The
// NATS server delivers whatever matches the subscription, and a connection that cannot read
// as fast as such a peer writes is dropped as a slow consumer, failing every exchange on it.
// So the mux rotates: when an exchange is abandoned with its peer still sending, or bytes
// for ended exchanges pass strayLimit, new exchanges get a fresh inbox, and the old inbox's
// subscription is removed as soon as no exchange holds it; the server then stops forwarding
// the flood at once, since nobody subscribes to its subject. Until then the stray messages
// are dropped on arrival. The normal path pays nothing for this: no extra subscription and
// no extra message.
type mux struct {
	nc     *nats.Conn
	status chan nats.Status

	mu        sync.RWMutex
	cur       *inbox
	draining  map[*inbox]struct{} // older inboxes that exchanges still hold
	routes    map[string]route
	closed    bool
	rotations atomic.Int64
}

// inbox is one wildcard subscription of the mux.
type inbox struct {
	prefix string // "<inbox prefix>.<nuid>", ends without a dot
	sub    *nats.Subscription
	live   int          // exchanges registered under it; mux.mu guards it
	strays atomic.Int64 // bytes that arrived for tokens nobody holds
}

type route struct {
	r  receiver
	ib *inbox
}

func newMux(nc *nats.Conn) (*mux, error) {
	m := &mux{nc: nc, routes: make(map[string]route), draining: make(map[*inbox]struct{})}
	ib, err := m.subscribe()
	if err != nil {
		return nil, err
	}
	m.cur = ib
	m.status = nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	if nc.IsClosed() { // closed before the listener was in place: no CLOSED event will come
		nc.RemoveStatusListener(m.status)
		return m, nil
	}
	go m.failOnDisconnect()
	return m, nil
}

// subscribe makes a fresh inbox.
func (m *mux) subscribe() (*inbox, error) {
	ib := &inbox{prefix: m.nc.NewInbox()}
	sub, err := m.nc.Subscribe(ib.prefix+".>", func(msg *nats.Msg) { m.dispatch(ib, msg) })
	if err != nil {
		return nil, err
	}
	// Delivery only copies bytes into per-exchange buffers whose size is bounded per
	// exchange, so the subscription itself needs no limit of its own; a limit here would
	// drop messages of exchanges in flight and make them fail as if the peer had gone.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	ib.sub = sub
	return ib, nil
}

// failOnDisconnect fails every exchange in flight when the connection drops, at once instead
// of at their deadlines. It ends when the connection is closed or the mux closes its status
// channel, whichever comes first, so a mux nobody closes ends with its connection.
func (m *mux) failOnDisconnect() {
	for st := range m.status {
		err := fmt.Errorf("%w: connection %s", ErrNotConnected, st)
		m.mu.RLock()
		for _, rt := range m.routes {
			rt.r.fail(err)
		}
		m.mu.RUnlock()
		if st == nats.CLOSED {
			m.nc.RemoveStatusListener(m.status)
			return
		}
	}
}

// discard returns a subject under the current inbox that no token matches: messages to it
// (and to subjects below it) are dropped.
func (m *mux) discard() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cur.prefix + "._" // nuid tokens never contain "_"
}

func (m *mux) register(r receiver) (token, subject string) {
	token = nuid.Next()
	m.mu.Lock()
	ib := m.cur
	ib.live++
	m.routes[token] = route{r, ib}
	m.mu.Unlock()
	return token, ib.prefix + "." + token
}

// unregister ends the exchange of token. With abandoned set, its peer may still be sending
// (the exchange gave up on it), so the mux moves to a fresh inbox at once instead of waiting
// for the strays to pile up.
func (m *mux) unregister(token string, abandoned bool) {
	m.mu.Lock()
	rt, ok := m.routes[token]
	delete(m.routes, token)
	var drop *nats.Subscription
	if ok {
		rt.ib.live--
		if _, old := m.draining[rt.ib]; old && rt.ib.live == 0 {
			delete(m.draining, rt.ib)
			drop = rt.ib.sub
		}
	}
	m.mu.Unlock()
	if drop != nil {
		_ = drop.Unsubscribe()
	}
	if ok && abandoned {
		m.rotate(rt.ib)
	}
}

// rotate gives new exchanges a fresh inbox when from is still the current one, and removes
// from's subscription once no exchange holds it.
func (m *mux) rotate(from *inbox) {
	m.mu.Lock()
	if m.closed || m.cur != from {
		m.mu.Unlock()
		return
	}
	ib, err := m.subscribe()
	if err != nil { // the connection is closing; keep what there is
		m.mu.Unlock()
		return
	}
	m.cur = ib
	m.rotations.Add(1)
	var drop *nats.Subscription
	if from.live == 0 {
		drop = from.sub
	} else {
		m.draining[from] = struct{}{}
	}
	m.mu.Unlock()
	if drop != nil {
		_ = drop.Unsubscribe()
	}
}

func (m *mux) dispatch(ib *inbox, msg *nats.Msg) {
	rest := msg.Subject
	if len(rest) <= len(ib.prefix) || rest[len(ib.prefix)] != '.' {
		return
	}
	token, suffix, _ := strings.Cut(rest[len(ib.prefix)+1:], ".")
	m.mu.RLock()
	rt, ok := m.routes[token]
	m.mu.RUnlock()
	if ok {
		rt.r.receive(suffix, msg)
		return
	}
	if ib.strays.Add(int64(len(msg.Data))) > strayLimit {
		m.rotate(ib)
	}
}

func (m *mux) close() error {
	m.nc.RemoveStatusListener(m.status)
	m.mu.Lock()
	m.closed = true
	subs := []*nats.Subscription{m.cur.sub}
	for ib := range m.draining {
		subs = append(subs, ib.sub)
	}
	m.mu.Unlock()
	var errs []error
	for _, sub := range subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err) // a closed connection took the subscription with it
		}
	}
	return errors.Join(errs...)
}

// stream collects the payloads of one direction of a call (params or results) until the empty
// end-of-stream message. It holds at most limit bytes; beyond that it marks itself too large
// and drops the rest.
type stream struct {
	mu       sync.Mutex
	ready    chan struct{} // capacity 1: a pending wake-up for the one waiting goroutine
	buf      []byte
	eof      bool
	tooLarge bool
	failed   error
	limit    int
	paced    func() // ends the collector's pacing for a large value (gcpace), when begun
}

func newStream(initial []byte, limit int) stream {
	return stream{ready: make(chan struct{}, 1), buf: initial, limit: limit}
}

// appendLocked adds one payload; s.mu must be held. An empty payload ends the stream.
func (s *stream) appendLocked(data []byte) {
	switch {
	case s.eof || s.tooLarge:
	case len(data) == 0:
		s.eof = true
	case len(s.buf)+len(data) > s.limit:
		s.tooLarge = true
		s.buf = nil
	case len(s.buf) == 0 && cap(s.buf) < len(data):
		// nats.go hands every message its own copy of the payload, so the first chunk,
		// which is the whole value for most calls, is kept without copying it again.
		s.buf = data
	default:
		s.buf = append(s.buf, data...)
	}
}

// reserve makes room for n bytes in all, so that payloads up to that length are appended
// without the buffer growing (and being copied) again. Snapshots taken before stay valid.
func (s *stream) reserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= cap(s.buf) || n > s.limit || s.tooLarge {
		return
	}
	buf := make([]byte, len(s.buf), n)
	copy(buf, s.buf)
	s.buf = buf
	s.paceLocked(n)
}

// paceLocked has the collector paced for a value of n bytes in flight, until done.
func (s *stream) paceLocked(n int) {
	if s.paced == nil {
		s.paced = gcpace.Begin(n)
	}
}

// done ends what the stream began: the pacing of a large value.
func (s *stream) done() {
	s.mu.Lock()
	paced := s.paced
	s.mu.Unlock()
	if paced != nil {
		paced()
	}
}

func (s *stream) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	s.wake()
}

// snapshot returns what has arrived so far. The returned slice stays valid: later payloads
// are appended past its length.
func (s *stream) snapshot() (buf []byte, eof, tooLarge bool, failed error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf, s.eof, s.tooLarge, s.failed
}
