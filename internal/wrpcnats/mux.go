package wrpcnats

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A receiver gets the messages published to one token's subjects: suffix is "" for the token
// subject itself and the rest of the subject otherwise (e.g. "results", "params").
// receive runs on the mux's delivery goroutine and must not block.
type receiver interface {
	receive(suffix string, m *nats.Msg)
}

// mux routes messages from one wildcard inbox subscription (<inbox>.>) to the receivers
// registered under <inbox>.<token>. It replaces a subscription per call.
type mux struct {
	inbox string // "<inbox prefix>.<nuid>", ends without a dot
	sub   *nats.Subscription

	mu     sync.RWMutex
	routes map[string]receiver
}

func newMux(nc *nats.Conn) (*mux, error) {
	m := &mux{inbox: nc.NewInbox(), routes: make(map[string]receiver)}
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
	return m, nil
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

func (m *mux) close() error { return m.sub.Unsubscribe() }

// stream collects the payloads of one direction of a call (params or results) until the empty
// end-of-stream message. It holds at most limit bytes; beyond that it marks itself too large
// and drops the rest.
type stream struct {
	mu       sync.Mutex
	ready    chan struct{} // capacity 1: a pending wake-up for the one waiting goroutine
	buf      []byte
	eof      bool
	tooLarge bool
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

// snapshot returns what has arrived so far. The returned slice stays valid: later payloads
// are appended past its length.
func (s *stream) snapshot() (buf []byte, eof, tooLarge bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf, s.eof, s.tooLarge
}
