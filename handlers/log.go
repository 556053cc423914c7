package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// record is what the request log learns about one request while it is served. It is the
// request's ResponseWriter too, counting the status and bytes written.
type record struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
}

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
// Probes log at Debug, everything else at Info.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recordPool.Get().(*record)
		*rec = record{ResponseWriter: w}
		defer func() {
			*rec = record{}
			recordPool.Put(rec)
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))

		level := slog.LevelInfo
		if p := r.URL.Path; p == "/healthz" || p == "/readyz" {
			level = slog.LevelDebug
		}
		ctx := r.Context()
		if !h.log.Enabled(ctx, level) {
			return
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		attrs := [7]slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.EscapedPath()),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", rec.bytes),
		}
		n := 5
		if rec.err != nil {
			attrs[n] = slog.String("error", rec.err.Error())
			n++
		}
		h.log.LogAttrs(ctx, level, "http request", attrs[:n]...)
	})
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
			if rec := recordFrom(r.Context()); rec != nil {
				rec.err = err.cause
				if rec.status != 0 {
					return
				}
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
