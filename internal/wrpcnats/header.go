package wrpcnats

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
)

type callHeaderKey struct{}

type invocationHeaderKey struct{}

// WithCallHeader returns a context whose calls carry h on their invocation message, in
// addition to the client's static headers (h wins for keys in both). Use it for per-call
// values such as W3C trace context (traceparent).
func WithCallHeader(ctx context.Context, h nats.Header) context.Context {
	return context.WithValue(ctx, callHeaderKey{}, h)
}

type resultSizerKey struct{}

// WithResultSizer returns a context whose calls give the first message of their results to
// size, which says from it how long the results are in all (0: it cannot tell). The client
// then makes room for them at once instead of growing its buffer as they arrive. size must
// have no side effects: it runs on the connection's delivery goroutine.
func WithResultSizer(ctx context.Context, size func(first []byte) uint64) context.Context {
	return context.WithValue(ctx, resultSizerKey{}, size)
}

func resultSizer(ctx context.Context) func([]byte) uint64 {
	f, _ := ctx.Value(resultSizerKey{}).(func([]byte) uint64)
	return f
}

// CallHeader returns the per-call headers set with WithCallHeader, or nil.
func CallHeader(ctx context.Context) nats.Header {
	h, _ := ctx.Value(callHeaderKey{}).(nats.Header)
	return h
}

// InvocationHeader returns the NATS headers of the invocation a handler is serving, or nil.
// The returned header must not be modified.
func InvocationHeader(ctx context.Context) nats.Header {
	h, _ := ctx.Value(invocationHeaderKey{}).(nats.Header)
	return h
}

// headerBlockSize is the size of h encoded as a NATS header block, which counts against the
// server's max_payload together with the data.
func headerBlockSize(h nats.Header) int {
	if len(h) == 0 {
		return 0
	}
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

func mergeHeaders(static, call nats.Header) nats.Header {
	switch {
	case len(call) == 0:
		return static
	case len(static) == 0:
		return call
	}
	h := make(nats.Header, len(static)+len(call))
	for k, v := range static {
		h[k] = v
	}
	for k, v := range call {
		h[k] = v
	}
	return h
}

// HeaderCarrier carries text such as W3C trace context (traceparent, tracestate) in NATS
// headers, under lower-case names as wasmCloud and the Rust wRPC transport send them; Get
// matches names in any case. It has the methods of OpenTelemetry's TextMapCarrier.
type HeaderCarrier nats.Header

// Get returns the first value of key, whatever the case of its name.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Set replaces the values of key, whatever the case of its name, with value under the
// lower-case name.
func (c HeaderCarrier) Set(key, value string) {
	for k := range c {
		if strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[strings.ToLower(key)] = []string{value}
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
