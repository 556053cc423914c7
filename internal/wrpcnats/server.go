package wrpcnats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wire"
)

// A Handler serves one function. It is called with all parameter bytes received so far and
// returns an error matching wire.ErrTruncated while they are incomplete; it is then called
// again when more arrive. Any other error means the params don't decode, and the call fails.
// Once the params decode, it returns the Call that runs the function. A Handler must have no
// side effects: it may run several times for one invocation. Its Call may keep slices of the
// params it decoded: they are never written again.
type Handler func(params []byte) (Call, error)

// A Call runs a function whose params have been decoded and returns its encoded results. An
// error fails the call: the caller sees the results end without a value (a remote failure),
// never the error's text; the Call logs it where it should be seen (the server logs it at
// Debug only). ctx carries the invocation's headers (InvocationHeader) and is
// cancelled when the server stops waiting for calls in flight.
type Call func(ctx context.Context) (results []byte, err error)

// Defaults of a Server.
const (
	DefaultMaxConcurrency = 256
	DefaultMaxParamBytes  = 64 << 20
	DefaultParamsTimeout  = 30 * time.Second
)

// Server serves functions over wRPC. Each invocation is handled in its own goroutine, at most
// MaxConcurrency at a time; beyond that, invocations wait in the subscription's pending queue.
type Server struct {
	nc            *nats.Conn
	mux           *mux
	prefix        string
	group         string
	groupSet      bool
	sem           chan struct{}
	maxParams     int
	paramsTimeout time.Duration
	log           *slog.Logger

	baseCtx context.Context // cancelled by Close once its grace period is over
	cancel  context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   []*nats.Subscription
	wg     sync.WaitGroup

	running    atomic.Int64  // calls in flight
	closeGrace time.Duration // see closeGrace; shorter in tests
}

// A ServerOption configures a Server.
type ServerOption func(*Server) error

// ServePrefix sets the subject prefix the server answers under (wasmCloud:
// "<lattice>.<provider-id>"). Unless QueueGroup says otherwise, the queue group is the prefix,
// as wasmCloud does, so several servers share the calls instead of all answering each one.
func ServePrefix(prefix string) ServerOption {
	return func(s *Server) error { s.prefix = prefix; return nil }
}

// QueueGroup sets the NATS queue group of the invocation subscriptions.
func QueueGroup(group string) ServerOption {
	return func(s *Server) error { s.group, s.groupSet = group, true; return nil }
}

// MaxConcurrency bounds the invocations handled at once.
func MaxConcurrency(n int) ServerOption {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("wrpc: max concurrency must be positive, got %d", n)
		}
		s.sem = make(chan struct{}, n)
		return nil
	}
}

// MaxParamBytes bounds the size of one invocation's params; a caller sending more fails.
func MaxParamBytes(n int) ServerOption {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("wrpc: max param bytes must be positive, got %d", n)
		}
		s.maxParams = n
		return nil
	}
}

// ParamsTimeout bounds the wait for more of an invocation's params: the longest pause between
// two of its messages.
func ParamsTimeout(d time.Duration) ServerOption {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("wrpc: params timeout must be positive, got %v", d)
		}
		s.paramsTimeout = d
		return nil
	}
}

// Logger sets the server's logger.
func Logger(l *slog.Logger) ServerOption {
	return func(s *Server) error { s.log = l; return nil }
}

// NewServer returns a server on nc with no functions yet; Handle adds them.
func NewServer(nc *nats.Conn, opts ...ServerOption) (*Server, error) {
	s := &Server{
		nc:            nc,
		sem:           make(chan struct{}, DefaultMaxConcurrency),
		maxParams:     DefaultMaxParamBytes,
		paramsTimeout: DefaultParamsTimeout,
		log:           slog.Default(),
		closeGrace:    closeGrace,
	}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	if !s.groupSet {
		s.group = s.prefix
	}
	m, err := newMux(nc)
	if err != nil {
		return nil, fmt.Errorf("wrpc: subscribe inbox: %w", err)
	}
	s.mux = m
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Handle subscribes to the invocation subject of fn and serves it with h. It returns once the
// NATS server has the subscription, so calls made from other connections right after reach it.
func (s *Server) Handle(instance, fn string, h Handler) error {
	subject := Subject(s.prefix, instance, fn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("wrpc: server closed")
	}
	accept := func(m *nats.Msg) { s.accept(m, h) }
	var sub *nats.Subscription
	var err error
	if s.group != "" {
		sub, err = s.nc.QueueSubscribe(subject, s.group, accept)
	} else {
		sub, err = s.nc.Subscribe(subject, accept)
	}
	if err != nil {
		return fmt.Errorf("wrpc: subscribe %s: %w", subject, err)
	}
	s.subs = append(s.subs, sub)
	if err := s.nc.Flush(); err != nil {
		return fmt.Errorf("wrpc: flush subscription of %s: %w", subject, err)
	}
	return nil
}

// closeGrace is how long Close waits, once it has canceled the calls in flight, for them to
// return; a handler that ignores its context is then left behind.
const closeGrace = 5 * time.Second

// Close stops taking invocations and waits for those in flight until ctx is done; then it
// cancels their contexts, waits at most closeGrace for them to return and returns ctx's
// error (and, when some never returned, says how many).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var errs []error
	for _, sub := range s.subs {
		errs = append(errs, sub.Unsubscribe())
	}
	s.mu.Unlock()
	// Once the server has the unsubscriptions, new calls answer no responders at once
	// instead of reaching a server that no longer takes them.
	if err := s.nc.Flush(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		errs = append(errs, err)
	}

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	s.cancel()
	select {
	case <-done:
	case <-time.After(s.closeGrace):
		errs = append(errs, fmt.Errorf("wrpc: %d calls still running %v after they were canceled", s.running.Load(), s.closeGrace))
	}
	errs = append(errs, s.mux.close())
	return errors.Join(errs...)
}

// accept runs on the subscription's delivery goroutine. Waiting here for a free slot is the
// back-pressure: further invocations queue in the subscription.
func (s *Server) accept(m *nats.Msg, h Handler) {
	if m.Reply == "" {
		s.log.Warn("wrpc: dropping invocation without reply subject", "subject", m.Subject)
		return
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.baseCtx.Done():
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.running.Add(1)
	go func() {
		defer func() { s.running.Add(-1); <-s.sem; s.wg.Done() }()
		s.serve(m, h)
	}()
}

// invocation collects the params that follow the handshake.
type invocation struct{ stream }

func (inv *invocation) receive(suffix string, m *nats.Msg) {
	if suffix != "params" {
		return
	}
	inv.mu.Lock()
	inv.appendLocked(m.Data)
	inv.mu.Unlock()
	inv.wake()
}

func (s *Server) serve(m *nats.Msg, h Handler) {
	results := m.Reply + ".results"
	// Always end the results stream: without the marker a failed call looks, to the caller,
	// like a slow one until its deadline.
	ended := false
	defer func() {
		if !ended {
			if err := s.nc.Publish(results, nil); err != nil {
				s.log.Debug("wrpc: publish end of results", "subject", m.Subject, "err", err)
			}
		}
	}()

	run, err := h(m.Data)
	var paramsSubject string
	var inv *invocation
	if errors.Is(err, wire.ErrTruncated) {
		// Room for the whole params from the start when they say how long they are, before
		// the rest arrives: a large value is then never copied to a larger buffer.
		size := len(m.Data)
		var te *wire.TruncatedError
		if errors.As(err, &te) && te.Need <= uint64(s.maxParams) {
			size = max(size, int(te.Need))
		}
		buf := make([]byte, len(m.Data), size)
		copy(buf, m.Data)
		inv = &invocation{stream: newStream(buf, s.maxParams)}
		inv.paceLocked(size)
		defer inv.done()
		token, subject := s.mux.register(inv)
		defer s.mux.unregister(token, false)
		paramsSubject = subject
	} else {
		// Complete already: the caller's end-of-params marker goes to a token nobody
		// registers and is dropped by the mux.
		paramsSubject = s.mux.discard()
	}
	if err := s.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: paramsSubject}); err != nil {
		s.log.Debug("wrpc: publish handshake", "subject", m.Subject, "err", err)
		return
	}
	if inv != nil {
		run, err = s.awaitParams(inv, h, len(m.Data))
	}
	if err != nil {
		s.log.Debug("wrpc: params do not decode", "subject", m.Subject, "err", err)
		return
	}

	rw := &resultWriter{nc: s.nc, subject: results, max: int(s.nc.MaxPayload())}
	ctx := context.WithValue(s.baseCtx, invocationHeaderKey{}, m.Header)
	ctx = context.WithValue(ctx, resultWriterKey{}, rw)
	out, err := run(ctx)
	if err != nil {
		// The handler's own log says why, with its context; this is the transport's view.
		s.log.Debug("wrpc: call failed", "subject", m.Subject, "err", err)
		return
	}
	if rw.written == 0 { // the usual case: all of the results returned, sent as they are
		rw.buf = out
	} else if _, err := rw.Write(out); err != nil {
		s.log.Debug("wrpc: publish results", "subject", m.Subject, "err", err)
		return
	}
	for len(rw.buf) > 0 && err == nil {
		n := min(len(rw.buf), rw.max)
		err = s.nc.Publish(results, rw.buf[:n])
		rw.buf = rw.buf[n:]
	}
	if err != nil {
		s.log.Debug("wrpc: publish results", "subject", m.Subject, "err", err)
	}
}

type resultWriterKey struct{}

// ResultWriter returns, in the context of a Call, where it may write the first part of its
// results while it produces them, instead of holding them whole: a large value is sent as it
// is read. What the Call returns follows what it wrote. A Call that fails after writing still
// fails: the caller sees the results end before a complete value. Outside a Call it is nil.
func ResultWriter(ctx context.Context) io.Writer {
	w, _ := ctx.Value(resultWriterKey{}).(*resultWriter)
	if w == nil {
		return nil
	}
	return w
}

// resultWriter publishes results in messages of max_payload bytes as they are written.
type resultWriter struct {
	nc      *nats.Conn
	subject string
	max     int
	buf     []byte // less than max bytes not sent yet
	written int    // bytes written by the Call
}

func (w *resultWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.written += n
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= w.max {
			// A whole message of the caller's bytes: no copy here (nats.go copies it out).
			if err := w.nc.Publish(w.subject, p[:w.max]); err != nil {
				return 0, err
			}
			p = p[w.max:]
			continue
		}
		k := min(len(p), w.max-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.max {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends what is buffered.
func (w *resultWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.nc.Publish(w.subject, w.buf)
	w.buf = w.buf[:0]
	return err
}

// awaitParams feeds h the params as they arrive after the handshake; tried is how many bytes h
// has already seen (the invocation's own).
func (s *Server) awaitParams(inv *invocation, h Handler, tried int) (Call, error) {
	timer := time.NewTimer(s.paramsTimeout)
	defer timer.Stop()
	for {
		buf, eof, tooLarge, failed := inv.snapshot()
		if failed != nil {
			return nil, failed
		}
		if tooLarge {
			return nil, fmt.Errorf("params exceed %d bytes", s.maxParams)
		}
		if len(buf) > tried {
			tried = len(buf)
			// The timeout is the longest pause between two messages, not a bound on them
			// all: a large value streamed from a slow uploader keeps arriving.
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(s.paramsTimeout)
			run, err := h(buf)
			if !errors.Is(err, wire.ErrTruncated) {
				return run, err
			}
			// Room for the whole params at once, when they say how long they are: a large
			// value is then not copied each time the buffer would have grown.
			var te *wire.TruncatedError
			if errors.As(err, &te) {
				if te.Need > uint64(s.maxParams) {
					return nil, fmt.Errorf("params announce %d bytes, more than the %d accepted", te.Need, s.maxParams)
				}
				inv.reserve(int(te.Need))
			}
		}
		if eof {
			return nil, fmt.Errorf("params ended after %d bytes, before a complete value", len(buf))
		}
		select {
		case <-inv.ready:
		case <-timer.C:
			return nil, fmt.Errorf("no more params for %v, before a complete value", s.paramsTimeout)
		case <-s.baseCtx.Done():
			return nil, s.baseCtx.Err()
		}
	}
}
