package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// kind is one kind of error: a stable RFC 9457 problem type with its title and status.
// openapi.yaml lists every kind; tests check that each response's type is one its spec entry
// names (x-problem-types).
type kind struct {
	typ    string
	title  string
	status int
}

var (
	kindValidation      = kind{"/problems/validation", "Invalid request", http.StatusBadRequest}
	kindAccessDenied    = kind{"/problems/access-denied", "Access denied", http.StatusForbidden}
	kindUnauthenticated = kind{"/problems/unauthenticated", "Unauthenticated", http.StatusUnauthorized}
	kindForbidden       = kind{"/problems/forbidden", "Forbidden", http.StatusForbidden}
	kindRateLimited     = kind{"/problems/rate-limited", "Too many requests", http.StatusTooManyRequests}
	kindNoSuchKey       = kind{"/problems/no-such-key", "No such key", http.StatusNotFound}
	kindNoSuchStore     = kind{"/problems/no-such-store", "No such store", http.StatusNotFound}
	kindNoSuchRoute     = kind{"/problems/no-such-route", "No such route", http.StatusNotFound}
	kindMethod          = kind{"/problems/method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	kindNotUTF8         = kind{"/problems/not-utf8", "Value is not UTF-8", http.StatusConflict}
	kindNotCounter      = kind{"/problems/not-a-counter", "Not a counter", http.StatusConflict}
	kindBodyTimeout     = kind{"/problems/body-timeout", "Request body timeout", http.StatusRequestTimeout}
	kindBodyTooLarge    = kind{"/problems/body-too-large", "Request body too large", http.StatusRequestEntityTooLarge}
	kindURITooLong      = kind{"/problems/uri-too-long", "Path parameter too long", http.StatusRequestURITooLong}
	kindMediaType       = kind{"/problems/unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}
	kindInternal        = kind{"/problems/internal", "Internal error", http.StatusInternalServerError}
	kindProviderError   = kind{"/problems/provider-error", "Provider error", http.StatusBadGateway}
	kindRemoteFailure   = kind{"/problems/remote-failure", "Provider failure", http.StatusBadGateway}
	kindResultTooLarge  = kind{"/problems/result-too-large", "Provider result too large", http.StatusBadGateway}
	kindProtocol        = kind{"/problems/protocol-error", "Provider protocol error", http.StatusBadGateway}
	kindNoResponders    = kind{"/problems/no-responders", "No provider", http.StatusServiceUnavailable}
	kindNotImplemented  = kind{"/problems/not-implemented", "Not implemented by the provider", http.StatusNotImplemented}
	kindUnavailable     = kind{"/problems/unavailable", "Unavailable", http.StatusServiceUnavailable}
	kindNotReady        = kind{"/problems/not-ready", "Not ready", http.StatusServiceUnavailable}
	kindProviderTimeout = kind{"/problems/timeout", "Provider timeout", http.StatusGatewayTimeout}
)

// retryAfterSeconds is the Retry-After of every 503: a provider that was missing may have
// started, a gateway that was stopping has been replaced.
const retryAfterSeconds = "1"

// problem is an error answered as application/problem+json.
type problem struct {
	kind
	detail string
	// limit is stated for 413 and 414 when hasLimit is set.
	limit    int64
	hasLimit bool
	// cause is logged, never sent: it may hold internal detail.
	cause error
	// header is sent with the problem (WWW-Authenticate, Retry-After of a 429).
	header http.Header
	// targets is the readiness of each target, for /readyz?verbose.
	targets any
}

func (p *problem) Error() string { return p.typ + ": " + p.detail }
func (p *problem) Unwrap() error { return p.cause }

func newProblem(k kind, format string, args ...any) *problem {
	return &problem{kind: k, detail: fmt.Sprintf(format, args...)}
}

func tooLarge(what string, limit int64) *problem {
	p := newProblem(kindBodyTooLarge, "%s exceeds the limit of %d bytes", what, limit)
	p.limit, p.hasLimit = limit, true
	return p
}

// problemFor maps any error a handler returns to the problem answered for it. It is the one
// place that decides statuses: the handlers' own problems pass through, provider answers
// (keyvalue errors) and transport failures (client errors) get their kinds, anything else is
// an internal error whose text stays in the log.
func problemFor(err error, in *input) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	bucket := ""
	if in != nil {
		bucket = in.bucket
	}
	var other *keyvalue.OtherError
	switch {
	case errors.Is(err, keyvalue.ErrNoRoute):
		p = newProblem(kindNoSuchStore, "no route of the gateway matches bucket %q", bucket)
	case errors.Is(err, keyvalue.ErrNoSuchStore):
		p = newProblem(kindNoSuchStore, "the provider has no bucket %q", bucket)
	case errors.Is(err, keyvalue.ErrAccessDenied):
		p = newProblem(kindAccessDenied, "the provider denied access to bucket %q", bucket)
	case errors.As(err, &other) && other.IsUnavailable():
		p = newProblem(kindUnavailable, "the provider cannot serve bucket %q for now: %s", bucket,
			strings.TrimPrefix(other.Message, keyvalue.UnavailablePrefix))
	case errors.As(err, &other):
		p = newProblem(kindProviderError, "%s", other.Message)
	case errors.Is(err, keyvalue.ErrNotImplemented):
		p = newProblem(kindNotImplemented, "the provider of bucket %q does not serve this interface (%v)", bucket, err)
	case errors.Is(err, keyvalue.ErrNoResponders):
		p = newProblem(kindNoResponders, "no provider serves this key-value interface")
	case errors.Is(err, keyvalue.ErrUnacknowledged):
		p = newProblem(kindUnavailable, "the provider did not acknowledge the call: it was lost on its way, or the provider is too busy to take it; it may still run")
	case errors.Is(err, keyvalue.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		p = newProblem(kindProviderTimeout, "the provider did not answer in time")
	case errors.Is(err, keyvalue.ErrRemoteFailure):
		p = newProblem(kindRemoteFailure, "the provider failed before completing its answer")
	case errors.Is(err, keyvalue.ErrResultTooLarge):
		p = newProblem(kindResultTooLarge, "the provider's answer exceeds the size the gateway accepts")
	case errors.Is(err, keyvalue.ErrProtocol):
		p = newProblem(kindProtocol, "the provider's answer broke the wRPC protocol")
	case errors.Is(err, keyvalue.ErrNotConnected):
		p = newProblem(kindUnavailable, "the gateway is not connected to NATS; it reconnects by itself")
	case errors.Is(err, keyvalue.ErrClosed):
		p = newProblem(kindUnavailable, "the gateway is shutting down")
	case errors.Is(err, context.Canceled):
		p = newProblem(kindUnavailable, "the request was canceled")
	default:
		p = newProblem(kindInternal, "the gateway failed to handle the request")
	}
	p.cause = err
	return p
}

// problemBody is the JSON form of a problem (RFC 9457).
type problemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Limit    *int64 `json:"limit,omitempty"`
	Targets  any    `json:"targets,omitempty"`
}

// writeError answers err as a problem and records it for the request log.
func writeError(w http.ResponseWriter, r *http.Request, err error, in *input) {
	p := problemFor(err, in)
	if rec := recordFrom(r.Context()); rec != nil {
		rec.err = err
	}
	writeProblem(w, r, p)
}

// writeProblem writes p. Responses to HEAD carry the status and headers only.
func writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	h.Del("ETag")
	if p.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterSeconds)
	}
	for k, v := range p.header {
		h[k] = v
	}
	body := problemBody{
		Type:     p.typ,
		Title:    p.title,
		Status:   p.status,
		Detail:   p.detail,
		Instance: r.URL.EscapedPath(),
	}
	if p.hasLimit {
		body.Limit = &p.limit
	}
	body.Targets = p.targets
	data, err := json.Marshal(body)
	if err != nil { // cannot happen for these field types
		data = []byte(`{"type":"/problems/internal","title":"Internal error","status":500,"detail":"encoding the error failed"}`)
	}
	data = append(data, '\n')
	if r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.Itoa(len(data)))
	}
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}
