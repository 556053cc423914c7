package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Request describes one answered request, for an Observer.
type Request struct {
	// Operation is the operationId of openapi.yaml the request was routed to, or one of
	// OperationUI, OperationOptions and OperationNoRoute.
	Operation string
	Status    int
	Duration  time.Duration
	// RequestBytes is the body bytes read; ResponseBytes the body bytes written.
	RequestBytes, ResponseBytes int64
}

// Operation names of requests outside the operations of openapi.yaml.
const (
	OperationUI      = "ui"       // the browser UI
	OperationOptions = "options"  // OPTIONS, CORS preflights included
	OperationNoRoute = "no_route" // no route matches: 404 no-such-route, 405
)

// An Observer learns of every request and of the request bodies buffered (metrics). Its
// methods must not block.
type Observer interface {
	RequestStarted()
	RequestDone(r Request)
	// BodyBuffered reports a change of the body budget in use: +n when a request reserves
	// n bytes, -n when it gives them back.
	BodyBuffered(delta int64)
	// BodyWaited reports a request that found the budget spent and waited for room: how
	// long, and whether it got it.
	BodyWaited(d time.Duration, ok bool)
}

// traceContext is the W3C trace-context propagator (traceparent, tracestate).
var traceContext = propagation.TraceContext{}

// traceRequests continues the caller's W3C trace context: with a tracer provider, in a server
// span per request (named by its operation once routed, see named); without one, the context
// alone rides along, so that the calls made for the request carry it on to the provider.
func (h *handler) traceRequests(next http.Handler) http.Handler {
	if h.opts.TracerProvider == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("traceparent") != "" {
				r = r.WithContext(traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
			}
			next.ServeHTTP(w, r)
		})
	}
	return otelhttp.NewHandler(next, "http",
		otelhttp.WithTracerProvider(h.opts.TracerProvider),
		otelhttp.WithPropagators(traceContext),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + OperationNoRoute }),
		// Probes and scrapes come every few seconds and say nothing about requests.
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// named gives the request's span the operation's name and route, and its record the
// operation.
func named(r *http.Request, operation, route string) {
	if rec := recordFrom(r.Context()); rec != nil {
		rec.operation = operation
	}
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetName(operation)
		span.SetAttributes(attribute.String("http.route", route))
	}
}

// requestIDKey is the context key of the request's id.
type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// maxRequestIDLen bounds an X-Request-Id taken from the client.
const maxRequestIDLen = 128

// validRequestID reports whether a client's X-Request-Id may be kept: 1 to 128 visible ASCII
// characters, so that it cannot split a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// identifyRequests takes the request's X-Request-Id, or makes one, echoes it on the response
// and keeps it for the log.
func identifyRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}
