package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/internal/otlptest"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// The binary serves /metrics on the API listener, or only on --metrics-addr when given; the
// standalone provider serves its own on --metrics-addr.
func TestMetricsEndpoints(t *testing.T) {
	gw := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "--data-binary", "v", gw.url+"/buckets/m/keys/k"), 204)
	r := curl(t, gw.url+"/metrics")
	expectStatus(t, "GET /metrics", r, 200)
	for _, want := range []string{
		`wrpckv_http_requests_total{operation="putValue",status_class="2xx"} 1`,
		`wrpckv_wrpc_client_calls_total{function="set",interface="store",outcome="ok",target="default"} 1`,
		`wrpckv_wrpc_server_invocations_total{function="set",interface="store",outcome="ok"} 1`,
		`wrpckv_nats_connected{connection="gateway"} 1`,
		`wrpckv_nats_connected{connection="provider"} 1`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-Id on the response")
	}

	ns := natstest.Run(t, natstest.JetStream(t.TempDir()))
	prov := startGateway(t, "provider", "--nats-url", ns.ClientURL(), "--metrics-addr", "127.0.0.1:0")
	gw = startGateway(t, "--nats-url", ns.ClientURL(), "--metrics-addr", "127.0.0.1:0")
	expectStatus(t, "GET /metrics on the API with --metrics-addr", curl(t, gw.url+"/metrics"), 404)
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "--data-binary", "v", gw.url+"/buckets/m/keys/k"), 204)
	if gw.metrics == "" || prov.metrics == "" {
		t.Fatalf("metrics addresses not logged: gateway %q provider %q", gw.metrics, prov.metrics)
	}
	r = curl(t, gw.metrics)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`operation="putValue"`)) {
		t.Errorf("gateway --metrics-addr: %d %.200s", r.status, r.body)
	}
	r = curl(t, prov.metrics)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`wrpckv_wrpc_server_invocations_total{function="set",interface="store",outcome="ok"} 1`)) {
		t.Errorf("provider --metrics-addr: %d %.300s", r.status, r.body)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the gateway and its embedded provider export one
// trace per request over OTLP, from the HTTP span down to JetStream, and log its trace id.
func TestTracesFromTheBinary(t *testing.T) {
	rcv := otlptest.Start(t)
	gw := startGatewayEnv(t, rcv.Env("e2e-gateway"), "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	const traceID = "5bf92f3577b34da6a3ce929d0e0e4736"
	r := curl(t, "-X", "PUT", "--data-binary", "v", "-H", "traceparent: 00-"+traceID+"-00f067aa0ba902b7-01", gw.url+"/buckets/t/keys/k")
	expectStatus(t, "PUT", r, 204)
	spans := rcv.WaitFor(t, 15*time.Second, func(spans []otlptest.Span) bool {
		kinds := map[string]bool{}
		for _, s := range spans {
			if s.TraceID == traceID {
				kinds[s.Name+"/"+s.Kind.String()] = true
			}
		}
		return kinds["putValue/"+tracepb.Span_SPAN_KIND_SERVER.String()] && kinds["jetstream put/"+tracepb.Span_SPAN_KIND_CLIENT.String()] &&
			kinds[keyvalue.StoreInstance+"/set/"+tracepb.Span_SPAN_KIND_SERVER.String()]
	})
	parents := map[string]string{} // span id -> name
	for _, s := range spans {
		if s.TraceID == traceID {
			parents[s.SpanID] = s.Name + "/" + s.Kind.String()
		}
	}
	for _, s := range spans {
		if s.TraceID != traceID || s.Name == "putValue" {
			continue
		}
		if _, ok := parents[s.ParentSpanID]; !ok {
			t.Errorf("span %s/%s has a parent %s outside the trace", s.Name, s.Kind, s.ParentSpanID)
		}
	}
	if !strings.Contains(gw.logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("the request's log line lacks its trace id")
	}
}
