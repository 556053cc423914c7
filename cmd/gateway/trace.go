package main

import (
	"net/http"

	"github.com/wrpc-kv/gateway/client"
)

// traceHeaders are the W3C trace-context headers the gateway carries from an HTTP request
// onto the wRPC calls it makes for it, as wasmCloud hosts do on theirs, so a trace spans the
// gateway and the provider.
var traceHeaders = []string{"traceparent", "tracestate"}

// forwardTraceContext passes the request's trace context on to the calls made for it.
func forwardTraceContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		for _, name := range traceHeaders {
			if v := r.Header.Get(name); v != "" && len(v) <= 512 {
				ctx = client.WithCallHeader(ctx, name, v)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
