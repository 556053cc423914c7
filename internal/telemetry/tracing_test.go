package telemetry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsjs "github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/internal/otlptest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider/jetstream"
)

func TestTracingConfigured(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, false},
	} {
		if got := TracingConfigured(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("TracingConfigured(%v) = %v; want %v", tt.env, got, tt.want)
		}
	}
}

// One request makes one trace across the NATS hop: the HTTP server span, the wRPC client
// span under it, the provider's server span under that, and the JetStream spans under the
// provider's, exported over OTLP as the OTEL_* environment says.
func TestTraceAcrossNATS(t *testing.T) {
	rcv := otlptest.Start(t)
	for _, kv := range rcv.Env("gateway-test") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	tp, err := Tracing(context.Background(), "wrpc-kv-gateway")
	if err != nil || tp == nil {
		t.Fatalf("Tracing = %v, %v", tp, err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	g := newGateway(t, tp, func(t *testing.T, ns *server.Server, m *Metrics) keyvalue.Store {
		js, err := natsjs.New(natstest.Connect(t, ns))
		if err != nil {
			t.Fatal(err)
		}
		s, err := jetstream.New(js, jetstream.WithTracerProvider(tp), jetstream.OnBackendError(m.BackendError("jetstream")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r, _ := http.NewRequest(http.MethodPut, g.url+"/buckets/traced/keys/k", strings.NewReader("v"))
	r.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(r)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("PUT = %v, %v", res, err)
	}
	res.Body.Close()
	_ = tp.ForceFlush(context.Background())
	spans := rcv.WaitFor(t, 10*time.Second, func(spans []otlptest.Span) bool {
		n := 0
		for _, s := range spans {
			if s.TraceID == traceID {
				n++
			}
		}
		return n >= 4
	})
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		if s.TraceID == traceID {
			byName[s.Name] = s
		}
	}
	httpSpan, ok1 := byName["putValue"]
	clientSpan, ok2 := byName[keyvalue.StoreInstance+"/set"]
	var serverSpan otlptest.Span
	for _, s := range spans {
		if s.TraceID == traceID && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == keyvalue.StoreInstance+"/set" {
			serverSpan = s
		}
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.Name == keyvalue.StoreInstance+"/set" {
			clientSpan = s
		}
	}
	jsSpan, ok4 := byName["jetstream put"]
	if !ok1 || !ok2 || serverSpan.SpanID == "" || !ok4 {
		t.Fatalf("spans of the trace: %+v", byName)
	}
	switch {
	case httpSpan.ParentSpanID != "00f067aa0ba902b7" || httpSpan.Kind != tracepb.Span_SPAN_KIND_SERVER:
		t.Errorf("HTTP span %+v; want a server span under the caller's", httpSpan)
	case clientSpan.ParentSpanID != httpSpan.SpanID || clientSpan.Kind != tracepb.Span_SPAN_KIND_CLIENT:
		t.Errorf("wRPC client span %+v; want a client span under the HTTP one", clientSpan)
	case serverSpan.ParentSpanID != clientSpan.SpanID:
		t.Errorf("provider span %+v; want it under the client span, across NATS", serverSpan)
	case jsSpan.ParentSpanID != serverSpan.SpanID:
		t.Errorf("JetStream span %+v; want it under the provider's", jsSpan)
	}
	for k, want := range map[string]string{
		"rpc.system": "wrpc", "rpc.service": keyvalue.StoreInstance, "rpc.method": "set",
		"messaging.destination.name": prefix + ".wrpc.0.0.1." + keyvalue.StoreInstance + ".set",
	} {
		if clientSpan.Attributes[k] != want {
			t.Errorf("client span attribute %s = %q; want %q", k, clientSpan.Attributes[k], want)
		}
	}
	if httpSpan.Attributes["http.route"] != "/buckets/{bucket}/keys/{key}" || httpSpan.Service != "gateway-test" {
		t.Errorf("HTTP span route %q service %q", httpSpan.Attributes["http.route"], httpSpan.Service)
	}
}
