package wrpcnats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wire"
)

// Version is the wRPC protocol version carried in every invocation subject.
const Version = "wrpc.0.0.1"

// Subject returns the invocation subject of a function: <prefix>.wrpc.0.0.1.<instance>.<fn>,
// without the leading "<prefix>." when prefix is empty.
func Subject(prefix, instance, fn string) string {
	s := Version + "." + instance + "." + fn
	if prefix != "" {
		s = prefix + "." + s
	}
	return s
}

// Defaults of a Client.
const (
	DefaultMaxResultBytes = 64 << 20
	// DefaultHandshakeTimeout is short: a server sends its handshake before it runs the
	// function, so it comes within milliseconds unless the invocation was lost.
	DefaultHandshakeTimeout = 3 * time.Second
)

// Client invokes functions served over wRPC. It is safe for concurrent use; all calls share one
// inbox subscription.
type Client struct {
	nc               *nats.Conn
	mux              *mux
	prefix           string
	header           nats.Header
	maxResult        int
	handshakeTimeout time.Duration
	closed           atomic.Bool

	subjectsMu sync.RWMutex
	subjects   map[function]string // invocation subjects, built once per function
}

type function struct{ instance, name string }

// subject returns the invocation subject of fn under the client's prefix.
func (c *Client) subject(instance, fn string) string {
	key := function{instance, fn}
	c.subjectsMu.RLock()
	s, ok := c.subjects[key]
	c.subjectsMu.RUnlock()
	if ok {
		return s
	}
	s = Subject(c.prefix, instance, fn)
	c.subjectsMu.Lock()
	if c.subjects == nil {
		c.subjects = make(map[function]string)
	}
	c.subjects[key] = s
	c.subjectsMu.Unlock()
	return s
}

// A ClientOption configures a Client.
type ClientOption func(*Client) error

// WithPrefix sets the subject prefix of the invoked functions (wasmCloud uses
// "<lattice>.<provider-id>").
func WithPrefix(prefix string) ClientOption {
	return func(c *Client) error { c.prefix = prefix; return nil }
}

// WithHeader adds static headers to every invocation (wasmCloud providers need source-id and
// link-name).
func WithHeader(h nats.Header) ClientOption {
	return func(c *Client) error {
		if c.header == nil {
			c.header = nats.Header{}
		}
		for k, v := range h {
			c.header[k] = append([]string(nil), v...)
		}
		return nil
	}
}

// WithMaxResultBytes caps the size of a call's results. A peer sending more fails the call
// with ErrResultTooLarge instead of making the caller buffer without bound.
func WithMaxResultBytes(n int) ClientOption {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("wrpc: max result bytes must be positive, got %d", n)
		}
		c.maxResult = n
		return nil
	}
}

// WithHandshakeTimeout bounds the wait for the server's handshake, within the call's own
// deadline. Zero leaves only the call's deadline.
func WithHandshakeTimeout(d time.Duration) ClientOption {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("wrpc: handshake timeout must not be negative, got %v", d)
		}
		c.handshakeTimeout = d
		return nil
	}
}

// NewClient returns a client calling over nc. It subscribes to its inbox at once.
func NewClient(nc *nats.Conn, opts ...ClientOption) (*Client, error) {
	c := &Client{nc: nc, maxResult: DefaultMaxResultBytes, handshakeTimeout: DefaultHandshakeTimeout}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	m, err := newMux(nc)
	if err != nil {
		return nil, fmt.Errorf("wrpc: subscribe inbox: %w", err)
	}
	c.mux = m
	return c, nil
}

// InboxRotations counts the times the client moved its calls to a fresh inbox because a peer
// went on sending to a call that had ended.
func (c *Client) InboxRotations() int64 { return c.mux.rotations.Load() }

// Close unsubscribes the client's inbox; calls in flight fail.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.mux.close()
}

// call is the state of one invocation, fed by the mux.
type call struct {
	stream   // results
	sizer    func(first []byte) uint64
	hs       bool
	hsReply  string
	hsStatus string
	hsDesc   string
}

func (c *call) receive(suffix string, m *nats.Msg) {
	c.mu.Lock()
	switch suffix {
	case "":
		if !c.hs { // a second handshake (servers without a queue group) is ignored
			c.hs = true
			if st := m.Header.Get("Status"); st != "" && len(m.Data) == 0 {
				c.hsStatus, c.hsDesc = st, m.Header.Get("Description")
			} else {
				c.hsReply = m.Reply
			}
		}
	case "results":
		if c.sizer != nil && len(c.buf) == 0 && cap(c.buf) == 0 {
			// Room for all of the results before the rest of them arrives.
			if need := c.sizer(m.Data); need > uint64(len(m.Data)) && need <= uint64(c.limit) {
				c.buf = make([]byte, 0, int(need))
				c.paceLocked(int(need))
			}
		}
		c.appendLocked(m.Data)
	default:
		// Nested result streams: no function of the keyvalue world has one.
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.wake()
}

// Invoke calls fn of instance with the encoded params and feeds the results to decode.
//
// decode is called with all result bytes received so far, each time more arrive. It returns
// nil once it has decoded a complete value, or an error matching wire.ErrTruncated while the
// value is incomplete; any other error fails the call with ErrProtocol. decode may keep
// slices of the bytes it decodes a complete value from: they are never written again.
//
// Invoke honours ctx at every wait. Errors: ErrNoResponders as soon as NATS reports that
// nobody serves the subject; ErrTimeout (also matching context.DeadlineExceeded) when a
// deadline passes; ErrRemoteFailure when the results end before a complete value;
// ErrResultTooLarge; ErrProtocol.
func (c *Client) Invoke(ctx context.Context, instance, fn string, params []byte, decode func([]byte) error) error {
	return c.InvokeLimit(ctx, instance, fn, params, c.maxResult, decode)
}

// InvokeLimit is Invoke with its own cap on the size of the results instead of the client's
// (WithMaxResultBytes). The call fails with ErrResultTooLarge as soon as the results pass
// maxResult bytes, or as soon as decode reports (with a *wire.TruncatedError) that the value
// being sent needs more than maxResult bytes: a peer announcing a value larger than the
// caller accepts is refused before its bytes are buffered. What the peer still sends for a
// call that has returned is dropped on arrival.
func (c *Client) InvokeLimit(ctx context.Context, instance, fn string, params []byte, maxResult int, decode func([]byte) error) (err error) {
	cl, reply, end, err := c.begin(ctx, maxResult)
	if err != nil {
		return err
	}
	defer func() { end(err) }()

	subject := c.subject(instance, fn)
	hdr := mergeHeaders(c.header, CallHeader(ctx))
	maxPayload := int(c.nc.MaxPayload())
	first := min(len(params), max(0, maxPayload-len(subject)-len(reply)-headerBlockSize(hdr)))
	if err := c.publishInvocation(subject, reply, hdr, params[:first]); err != nil {
		return err
	}

	paramsSubject, err := c.awaitHandshake(ctx, cl)
	if err != nil {
		return err
	}
	if err := c.publishSplit(paramsSubject, params[first:], maxPayload); err != nil {
		return err
	}
	if err := c.nc.Publish(paramsSubject, nil); err != nil {
		return fmt.Errorf("wrpc: publish end of params: %w", err)
	}
	return c.awaitResults(ctx, cl, subject, maxResult, decode)
}

// begin checks that a call can be made and registers it with the mux. end(err), with the
// call's error, must follow: a call refused for what its peer sends may have the peer still
// sending, and the mux then moves on to a fresh inbox, so the NATS server stops forwarding the
// rest.
func (c *Client) begin(ctx context.Context, maxResult int) (cl *call, reply string, end func(error), err error) {
	if maxResult <= 0 {
		return nil, "", nil, fmt.Errorf("wrpc: max result bytes must be positive, got %d", maxResult)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", nil, ctxError(err, "before invoking")
	}
	if c.closed.Load() {
		return nil, "", nil, ErrClosed
	}
	if !c.nc.IsConnected() {
		return nil, "", nil, fmt.Errorf("%w: connection is %s", ErrNotConnected, c.nc.Status())
	}
	cl = &call{stream: newStream(nil, maxResult), sizer: resultSizer(ctx)}
	token, reply := c.mux.register(cl)
	return cl, reply, func(err error) {
		c.mux.unregister(token, errors.Is(err, ErrResultTooLarge) || errors.Is(err, ErrProtocol))
		cl.done()
	}, nil
}

// publishInvocation sends the first message of a call, which names its reply inbox.
func (c *Client) publishInvocation(subject, reply string, hdr nats.Header, data []byte) error {
	if err := c.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Header: hdr, Data: data}); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) {
			return fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		return fmt.Errorf("wrpc: publish invocation to %s: %w", subject, err)
	}
	return nil
}

// publishSplit sends b to subject in messages of at most maxPayload bytes (none when b is
// empty).
func (c *Client) publishSplit(subject string, b []byte, maxPayload int) error {
	for len(b) > 0 {
		n := min(len(b), maxPayload)
		if err := c.nc.Publish(subject, b[:n]); err != nil {
			return fmt.Errorf("wrpc: publish params: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// InvokeFrom is InvokeLimit with params that are head followed by the size bytes read from
// body: a large value goes out as it is read, a message at a time, and is never held whole.
// The call's deadline is resultTimeout from the moment the last byte is sent (ctx may bound
// the whole call); until then, how long body takes to deliver is body's business. A read of
// body that fails, or ends early, stops the params short: the server finds them incomplete
// and fails the call without running it, and InvokeFrom returns the read's error.
func (c *Client) InvokeFrom(ctx context.Context, instance, fn string, head []byte, body io.Reader, size int64,
	resultTimeout time.Duration, maxResult int, decode func([]byte) error) (err error) {
	cl, reply, end, err := c.begin(ctx, maxResult)
	if err != nil {
		return err
	}
	defer func() { end(err) }()

	subject := c.subject(instance, fn)
	hdr := mergeHeaders(c.header, CallHeader(ctx))
	maxPayload := int(c.nc.MaxPayload())
	buf := make([]byte, min(int64(maxPayload), int64(len(head))+size))
	room := max(0, maxPayload-len(subject)-len(reply)-headerBlockSize(hdr))
	n := copy(buf[:min(room, len(buf))], head)
	left := size
	var readErr error
	// fill reads body into buf[from:to], within what is left of it.
	fill := func(from, to int) int {
		k := int(min(int64(to-from), left))
		if readErr != nil || k <= 0 {
			return from
		}
		got, err := io.ReadFull(body, buf[from:from+k])
		left -= int64(got)
		if err != nil {
			readErr = fmt.Errorf("wrpc: reading the params: %w", err)
		}
		return from + got
	}
	first := buf[:n]
	if n == len(head) { // head fits: the first message takes the start of body as well
		first = buf[:fill(n, min(room, len(buf)))]
	}
	if err := c.publishInvocation(subject, reply, hdr, first); err != nil {
		return err
	}
	paramsSubject, err := c.awaitHandshake(ctx, cl)
	if err != nil {
		return err
	}
	// The rest of head, if the first message could not take it all.
	if err := c.publishSplit(paramsSubject, head[n:], maxPayload); err != nil {
		return err
	}
	for left > 0 && readErr == nil {
		k := fill(0, maxPayload)
		if k > 0 {
			if err := c.nc.Publish(paramsSubject, buf[:k]); err != nil {
				return fmt.Errorf("wrpc: publish params: %w", err)
			}
		}
	}
	if err := c.nc.Publish(paramsSubject, nil); err != nil {
		return fmt.Errorf("wrpc: publish end of params: %w", err)
	}
	if readErr != nil {
		return readErr
	}
	ctx, cancel := context.WithTimeout(ctx, resultTimeout)
	defer cancel()
	return c.awaitResults(ctx, cl, subject, maxResult, decode)
}

// awaitResults feeds decode the results of the call cl as they arrive, until it decodes
// them or the call fails.
func (c *Client) awaitResults(ctx context.Context, cl *call, subject string, maxResult int, decode func([]byte) error) error {
	// need is the least length the results must reach before decoding them again can
	// succeed: one byte more than was tried, or what the value's own length prefix says.
	need := 1
	for {
		buf, eof, tooLarge, failed := cl.snapshot()
		if failed != nil {
			return failed
		}
		if tooLarge {
			return fmt.Errorf("%w: more than %d bytes", ErrResultTooLarge, maxResult)
		}
		if len(buf) >= need {
			need = len(buf) + 1
			err := decode(buf)
			if err == nil {
				return nil
			}
			if !errors.Is(err, wire.ErrTruncated) {
				return fmt.Errorf("%w: results of %s: %w", ErrProtocol, subject, err)
			}
			var te *wire.TruncatedError
			if errors.As(err, &te) {
				if te.Need > uint64(maxResult) {
					return fmt.Errorf("%w: the results of %s announce a value of at least %d bytes; the limit is %d",
						ErrResultTooLarge, subject, te.Need, maxResult)
				}
				need = max(need, int(te.Need))
				cl.reserve(need) // room for all of it at once: no copy each time it would grow
			}
		}
		if eof {
			return fmt.Errorf("%w (%s, %d bytes received)", ErrRemoteFailure, subject, len(buf))
		}
		select {
		case <-cl.ready:
		case <-ctx.Done():
			return ctxError(ctx.Err(), "awaiting results")
		}
	}
}

// awaitHandshake waits for the server's handshake and returns the subject for the rest of the
// params.
func (c *Client) awaitHandshake(ctx context.Context, cl *call) (string, error) {
	var timeout <-chan time.Time
	if c.handshakeTimeout > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.handshakeTimeout {
			t := time.NewTimer(c.handshakeTimeout)
			defer t.Stop()
			timeout = t.C
		}
	}
	for {
		cl.mu.Lock()
		hs, reply, status, desc, failed := cl.hs, cl.hsReply, cl.hsStatus, cl.hsDesc, cl.failed
		cl.mu.Unlock()
		if failed != nil {
			return "", failed
		}
		if hs {
			switch {
			case status == "503":
				return "", ErrNoResponders
			case status == "408":
				return "", fmt.Errorf("%w: NATS status 408 %s", ErrTimeout, desc)
			case status != "":
				return "", fmt.Errorf("%w: handshake carries NATS status %s %s", ErrProtocol, status, desc)
			case reply == "":
				return "", fmt.Errorf("%w: peer did not specify a reply subject", ErrProtocol)
			}
			return reply + ".params", nil
		}
		select {
		case <-cl.ready:
		case <-timeout:
			return "", fmt.Errorf("%w (%w): no handshake within %v", ErrNoHandshake, ErrTimeout, c.handshakeTimeout)
		case <-ctx.Done():
			return "", ctxError(ctx.Err(), "awaiting handshake")
		}
	}
}

func ctxError(err error, stage string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w %s: %w", ErrTimeout, stage, err)
	}
	return fmt.Errorf("wrpc: %s: %w", stage, err)
}

// Serves reports whether anybody serves fn of instance: true as soon as a server answers an
// invocation with its handshake, false when NATS says nobody subscribes to the subject. The
// invocation carries no params and ends them at once, so no function runs: the server fails
// the call as undecodable, at the cost of a line in its log. Other failures (timeout, no
// connection) are errors.
func (c *Client) Serves(ctx context.Context, instance, fn string) (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	if !c.nc.IsConnected() {
		return false, fmt.Errorf("%w: connection is %s", ErrNotConnected, c.nc.Status())
	}
	cl := &call{stream: newStream(nil, 1)}
	token, reply := c.mux.register(cl)
	defer c.mux.unregister(token, false)
	subject := c.subject(instance, fn)
	if err := c.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Header: c.header}); err != nil {
		return false, fmt.Errorf("wrpc: publish probe to %s: %w", subject, err)
	}
	paramsSubject, err := c.awaitHandshake(ctx, cl)
	switch {
	case errors.Is(err, ErrNoResponders):
		return false, nil
	case err != nil:
		return false, err
	}
	_ = c.nc.Publish(paramsSubject, nil) // end of params: the server gives up at once
	return true, nil
}
