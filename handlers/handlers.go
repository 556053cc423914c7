// Package handlers is the gateway's whole HTTP surface: the chi router, request validation
// against openapi.yaml, JSON and problem+json bodies, and the mapping of store errors to
// statuses. It calls a keyvalue.Store and knows nothing of how the store reaches a provider.
//
// Every request is routed on its escaped path, so a key containing "/" travels as %2F in one
// path segment; each path parameter is percent-decoded exactly once. Every request is then
// validated with kin-openapi against the document served at /openapi.yaml, into which New
// writes the configured limits.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"

	gateway "github.com/wrpc-kv/gateway"
	"github.com/wrpc-kv/gateway/auth"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxValueBytes     = 16 << 20
	DefaultMaxKeyBytes       = 1024
	DefaultMaxBucketBytes    = 255
	DefaultMaxBatchItems     = 1000
	DefaultMaxBatchBodyBytes = 64 << 20
	DefaultMaxListCalls      = 8
	DefaultReadyTimeout      = 2 * time.Second
	DefaultMaxBufferedBytes  = 256 << 20
	DefaultBufferWait        = 10 * time.Second
	DefaultBodyIdleTimeout   = 30 * time.Second
)

// maxListLimit is the largest page list-keys answers; the spec states it as the maximum of
// the limit parameter.
const maxListLimit = 1000

// Options configures the handler. Only Store is required.
type Options struct {
	// Store answers every key-value call.
	Store keyvalue.Store
	// Ready reports whether the gateway can serve requests: /readyz answers 200 when it
	// returns nil and 503 with its error otherwise. Nil means always ready. It is called with
	// a deadline of DefaultReadyTimeout unless the request already has one.
	Ready func(context.Context) error
	// ReadyVerbose, when set, answers /readyz?verbose: its readiness as Ready's, and a
	// JSON-able report of each part (the targets of a routing table), sent in either case.
	ReadyVerbose func(context.Context) (report any, err error)

	// MaxValueBytes bounds a value, in a PUT body or decoded from a batch item (default
	// DefaultMaxValueBytes, 16 MiB). Larger ones answer 413.
	MaxValueBytes int64
	// MaxKeyBytes bounds a key in bytes of UTF-8 (default 1024). Longer keys answer 414 in
	// the path and 400 in a body.
	MaxKeyBytes int
	// MaxBucketBytes bounds a bucket name in bytes of UTF-8 (default 255); longer ones
	// answer 414.
	MaxBucketBytes int
	// MaxBatchItems bounds the keys or items of one batch request (default 1000); more
	// answer 400.
	MaxBatchItems int
	// MaxBatchBodyBytes bounds the JSON body of a batch request (default
	// DefaultBatchBodyBytes(MaxValueBytes)); more answers 413.
	MaxBatchBodyBytes int64
	// MaxBatchResultBytes is the most value bytes one batch/get answers (default
	// DefaultBatchResultBytes(MaxBatchBodyBytes), so that the response, in base64, is no
	// larger than a request may be). The Store must refuse a larger answer with
	// keyvalue.ErrResultTooLarge (the typed client does, given it as WithMaxResultBytes):
	// it answers 502 result-too-large, asking for fewer keys.
	MaxBatchResultBytes int64
	// MaxListCalls bounds the provider list-keys calls one list request makes while filling
	// a page (default 8); when reached, the page is answered short, with a cursor.
	MaxListCalls int
	// MaxBufferedBytes bounds the request bodies all requests buffer at once (default
	// DefaultMaxBufferedBytes, 256 MiB, raised to the largest body a request may send). A
	// request waits up to BufferWait (default 10 s) for room, then answers 503.
	MaxBufferedBytes int64
	BufferWait       time.Duration
	// BodyIdleTimeout ends a request whose body stops arriving: when no byte comes for this
	// long (default 30 s, whole seconds), it answers 408 and gives its buffer budget back.
	// A value's response that cannot be sent for as long ends its connection. Bodies that
	// move slowly but steadily are not limited.
	BodyIdleTimeout time.Duration

	// CORSOrigins lists the origins allowed to call the API from browsers on other
	// origins; "*" allows every origin. Empty allows none: OPTIONS still answers 204 with
	// Allow, but without Access-Control-* headers, which browsers treat as a refusal.
	CORSOrigins []string

	// Logger receives one record per request (Info; Debug for /healthz and /readyz; Warn
	// for provider failures), with the request's id and trace id. Nil logs nothing.
	Logger *slog.Logger
	// Observer learns of every request and of the request bodies buffered (metrics). Nil
	// observes nothing.
	Observer Observer
	// TracerProvider, when set, makes a server span of every request but the probes and
	// scrapes, named by its operation, continuing the caller's W3C trace context. Whether set
	// or not, that trace context travels on to the calls made for the request (through the
	// request's context).
	TracerProvider trace.TracerProvider
	// Metrics serves GET /metrics. Nil answers it 404 (metrics served elsewhere, or not at
	// all).
	Metrics http.Handler
	// Buckets, when set, says where each bucket is served and with which limits (a routing
	// table); it may lower the limits above for some buckets.
	Buckets Buckets
	// Auth authenticates the callers of every operation but the probes, the API document
	// and the metrics, and their permissions decide what they may do. Nil (or an
	// Authenticator with no credentials configured) lets every request through.
	Auth *auth.Authenticator
	// UI serves "/" and every path outside the API. Nil answers them 404.
	UI http.Handler
}

// handler holds what the routes share. It is immutable after New.
type handler struct {
	opts     Options
	store    keyvalue.Store
	log      *slog.Logger
	observer Observer
	spec     *spec
	mux      *chi.Mux
	allow    map[string]string // pattern -> Allow header value
	cors     corsPolicy
	apiTop   []string
	budget   *bodyBudget
	// servedDoc is the document last served with a routing table's x-routes.
	servedDoc atomic.Pointer[servedSpec]

	validateAll    openapi3filter.Options
	validateNoBody openapi3filter.Options
}

// operations lists every route. Each pattern is also the path of its operation in
// openapi.yaml, and New fails unless the two agree exactly.
var operations = []*operation{
	{method: http.MethodGet, pattern: "/buckets/{bucket}/keys/{key}", id: "getValue", action: auth.Read, serve: (*handler).getValue},
	{method: http.MethodHead, pattern: "/buckets/{bucket}/keys/{key}", id: "headValue", action: auth.Read, serve: (*handler).headValue},
	{method: http.MethodPut, pattern: "/buckets/{bucket}/keys/{key}", id: "putValue", action: auth.Write, body: bodyRaw, serve: (*handler).putValue},
	{method: http.MethodDelete, pattern: "/buckets/{bucket}/keys/{key}", id: "deleteValue", action: auth.Delete, serve: (*handler).deleteValue},
	// A listing shows only the keys the caller may read (listScope).
	{method: http.MethodGet, pattern: "/buckets/{bucket}/keys", id: "listKeys", serve: (*handler).listKeys},
	{method: http.MethodGet, pattern: "/buckets/{bucket}", id: "getBucket", serve: (*handler).getBucket},
	{method: http.MethodPost, pattern: "/buckets/{bucket}/keys/{key}/increment", id: "increment", action: auth.Write, body: bodyJSON, jsonLimit: incrementLimit, serve: (*handler).increment},
	// Batches check each key of their body (authorizeKeys).
	{method: http.MethodPost, pattern: "/buckets/{bucket}/batch/get", id: "batchGet", body: bodyJSON, jsonLimit: batchLimit, serve: (*handler).batchGet},
	{method: http.MethodPost, pattern: "/buckets/{bucket}/batch/set", id: "batchSet", body: bodyJSON, jsonLimit: batchLimit, serve: (*handler).batchSet},
	{method: http.MethodPost, pattern: "/buckets/{bucket}/batch/delete", id: "batchDelete", body: bodyJSON, jsonLimit: batchLimit, serve: (*handler).batchDelete},
	{method: http.MethodGet, pattern: "/whoami", id: "whoami", serve: (*handler).whoami},
	{method: http.MethodGet, pattern: "/openapi.yaml", id: "getOpenAPIYAML", public: true, serve: (*handler).openAPIYAML},
	{method: http.MethodGet, pattern: "/openapi.json", id: "getOpenAPIJSON", public: true, serve: (*handler).openAPIJSON},
	{method: http.MethodGet, pattern: "/healthz", id: "healthz", public: true, serve: (*handler).healthz},
	{method: http.MethodGet, pattern: "/readyz", id: "readyz", public: true, serve: (*handler).readyz},
	{method: http.MethodGet, pattern: "/metrics", id: "getMetrics", public: true, serve: (*handler).metrics},
}

func incrementLimit(*handler, string) int64      { return maxIncrementBodyBytes }
func batchLimit(h *handler, bucket string) int64 { return h.limits(bucket).MaxBatchBodyBytes }

// New returns the gateway's HTTP handler. It fails when an option is out of range or when
// openapi.yaml and the routes disagree.
func New(opts Options) (http.Handler, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	sp, err := loadSpec(context.Background(), gateway.OpenAPIYAML, &opts)
	if err != nil {
		return nil, err
	}
	h := &handler{
		opts:     opts,
		store:    opts.Store,
		log:      opts.Logger,
		observer: opts.Observer,
		spec:     sp,
		allow:    make(map[string]string),
		cors:     newCORSPolicy(opts.CORSOrigins),
		budget:   newBodyBudget(opts.MaxBufferedBytes, opts.BufferWait, opts.Observer),
		// The handlers apply defaults themselves, so the validator never rewrites a
		// request's query or body.
		validateAll: openapi3filter.Options{SkipSettingDefaults: true},
	}
	h.validateNoBody = h.validateAll
	h.validateNoBody.ExcludeRequestBody = true

	mux := chi.NewRouter()
	h.mux = mux
	mux.Use(h.traceRequests, identifyRequests, h.logRequests, h.recoverPanics, routeEscapedPath, h.cors.middleware)
	mux.NotFound(h.notFound)
	mux.MethodNotAllowed(h.methodNotAllowed)

	methods := make(map[string][]string)
	aliases := make(map[string]bool) // ".../keys/" of ".../keys/{key}"
	var patterns []string
	for _, op := range operations {
		item := sp.doc.Paths.Value(op.pattern)
		if item == nil {
			return nil, fmt.Errorf("openapi.yaml has no path %s", op.pattern)
		}
		o := item.GetOperation(op.method)
		if o == nil || o.OperationID != op.id {
			return nil, fmt.Errorf("openapi.yaml: %s %s is not operation %s", op.method, op.pattern, op.id)
		}
		route := &routers.Route{Spec: sp.doc, Path: op.pattern, PathItem: item, Method: op.method, Operation: o}
		served := h.handle(op, route)
		mux.Method(op.method, op.pattern, served)
		if _, ok := methods[op.pattern]; !ok {
			patterns = append(patterns, op.pattern)
		}
		methods[op.pattern] = append(methods[op.pattern], op.method)
		// chi matches no empty parameter at the end of a path, so ".../keys/" would be an
		// unknown route; serve it as the operation, which answers 400 for the empty key (or
		// bucket).
		alias, ok := strings.CutSuffix(op.pattern, "{key}")
		if !ok {
			alias, ok = strings.CutSuffix(op.pattern, "{bucket}")
		}
		if ok {
			mux.Method(op.method, alias, served)
			methods[alias] = methods[op.pattern]
			aliases[alias] = true
		}
	}
	for alias := range aliases {
		patterns = append(patterns, alias)
	}
	for _, p := range patterns {
		allow := strings.Join(append(slices.Clone(methods[p]), http.MethodOptions), ", ")
		h.allow[p] = allow
		mux.Method(http.MethodOptions, p, h.options(allow))
		top, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if !slices.Contains(h.apiTop, top) {
			h.apiTop = append(h.apiTop, top)
		}
	}
	// Every operation of the spec must be served, so the spec promises nothing the router
	// does not do.
	for path, item := range sp.doc.Paths.Map() {
		for method := range item.Operations() {
			if method == http.MethodOptions {
				if _, ok := h.allow[path]; !ok {
					return nil, fmt.Errorf("openapi.yaml: OPTIONS %s is not served", path)
				}
				continue
			}
			if !slices.Contains(methods[path], method) {
				return nil, fmt.Errorf("openapi.yaml: %s %s is not served", method, path)
			}
		}
	}
	return mux, nil
}

// DefaultBatchBodyBytes is the default MaxBatchBodyBytes: DefaultMaxBatchBodyBytes (64 MiB),
// or room for one value of maxValueBytes in base64 when that is more.
func DefaultBatchBodyBytes(maxValueBytes int64) int64 {
	return max(DefaultMaxBatchBodyBytes, int64(base64Len(maxValueBytes))+1<<20)
}

// DefaultBatchResultBytes is the default MaxBatchResultBytes: the value bytes whose base64
// fills batchBodyBytes.
func DefaultBatchResultBytes(batchBodyBytes int64) int64 { return batchBodyBytes / 4 * 3 }

func (o *Options) setDefaults() error {
	if o.Store == nil {
		return errors.New("handlers: Options.Store is required")
	}
	if o.MaxValueBytes == 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	if o.MaxKeyBytes == 0 {
		o.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if o.MaxBucketBytes == 0 {
		o.MaxBucketBytes = DefaultMaxBucketBytes
	}
	if o.MaxBatchItems == 0 {
		o.MaxBatchItems = DefaultMaxBatchItems
	}
	if o.MaxBatchBodyBytes == 0 {
		o.MaxBatchBodyBytes = DefaultBatchBodyBytes(o.MaxValueBytes)
	}
	if o.MaxBatchResultBytes == 0 {
		o.MaxBatchResultBytes = DefaultBatchResultBytes(o.MaxBatchBodyBytes)
	}
	if o.MaxListCalls == 0 {
		o.MaxListCalls = DefaultMaxListCalls
	}
	largestBody := max(o.MaxValueBytes, o.MaxBatchBodyBytes, maxIncrementBodyBytes)
	if o.MaxBufferedBytes == 0 {
		o.MaxBufferedBytes = max(DefaultMaxBufferedBytes, largestBody)
	}
	if o.BufferWait == 0 {
		o.BufferWait = DefaultBufferWait
	}
	if o.BodyIdleTimeout == 0 {
		o.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	switch {
	case o.MaxValueBytes < 0 || o.MaxValueBytes > 1<<40:
		return fmt.Errorf("handlers: MaxValueBytes %d out of range", o.MaxValueBytes)
	case o.MaxKeyBytes < 0, o.MaxBucketBytes < 0, o.MaxBatchItems < 0, o.MaxBatchBodyBytes < 0, o.MaxBatchResultBytes < 0,
		o.MaxListCalls < 0, o.BufferWait < 0:
		return errors.New("handlers: negative limit in Options")
	case o.BodyIdleTimeout < time.Second || o.BodyIdleTimeout%time.Second != 0:
		return fmt.Errorf("handlers: BodyIdleTimeout %v is not a whole number of seconds", o.BodyIdleTimeout)
	case o.MaxBufferedBytes < largestBody:
		return fmt.Errorf("handlers: MaxBufferedBytes %d is less than the largest request body (%d bytes)",
			o.MaxBufferedBytes, largestBody)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// routeEscapedPath makes chi route on the request's escaped path, so that %2F inside a key
// does not split it into two segments. chi.URLParam then returns escaped values, which
// pathParam decodes once.
func routeEscapedPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.RoutePath = r.URL.EscapedPath()
		}
		next.ServeHTTP(w, r)
	})
}

// notFound answers paths no route matches: the UI's outside the API, 404 problems inside it.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if h.opts.UI != nil && !h.underAPI(r.URL.EscapedPath()) {
		named(r, OperationUI, "/")
		h.opts.UI.ServeHTTP(w, r)
		return
	}
	writeProblem(w, r, newProblem(kindNoSuchRoute, "no route matches this path"))
}

// underAPI reports whether path is in the API's part of the URL space: under the first
// segment of one of its routes ("/buckets/...", "/healthz", ...).
func (h *handler) underAPI(path string) bool {
	top, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return slices.Contains(h.apiTop, top)
}

// methodNotAllowed answers a method the matched path does not serve, with Allow computed from
// the routes; chi also sends methods it does not know here, on any path.
func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	pattern := h.mux.Find(chi.NewRouteContext(), http.MethodOptions, r.URL.EscapedPath())
	allow, ok := h.allow[pattern]
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Allow", allow)
	writeProblem(w, r, newProblem(kindMethod, "%q is not allowed here; allowed are %s", r.Method, allow))
}
