package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// record is what the request log learns about one request while it is served. It is the
// request's ResponseWriter too, counting the status and bytes written.
type record struct {
	http.ResponseWriter
	status    int
	bytes     int64
	err       error
	operation string
	caller    string       // the token id (or JWT subject) once authenticated
	authKind  string       // auth.KindToken or auth.KindJWT
	body      countingBody // the request body, counting what is read
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	r interface {
		Read([]byte) (int, error)
		Close() error
	}
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

func (rec *record) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *record) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer (Flush, deadlines).
func (rec *record) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// recordKey is the context key of the request's *record.
type recordKey struct{}

// recordFrom returns the request's record, or nil outside logRequests.
func recordFrom(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

var recordPool = sync.Pool{New: func() any { return new(record) }}

// logRequests logs one record per request: method, escaped path, status, duration, bytes
// written and, for failures, the error behind the response (which the client does not see).
// Probes log at Debug; failures of the provider (502, 503 and 504 answers, with the wRPC
// error) and responses cut off part way at Warn; everything else at Info.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recordPool.Get().(*record)
		*rec = record{ResponseWriter: w, operation: OperationNoRoute}
		if r.Body != nil && r.Body != http.NoBody {
			rec.body.r = r.Body
			r.Body = &rec.body
		}
		if h.observer != nil {
			h.observer.RequestStarted()
		}
		defer func() {
			v := recover() // only http.ErrAbortHandler gets past recoverPanics
			h.logRequest(r, rec, start, v != nil)
			*rec = record{}
			recordPool.Put(rec)
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
	})
}

func (h *handler) logRequest(r *http.Request, rec *record, start time.Time, aborted bool) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	duration := time.Since(start)
	if h.observer != nil {
		h.observer.RequestDone(Request{Operation: rec.operation, Status: status, Duration: duration,
			RequestBytes: rec.body.n, ResponseBytes: rec.bytes})
	}
	level := slog.LevelInfo
	switch {
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		level = slog.LevelDebug
	case aborted, status == http.StatusBadGateway, status == http.StatusServiceUnavailable,
		status == http.StatusGatewayTimeout:
		level = slog.LevelWarn
	}
	ctx := r.Context()
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := [13]slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", status),
		slog.Duration("duration", duration),
		slog.Int64("bytes", rec.bytes),
		slog.String("request_id", RequestID(ctx)),
	}
	n := 6
	if rec.caller != "" {
		attrs[n] = slog.String("token_id", rec.caller)
		attrs[n+1] = slog.String("auth", rec.authKind)
		n += 2
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs[n] = slog.String("trace_id", sc.TraceID().String())
		attrs[n+1] = slog.String("span_id", sc.SpanID().String())
		n += 2
	}
	if rec.err != nil {
		attrs[n] = slog.String("error", rec.err.Error())
		n++
	}
	if aborted {
		attrs[n] = slog.Bool("aborted", true)
		n++
	}
	h.log.LogAttrs(ctx, level, "http request", attrs[:n]...)
}

// recoverPanics answers a handler's panic with a 500 problem (when nothing was written yet)
// and records it for the log. http.ErrAbortHandler keeps its meaning.
func (h *handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := &problem{kind: kindInternal, detail: "the gateway failed to handle the request", cause: panicError{v, debug.Stack()}}
			rec := recordFrom(r.Context())
			if rec != nil {
				rec.err = err.cause
			}
			if rec == nil || rec.status != 0 {
				// The response has begun: no problem can be sent any more, and ending the
				// handler normally would make a truncated body look complete. Aborting
				// makes the server cut the connection (or reset the HTTP/2 stream).
				panic(http.ErrAbortHandler)
			}
			writeProblem(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// panicError carries a recovered panic and its stack to the log.
type panicError struct {
	v     any
	stack []byte
}

func (e panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.v, e.stack) }
