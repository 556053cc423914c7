package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// exercised records the operations and statuses the tests provoked, so TestMain can insist
// that every operation of the spec was exercised.
var exercised sync.Map // "operationId" -> struct{}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		doc, err := openapi3.NewLoader().LoadFromData(mustServedSpec())
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		var missing []string
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				if _, ok := exercised.Load(op.OperationID); !ok {
					missing = append(missing, op.OperationID)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Println("operations no test exercised:", missing)
			code = 1
		}
	}
	os.Exit(code)
}

func mustServedSpec() []byte {
	h, err := New(Options{Store: memory.New()})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	return w.Body.Bytes()
}

// gw is a gateway under test: the real router over a store, and the document it serves,
// against which every response is validated.
type gw struct {
	t    *testing.T
	h    http.Handler
	doc  *openapi3.T
	opts Options
}

// newGW builds a gateway over opts the way the gateway runs: opts.Store (a fresh memory store
// when nil) is the backend of a provider on an embedded NATS server, and the gateway calls it
// with the typed client, through the batch fallback. Stores that stand in for the client itself (inProcess) are called
// directly.
func newGW(t *testing.T, opts Options) *gw {
	t.Helper()
	if opts.Store == nil {
		opts.Store = memory.New()
	}
	switch opts.Store.(type) {
	case inProcess, *client.KeyValue, *client.Fallback:
	default:
		var popts []provider.Option
		if po, ok := opts.Store.(interface{ providerOptions() []provider.Option }); ok {
			popts = po.providerOptions()
		}
		fb := client.NewFallback(viaNATS(t, opts.Store, popts...))
		if c, ok := opts.Store.(interface{ fallbackConcurrency() int }); ok {
			fb.Concurrency = c.fallbackConcurrency()
		}
		opts.Store = fb
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g := &gw{t: t, h: h, opts: opts}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml = %d; want 200", w.Code)
	}
	loader := openapi3.NewLoader()
	if g.doc, err = loader.LoadFromData(w.Body.Bytes()); err != nil {
		t.Fatalf("load served openapi.yaml: %v", err)
	}
	if err := g.doc.Validate(context.Background()); err != nil {
		t.Fatalf("served openapi.yaml does not validate: %v", err)
	}
	return g
}

// resp is a response as the tests see it.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// problemOf decodes a problem+json body.
func (r *resp) problem(t *testing.T) problemBody {
	t.Helper()
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	return p
}

// req describes one request.
type req struct {
	method string
	target string
	body   io.Reader
	header map[string]string
	// chunked sends the body without a Content-Length.
	chunked bool
	// length, when not 0, is the Content-Length sent whatever the body holds.
	length int64
}

// do serves one request through the router and validates the response against the spec.
func (g *gw) do(t *testing.T, rq req) *resp {
	t.Helper()
	r := httptest.NewRequest(rq.method, rq.target, rq.body)
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	if rq.length != 0 {
		r.ContentLength = rq.length
	}
	if rq.chunked {
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	res := &resp{status: w.Code, header: w.Result().Header, body: w.Body.Bytes()}
	if err := g.validate(r, res); err != nil {
		t.Errorf("%s %s = %d: response does not match openapi.yaml: %v\nheaders: %v\nbody: %.500q", rq.method, rq.target, res.status, err, res.header, res.body)
	}
	return res
}

// Shorthands.
func (g *gw) get(t *testing.T, target string) *resp {
	t.Helper()
	return g.do(t, req{method: http.MethodGet, target: target})
}

func (g *gw) put(t *testing.T, target string, body []byte) *resp {
	t.Helper()
	return g.do(t, req{method: http.MethodPut, target: target, body: bytes.NewReader(body)})
}

func (g *gw) postJSON(t *testing.T, target, body string) *resp {
	t.Helper()
	return g.do(t, req{method: http.MethodPost, target: target, body: strings.NewReader(body),
		header: map[string]string{"Content-Type": "application/json"}})
}

// validate checks res against the operation of g.doc that r addresses; requests no operation
// matches must have been answered with the documented 404 or 405 problems.
func (g *gw) validate(r *http.Request, res *resp) error {
	if res.header.Get("X-Test-UI") != "" {
		return nil // served by the test's UI handler, outside the API
	}
	path, item := g.match(r.URL.EscapedPath())
	if item == nil {
		if res.status != http.StatusNotFound {
			return fmt.Errorf("no path of the spec matches; status %d, want 404", res.status)
		}
		return g.checkProblem(res, []string{"/problems/no-such-route"})
	}
	op := item.GetOperation(r.Method)
	method := r.Method
	if op == nil && r.Method == http.MethodOptions {
		return checkOptions(item, res)
	}
	if op == nil {
		if res.status != http.StatusMethodNotAllowed {
			return fmt.Errorf("the spec has no %s %s; status %d, want 405", r.Method, path, res.status)
		}
		// Validate as the 405 of any operation of the path: they all document it alike.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			if op = item.GetOperation(m); op != nil {
				method = m
				break
			}
		}
		if op == nil {
			return fmt.Errorf("no operation of %s documents 405", path)
		}
	}
	exercised.Store(op.OperationID, struct{}{})
	ref := op.Responses.Status(res.status)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented for %s %s", res.status, method, path)
	}
	doc := ref.Value
	for name, h := range doc.Headers {
		if h.Value.Required && res.header.Get(name) == "" && r.Method != http.MethodHead {
			return fmt.Errorf("required header %s missing", name)
		}
	}
	if len(doc.Content) == 0 || r.Method == http.MethodHead || res.status == http.StatusNotModified {
		if len(res.body) != 0 {
			return fmt.Errorf("status %d has no documented body, got %d bytes", res.status, len(res.body))
		}
		if r.Method == http.MethodHead || res.status == http.StatusNotModified {
			return nil // kin-openapi does not validate these; the checks above did
		}
	}
	vr := r.Clone(r.Context())
	vr.Method = method
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vr,
			Route:   &routers.Route{Spec: g.doc, Path: path, PathItem: item, Method: method, Operation: op},
		},
		Status:  res.status,
		Header:  res.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(res.body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return err
	}
	if types, ok := doc.Extensions["x-problem-types"].([]any); ok {
		var want []string
		for _, t := range types {
			want = append(want, t.(string))
		}
		return g.checkProblem(res, want)
	}
	if res.status >= 400 {
		return fmt.Errorf("error status %d documented without x-problem-types", res.status)
	}
	return nil
}

// checkOptions checks an answer to OPTIONS, which the spec describes in prose, not as an
// operation: 204, no body, and Allow naming exactly the path's operations and OPTIONS.
func checkOptions(item *openapi3.PathItem, res *resp) error {
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		return fmt.Errorf("OPTIONS answered %d with %d bytes; want 204 and no body", res.status, len(res.body))
	}
	want := []string{http.MethodOptions}
	for method := range item.Operations() {
		want = append(want, method)
	}
	var got []string
	for m := range strings.SplitSeq(res.header.Get("Allow"), ",") {
		got = append(got, strings.TrimSpace(m))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("OPTIONS: Allow %q; the spec's methods and OPTIONS are %v", res.header.Get("Allow"), want)
	}
	return nil
}

// checkProblem checks a problem response: media type, schema, status field, and a type among
// want.
func (g *gw) checkProblem(res *resp, want []string) error {
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("problem Content-Type %q", ct)
	}
	var v any
	if err := json.Unmarshal(res.body, &v); err != nil {
		return fmt.Errorf("problem body: %v", err)
	}
	if err := g.doc.Components.Schemas["Problem"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("problem body: %v", err)
	}
	var p problemBody
	_ = json.Unmarshal(res.body, &p)
	if p.Status != res.status {
		return fmt.Errorf("problem status %d in a %d response", p.Status, res.status)
	}
	if !slices.Contains(want, p.Type) {
		return fmt.Errorf("problem type %q not among the documented %v", p.Type, want)
	}
	return nil
}

// match finds the spec path whose template matches the escaped request path segment by
// segment, a {param} matching exactly one segment.
func (g *gw) match(escaped string) (string, *openapi3.PathItem) {
	segs := strings.Split(escaped, "/")
	for path, item := range g.doc.Paths.Map() {
		tsegs := strings.Split(path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		ok := true
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") {
				continue
			}
			if segs[i] != ts {
				ok = false
				break
			}
		}
		if ok {
			return path, item
		}
	}
	return "", nil
}

// keyPath is the URL path of key in bucket, each percent-encoded as encodeURIComponent would.
func keyPath(bucket, key string) string {
	return "/buckets/" + url.PathEscape(bucket) + "/keys/" + url.PathEscape(key)
}

// wantStatus fails unless res has status want.
func wantStatus(t *testing.T, method, target string, res *resp, want int) bool {
	t.Helper()
	if res.status != want {
		t.Errorf("%s %s = %d; want %d (body %.300q)", method, target, res.status, want, res.body)
		return false
	}
	return true
}

// wantProblem fails unless res is a problem of type typ whose detail contains every one of
// parts.
func wantProblem(t *testing.T, method, target string, res *resp, status int, typ string, parts ...string) {
	t.Helper()
	if !wantStatus(t, method, target, res, status) {
		return
	}
	p := res.problem(t)
	if p.Type != typ {
		t.Errorf("%s %s: problem type %q; want %q (detail %q)", method, target, p.Type, typ, p.Detail)
	}
	for _, s := range parts {
		if !strings.Contains(p.Detail, s) {
			t.Errorf("%s %s: detail %q does not mention %q", method, target, p.Detail, s)
		}
	}
}

// errStore answers every call with err.
type errStore struct{ err error }

// inProcess marks stores called by the handlers directly: they inject what only the client can
// return (transport errors) or what no provider can send (a panic).
type inProcess interface{ inProcess() }

func (errStore) inProcess() {}

// viaNATS serves backend with a provider over a fresh embedded NATS server and returns the
// typed client that calls it.
func viaNATS(t *testing.T, backend keyvalue.Store, opts ...provider.Option) keyvalue.Store {
	t.Helper()
	ns := natstest.Run(t)
	opts = append([]provider.Option{provider.WithPrefix("test.kv"), provider.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	p, err := provider.Serve(natstest.Connect(t, ns), backend, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return nobodyServes(t, ns, "test.kv")
}

// nobodyServes returns a client calling prefix on ns; unless a provider serves there, every
// call answers no responders.
func nobodyServes(t *testing.T, ns *server.Server, prefix string) *client.KeyValue {
	t.Helper()
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

var _ keyvalue.Store = errStore{}

func (s errStore) Get(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, s.err
}
func (s errStore) Set(context.Context, string, string, []byte) error    { return s.err }
func (s errStore) Delete(context.Context, string, string) error         { return s.err }
func (s errStore) Exists(context.Context, string, string) (bool, error) { return false, s.err }
func (s errStore) ListKeys(context.Context, string, *uint64) (keyvalue.KeyResponse, error) {
	return keyvalue.KeyResponse{}, s.err
}
func (s errStore) Increment(context.Context, string, string, uint64) (uint64, error) {
	return 0, s.err
}
func (s errStore) GetMany(context.Context, string, []string) ([]*keyvalue.KeyValue, error) {
	return nil, s.err
}
func (s errStore) SetMany(context.Context, string, []keyvalue.KeyValue) error { return s.err }
func (s errStore) DeleteMany(context.Context, string, []string) error         { return s.err }
