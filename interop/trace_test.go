package interop

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/internal/otlptest"
	"github.com/wrpc-kv/gateway/internal/telemetry"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// A call of the official Rust client carrying W3C trace context (as wasmCloud hosts send it)
// continues that trace in our provider's span, exported over OTLP.
func TestRustCallerTraceContinues(t *testing.T) {
	rcv := otlptest.Start(t)
	for _, kv := range rcv.Env("provider-test") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	tp, err := telemetry.Tracing(context.Background(), "wrpc-kv-provider")
	if err != nil || tp == nil {
		t.Fatalf("Tracing = %v, %v", tp, err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ns := natstest.Run(t)
	p, err := provider.Serve(natstest.Connect(t, ns), memory.New(), provider.WithPrefix("default.go"),
		provider.WithLogger(slog.New(slog.DiscardHandler)), provider.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	rc := callRust(t, ns.ClientURL(), "default.go")
	const traceID, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	a, _ := rc.do(map[string]any{"fn": "get", "bucket": "b", "key": "k",
		"headers": map[string]string{"traceparent": "00-" + traceID + "-" + parent + "-01"}})
	if !a.hasOK || a.TransportError != "" {
		t.Fatalf("get: %+v", a)
	}
	_ = tp.ForceFlush(context.Background())
	spans := rcv.WaitFor(t, 10*time.Second, func(spans []otlptest.Span) bool {
		for _, s := range spans {
			if s.TraceID == traceID {
				return true
			}
		}
		return false
	})
	for _, s := range spans {
		if s.TraceID != traceID {
			continue
		}
		if s.ParentSpanID != parent || s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Name != keyvalue.StoreInstance+"/get" ||
			s.Attributes["rpc.system"] != "wrpc" || s.Service != "provider-test" {
			t.Errorf("provider span %+v; want a server span of get under the Rust caller's span", s)
		}
	}
}
