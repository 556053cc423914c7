package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Request bodies are buffered whole: a value travels in one wRPC call, and a JSON body is
// validated whole. So that many requests at once cannot make the gateway buffer without
// bound, all bodies share a budget of MaxBufferedBytes. A request reserves its declared
// Content-Length (its limit when it declares none) before reading any of it, waits up to
// BufferWait when the budget is spent, and holds the reservation until it is answered.
// Memory itself grows with the bytes that arrive, not with what a header announces. A body
// that stops arriving for BodyIdleTimeout ends the request with 408, so a client that sends
// headers and then nothing cannot hold a reservation for ever.

// bodyBudget is the share of MaxBufferedBytes still free.
type bodyBudget struct {
	sem      *semaphore.Weighted
	size     int64
	wait     time.Duration
	observer Observer
}

func newBodyBudget(size int64, wait time.Duration, o Observer) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(size), size: size, wait: wait, observer: o}
}

// reserve takes n bytes of the budget, waiting at most b.wait, and returns the function that
// gives them back (safe to call more than once).
func (b *bodyBudget) reserve(ctx context.Context, n int64) (func(), error) {
	if !b.sem.TryAcquire(n) {
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if b.observer != nil {
			b.observer.BodyWaited(time.Since(start), err == nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err() // the client went away
			}
			return nil, newProblem(kindUnavailable,
				"the gateway is already buffering request bodies up to its limit of %d bytes; retry shortly", b.size)
		}
	}
	if b.observer != nil {
		b.observer.BodyBuffered(n)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.sem.Release(n)
			if b.observer != nil {
				b.observer.BodyBuffered(-n)
			}
		})
	}, nil
}

// readBody reads the body of r, at most limit bytes, within the body budget; in.release
// gives the reservation back once the request is answered. what names the body in errors.
// A request without a body reads as empty.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, in *input, limit int64, what string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(what, limit)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return []byte{}, nil
	}
	n := r.ContentLength
	if n < 0 {
		n = limit
	}
	release, err := h.budget.reserve(r.Context(), n)
	if err != nil {
		return nil, err
	}
	in.release = release
	body, done := h.bodyReader(w, r, limit)
	defer done()
	data, err := readGrowing(body, n)
	if err == nil && r.ContentLength > int64(len(data)) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, h.bodyError(w, err, what, limit)
	}
	return data, nil
}

// bodyReader returns r's body, at most limit bytes of it, each read with BodyIdleTimeout to
// deliver; done must be called once the body is read.
func (h *handler) bodyReader(w http.ResponseWriter, r *http.Request, limit int64) (body io.Reader, done func()) {
	body = http.MaxBytesReader(w, r.Body, limit)
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Time{}) != nil { // not a server connection: a test recorder
		return body, func() {}
	}
	// Cleared once the body is read: the server watches the idle connection for a hang-up
	// while the request is served, and a deadline passing then would cancel it.
	return &idleReader{r: body, rc: rc, idle: h.opts.BodyIdleTimeout}, func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// bodyError is the problem of a body that could not be read.
func (h *handler) bodyError(w http.ResponseWriter, err error, what string, limit int64) error {
	// What is left of the body on the connection is no request: close it after the answer
	// rather than let the server read on to reuse it.
	w.Header().Set("Connection", "close")
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p := newProblem(kindBodyTimeout, "no byte of %s arrived for %v", what, h.opts.BodyIdleTimeout)
		p.cause = err
		return p
	}
	return readError(err, what, limit)
}

// streamChunk is what a streamed body holds in memory at a time, and reserves of the budget.
const streamChunk = 1 << 20

// recordingReader remembers the first error its reader returned, and counts the bytes.
type recordingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	if err != nil && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// idleReader gives each read of a body a deadline of idle from the moment it starts.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if err := ir.rc.SetReadDeadline(time.Now().Add(ir.idle)); err != nil {
		return 0, err
	}
	return ir.r.Read(p)
}

// errBodyTooLong is a body that goes on past the length it declared.
var errBodyTooLong = errors.New("body longer than declared")

// readGrowing reads r to its end, expecting at most n bytes. The buffer starts small and
// doubles as bytes arrive, up to n, so a length announced but never sent costs no memory.
func readGrowing(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 64<<10))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), n))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	var probe [1]byte
	for {
		m, err := r.Read(probe[:])
		if m > 0 {
			return nil, errBodyTooLong
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
