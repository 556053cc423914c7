package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
)

func TestForwardTraceContext(t *testing.T) {
	var got nats.Header
	h := forwardTraceContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = wrpcnats.CallHeader(r.Context())
	}))
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := httptest.NewRequest(http.MethodGet, "/buckets/b/keys/k", nil)
	req.Header.Set("traceparent", tp)
	req.Header.Set("tracestate", "vendor=1")
	req.Header.Set("x-other", "not forwarded")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.Get("traceparent") != tp || got.Get("tracestate") != "vendor=1" || got.Get("x-other") != "" {
		t.Fatalf("call headers = %v", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if len(got) != 0 {
		t.Fatalf("call headers without trace context = %v", got)
	}
}
