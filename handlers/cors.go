package handlers

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"
)

// corsPolicy decides which browser origins may call the API cross-origin. The gateway's own
// UI is same-origin and needs none of it.
type corsPolicy struct {
	any     bool
	origins []string
}

func newCORSPolicy(origins []string) corsPolicy {
	return corsPolicy{any: slices.Contains(origins, "*"), origins: slices.Clone(origins)}
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, or "" when origin is
// not allowed.
func (c corsPolicy) allowOrigin(origin string) string {
	switch {
	case origin == "":
		return ""
	case c.any:
		return "*"
	case slices.Contains(c.origins, origin):
		return origin
	}
	return ""
}

// corsExposed are the response headers a cross-origin script may read.
const corsExposed = "ETag, Retry-After, Allow, Content-Length, X-Request-Id, WWW-Authenticate"

// corsRequestHeaders are the request headers a cross-origin request may send.
const corsRequestHeaders = "Authorization, Content-Type, If-None-Match, X-Request-Id, traceparent, tracestate"

// middleware marks responses to allowed origins as readable by them.
func (c corsPolicy) middleware(next http.Handler) http.Handler {
	if !c.any && len(c.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if allow := c.allowOrigin(r.Header.Get("Origin")); allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
			h.Set("Access-Control-Expose-Headers", corsExposed)
		}
		next.ServeHTTP(w, r)
	})
}

// options answers OPTIONS on a route's path: 204 with Allow, and for a CORS preflight from an
// allowed origin the Access-Control-Allow-* headers. It never fails, whatever the path
// parameters hold, so a browser always gets to send the real request and read its answer.
func (h *handler) options(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		named(r, OperationOptions, chi.RouteContext(r.Context()).RoutePattern())
		hdr := w.Header()
		hdr.Set("Allow", allow)
		if r.Header.Get("Access-Control-Request-Method") != "" && hdr.Get("Access-Control-Allow-Origin") != "" {
			hdr.Del("Access-Control-Expose-Headers")
			hdr.Set("Access-Control-Allow-Methods", allow)
			hdr.Set("Access-Control-Allow-Headers", corsRequestHeaders)
			hdr.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
