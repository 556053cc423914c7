package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// observed records what an Observer is told.
type observed struct {
	mu       sync.Mutex
	started  int
	done     []Request
	buffered int64
	waits    int
}

func (o *observed) RequestStarted() { o.mu.Lock(); o.started++; o.mu.Unlock() }
func (o *observed) RequestDone(r Request) {
	o.mu.Lock()
	o.done = append(o.done, r)
	o.mu.Unlock()
}
func (o *observed) BodyBuffered(d int64) { o.mu.Lock(); o.buffered += d; o.mu.Unlock() }
func (o *observed) BodyWaited(time.Duration, bool) {
	o.mu.Lock()
	o.waits++
	o.mu.Unlock()
}

func TestObserver(t *testing.T) {
	o := &observed{}
	g := newGW(t, Options{Observer: o, UI: http.NotFoundHandler()})
	o.mu.Lock()
	o.done, o.started = nil, 0
	o.mu.Unlock()
	g.put(t, "/buckets/b/keys/k", []byte("hello"))
	g.get(t, "/buckets/b/keys/k")
	g.get(t, "/buckets/b/keys/missing")
	g.do(t, req{method: http.MethodOptions, target: "/buckets/b/keys/k"})
	g.get(t, "/buckets")
	o.mu.Lock()
	defer o.mu.Unlock()
	want := []Request{
		{Operation: "putValue", Status: 204, RequestBytes: 5},
		{Operation: "getValue", Status: 200, ResponseBytes: 5},
		{Operation: "getValue", Status: 404},
		{Operation: OperationOptions, Status: 204},
		{Operation: OperationNoRoute, Status: 404},
	}
	if o.started != len(want) || len(o.done) != len(want) {
		t.Fatalf("started %d, done %d; want %d each", o.started, len(o.done), len(want))
	}
	for i, w := range want {
		got := o.done[i]
		if got.Operation != w.Operation || got.Status != w.Status || got.RequestBytes != w.RequestBytes ||
			(w.ResponseBytes != 0 && got.ResponseBytes != w.ResponseBytes) || got.Duration <= 0 {
			t.Errorf("request %d = %+v; want %+v", i, got, w)
		}
	}
	if o.buffered != 0 {
		t.Errorf("body budget in use after every request ended: %d bytes", o.buffered)
	}
}

// /metrics is served by Options.Metrics, and is no route without it.
func TestMetricsRoute(t *testing.T) {
	g := newGW(t, Options{})
	wantProblem(t, "GET", "/metrics", g.get(t, "/metrics"), 404, "/problems/no-such-route", "not served on this address")
	g = newGW(t, Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("up 1\n"))
	})})
	res := g.get(t, "/metrics")
	if res.status != 200 || string(res.body) != "up 1\n" {
		t.Errorf("GET /metrics = %d %q", res.status, res.body)
	}
}

// X-Request-Id is echoed when it is safe, made up otherwise, and named in the log line.
func TestRequestID(t *testing.T) {
	sink := &logSink{}
	g := newGW(t, Options{Logger: slog.New(sink)})
	res := g.do(t, req{method: http.MethodGet, target: "/healthz", header: map[string]string{"X-Request-Id": "abc-123"}})
	if got := res.header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id = %q; want the client's", got)
	}
	for _, bad := range []string{"", "two words", strings.Repeat("x", 129), "bell\a"} {
		res := g.do(t, req{method: http.MethodGet, target: "/healthz", header: map[string]string{"X-Request-Id": bad}})
		if got := res.header.Get("X-Request-Id"); len(got) != 32 || got == bad {
			t.Errorf("X-Request-Id for %q = %q; want a new 32-digit id", bad, got)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	attrs := map[string]string{}
	sink.records[len(sink.records)-5].Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if attrs["request_id"] != "abc-123" {
		t.Errorf("log line attrs %v; want request_id abc-123", attrs)
	}
}

// Without a tracer, a request's trace context reaches the provider unchanged, on the wRPC
// call made for it; with one, the request gets a server span named by its operation, the
// provider sees the client span as the parent, and the trace id is logged.
func TestTraceContext(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	// kvtest's bucket "headers" answers get(name) with the invocation's header name.
	g := newGW(t, Options{Store: kvtest.Answering(memory.New())})
	res := g.do(t, req{method: http.MethodGet, target: "/buckets/headers/keys/traceparent", header: map[string]string{"traceparent": tp, "tracestate": "vendor=1"}})
	if string(res.body) != tp {
		t.Errorf("the provider saw traceparent %q; want the caller's %q", res.body, tp)
	}
	if res := g.get(t, "/buckets/headers/keys/tracestate"); res.status != 404 {
		t.Errorf("a request without trace context sent tracestate %q", res.body)
	}

	rec := tracetest.NewSpanRecorder()
	sink := &logSink{}
	tpr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	g = newGW(t, Options{Store: kvtest.Answering(memory.New()), TracerProvider: tpr, Logger: slog.New(sink)})
	res = g.do(t, req{method: http.MethodGet, target: "/buckets/headers/keys/traceparent", header: map[string]string{"traceparent": tp}})
	g.get(t, "/healthz")
	var spans []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() != "getOpenAPIYAML" { // newGW reads the spec
			spans = append(spans, sp)
		}
	}
	if len(spans) != 1 {
		t.Fatalf("%d spans; want one (probes make none)", len(spans))
	}
	sp := spans[0]
	if sp.Name() != "getValue" || sp.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" ||
		sp.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span %s trace %s parent %s; want getValue continuing the caller's trace", sp.Name(), sp.SpanContext().TraceID(), sp.Parent().SpanID())
	}
	// The client here has no tracer: the call carries the server span's context.
	if want := "00-0af7651916cd43dd8448eb211c80319c-" + sp.SpanContext().SpanID().String() + "-01"; string(res.body) != want {
		t.Errorf("the provider saw traceparent %q; want %q", res.body, want)
	}
	var route string
	for _, a := range sp.Attributes() {
		if a.Key == "http.route" {
			route = a.Value.AsString()
		}
	}
	if route != "/buckets/{bucket}/keys/{key}" {
		t.Errorf("http.route = %q", route)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	attrs := map[string]string{}
	sink.records[len(sink.records)-2].Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if attrs["trace_id"] != "0af7651916cd43dd8448eb211c80319c" || attrs["span_id"] != sp.SpanContext().SpanID().String() {
		t.Errorf("log line attrs %v; want the span's trace and span ids", attrs)
	}
}
