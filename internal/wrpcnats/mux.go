package wrpcnats

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A receiver gets the messages published to one token's subjects: suffix is "" for the token
// subject itself and the rest of the subject otherwise (e.g. "results", "params").
// receive runs on the mux's delivery goroutine and must not block. fail is called when the
// connection drops: what the peer sends meanwhile is lost, so the exchange cannot complete.
type receiver interface {
	receive(suffix string, m *nats.Msg)
	fail(err error)
}

// mux routes messages from one wildcard inbox subscription (<inbox>.>) to the receivers
// registered under <inbox>.<token>. It replaces a subscription per call.
type mux struct {
	inbox string // "<inbox prefix>.<nuid>", ends without a dot
	// discard is a subject under the inbox that no token matches: messages to it (and to
	// subjects below it) are dropped.
	discard string
	sub     *nats.Subscription
	nc      *nats.Conn
	status  chan nats.Status

	mu     sync.RWMutex
	routes map[string]receiver
}

func newMux(nc *nats.Conn) (*mux, error) {
	m := &mux{inbox: nc.NewInbox(), routes: make(map[string]receiver)}
	m.discard = m.inbox + "._" // nuid tokens never contain "_"

	sub, err := nc.Subscribe(m.inbox+".>", m.dispatch)
	if err != nil {
		return nil, err
	}
	// Delivery only copies bytes into per-call buffers whose size is bounded per call, so the
	// subscription itself needs no limit of its own; a limit here would drop messages of
	// calls in flight and make them fail as if the peer had gone.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	m.sub = sub
	m.nc = nc
	m.status = nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	if nc.IsClosed() { // closed before the listener was in place: no CLOSED event will come
		nc.RemoveStatusListener(m.status)
		return m, nil
	}
	go m.failOnDisconnect()
	return m, nil
}

// failOnDisconnect fails every exchange in flight when the connection drops, at once instead
// of at their deadlines. It ends when the connection is closed or the mux closes its status
// channel, whichever comes first, so a mux nobody closes ends with its connection.
func (m *mux) failOnDisconnect() {
	for st := range m.status {
		err := fmt.Errorf("%w: connection %s", ErrNotConnected, st)
		m.mu.RLock()
		for _, r := range m.routes {
			r.fail(err)
		}
		m.mu.RUnlock()
		if st == nats.CLOSED {
			m.nc.RemoveStatusListener(m.status)
			return
		}
	}
}

// subject returns the subject of a token without registering it. Messages to an
// unregistered token are dropped.
func (m *mux) subject(token string) string { return m.inbox + "." + token }

func (m *mux) register(r receiver) (token, subject string) {
	token = nuid.Next()
	m.mu.Lock()
	m.routes[token] = r
	m.mu.Unlock()
	return token, m.subject(token)
}

func (m *mux) unregister(token string) {
	m.mu.Lock()
	delete(m.routes, token)
	m.mu.Unlock()
}

func (m *mux) dispatch(msg *nats.Msg) {
	rest := msg.Subject
	if len(rest) <= len(m.inbox) || rest[len(m.inbox)] != '.' {
		return
	}
	token, suffix, _ := strings.Cut(rest[len(m.inbox)+1:], ".")
	m.mu.RLock()
	r := m.routes[token]
	m.mu.RUnlock()
	if r != nil {
		r.receive(suffix, msg)
	}
}

func (m *mux) close() error {
	m.nc.RemoveStatusListener(m.status)
	err := m.sub.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil // the subscription went with the connection
	}
	return err
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
	case len(s.buf) == 0:
		// nats.go hands every message its own copy of the payload, so the first chunk,
		// which is the whole value for most calls, is kept without copying it again.
		s.buf = data
	default:
		s.buf = append(s.buf, data...)
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
