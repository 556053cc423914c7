package client

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Call describes one finished call, for a CallObserver.
type Call struct {
	// Interface is the interface's short name: "store", "atomics" or "batch".
	Interface string
	// Function is the WIT function: "get", "get-many", ...
	Function string
	Duration time.Duration
	// SentBytes and ReceivedBytes count the encoded params and results.
	SentBytes, ReceivedBytes int
	// Err is what the call returned: nil, a provider answer or a failure; keyvalue.ErrorKind
	// names it.
	Err error
}

// A CallObserver learns of every call a KeyValue makes (metrics). CallDone must not block.
type CallObserver interface {
	CallDone(c Call)
}

// WithObserver has o learn of every call.
func WithObserver(o CallObserver) Option {
	return func(c *config) error { c.observer = o; return nil }
}

// WithTracerProvider makes a client span of every call with tp's tracer, following the RPC
// semantic conventions (rpc.system wrpc, rpc.service the interface, rpc.method the function,
// the NATS subject as messaging.destination.name). Whatever the tracer provider, the trace
// context of the caller's ctx travels in the invocation's traceparent and tracestate
// headers, as wasmCloud hosts send it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error { c.tracer = tp.Tracer(instrumentation); return nil }
}

// instrumentation names this package to OpenTelemetry.
const instrumentation = "github.com/wrpc-kv/gateway/client"

var noopTracer = noop.NewTracerProvider().Tracer(instrumentation)

// traceContext is the W3C trace-context propagator (traceparent, tracestate).
var traceContext = propagation.TraceContext{}

// shortInterface returns "store" for "wrpc:keyvalue/store@0.2.0-draft".
func shortInterface(instance string) string {
	_, s, _ := strings.Cut(instance, "/")
	s, _, _ = strings.Cut(s, "@")
	return s
}

// startSpan starts the client span of a call and puts the trace context into its headers.
func (kv *KeyValue) startSpan(ctx context.Context, instance, fn string) (context.Context, trace.Span) {
	ctx, span := kv.tracer.Start(ctx, instance+"/"+fn, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("rpc.system", "wrpc"),
			attribute.String("rpc.service", instance),
			attribute.String("rpc.method", fn),
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", wrpcnats.Subject(kv.prefix, instance, fn)),
		)
	}
	if sc := span.SpanContext(); sc.IsValid() {
		h := nats.Header{}
		for k, v := range wrpcnats.CallHeader(ctx) {
			h[k] = v
		}
		traceContext.Inject(ctx, wrpcnats.HeaderCarrier(h))
		ctx = wrpcnats.WithCallHeader(ctx, h)
	}
	return ctx, span
}

// endSpan ends a call's span with its outcome.
func endSpan(span trace.Span, err error) {
	if span.IsRecording() && err != nil {
		kind := keyvalue.ErrorKind(err)
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}
