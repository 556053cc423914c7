package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// Every store error maps to its status and problem type, on every route that calls the store.
func TestStoreErrors(t *testing.T) {
	t.Parallel()
	errs := []struct {
		err    error
		status int
		typ    string
		detail string
	}{
		{keyvalue.ErrNoSuchStore, 404, "/problems/no-such-store", `"b"`},
		{keyvalue.ErrNoRoute, 404, "/problems/no-such-store", "no route of the gateway matches"},
		{keyvalue.ErrAccessDenied, 403, "/problems/access-denied", `"b"`},
		{&keyvalue.OtherError{Message: "disk on fire"}, 502, "/problems/provider-error", "disk on fire"},
		{keyvalue.Unavailable("no quorum"), 503, "/problems/unavailable", `"b" for now: no quorum`},
		{&keyvalue.OtherError{Message: "nats: API error: code=503 err_code=10008 description=JetStream system temporarily unavailable"},
			503, "/problems/unavailable", "temporarily unavailable"},
		{client.ErrNoResponders, 503, "/problems/no-responders", ""},
		{client.ErrTimeout, 504, "/problems/timeout", ""},
		{client.ErrUnacknowledged, 503, "/problems/unavailable", "did not acknowledge"},
		{context.DeadlineExceeded, 504, "/problems/timeout", ""},
		{client.ErrRemoteFailure, 502, "/problems/remote-failure", ""},
		{client.ErrResultTooLarge, 502, "/problems/result-too-large", ""},
		{client.ErrProtocol, 502, "/problems/protocol-error", ""},
		{client.ErrClosed, 503, "/problems/unavailable", ""},
		{context.Canceled, 503, "/problems/unavailable", ""},
		{errors.New("secret internal detail"), 500, "/problems/internal", ""},
	}
	calls := []struct{ method, target, body string }{
		{http.MethodGet, "/buckets/b/keys/k", ""},
		{http.MethodHead, "/buckets/b/keys/k", ""},
		{http.MethodPut, "/buckets/b/keys/k", "v"},
		{http.MethodDelete, "/buckets/b/keys/k", ""},
		{http.MethodGet, "/buckets/b/keys", ""},
		{http.MethodPost, "/buckets/b/keys/k/increment", ""},
		{http.MethodPost, "/buckets/b/batch/get", `{"keys":["k"]}`},
		{http.MethodPost, "/buckets/b/batch/set", `{"items":[{"key":"k","value":""}]}`},
		{http.MethodPost, "/buckets/b/batch/delete", `{"keys":["k"]}`},
	}
	for _, e := range errs {
		for _, wrapped := range []bool{false, true} {
			err := e.err
			if wrapped {
				err = fmt.Errorf("layer: %w", err)
			}
			g := newGW(t, Options{Store: errStore{err: err}})
			for _, c := range calls {
				rq := req{method: c.method, target: c.target, body: strings.NewReader(c.body),
					header: map[string]string{"Content-Type": "application/json"}}
				res := g.do(t, rq)
				if c.method == http.MethodHead {
					wantStatus(t, c.method, c.target, res, e.status)
				} else {
					wantProblem(t, c.method, c.target, res, e.status, e.typ, e.detail)
					if strings.Contains(string(res.body), "secret") || strings.Contains(string(res.body), "layer") {
						t.Errorf("%s %s leaks the error text: %s", c.method, c.target, res.body)
					}
				}
				if e.status == 503 && res.header.Get("Retry-After") == "" {
					t.Errorf("%s %s = 503 without Retry-After", c.method, c.target)
				}
			}
		}
	}
}

// A provider without the bucket (auto-create off) answers no-such-store, distinct from a
// missing key.
func TestNoSuchStore(t *testing.T) {
	s := memory.New(memory.CreateBuckets(false))
	s.CreateBucket("exists")
	g := newGW(t, Options{Store: s})
	wantProblem(t, "GET", "/buckets/nope/keys/k", g.get(t, "/buckets/nope/keys/k"), 404, "/problems/no-such-store", `"nope"`)
	wantProblem(t, "GET", "/buckets/exists/keys/k", g.get(t, "/buckets/exists/keys/k"), 404, "/problems/no-such-key", `"k"`)
	wantProblem(t, "PUT", "/buckets/nope/keys/k", g.put(t, "/buckets/nope/keys/k", nil), 404, "/problems/no-such-store")
	wantProblem(t, "GET", "/buckets/nope/keys", g.get(t, "/buckets/nope/keys"), 404, "/problems/no-such-store")
}

func TestMethodNotAllowed(t *testing.T) {
	g := newGW(t, Options{})
	tests := []struct {
		method, target, allow string
	}{
		{"PATCH", "/buckets/b/keys/k", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"POST", "/buckets/b/keys/a%2Fb", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"FOO", "/buckets/b/keys/k", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"PUT", "/buckets/b/keys", "GET, OPTIONS"},
		{"DELETE", "/buckets/b/keys", "GET, OPTIONS"},
		{"GET", "/buckets/b/keys/k/increment", "POST, OPTIONS"},
		{"GET", "/buckets/b/batch/get", "POST, OPTIONS"},
		{"PUT", "/buckets/b/batch/set", "POST, OPTIONS"},
		{"GET", "/buckets/b/batch/delete", "POST, OPTIONS"},
		{"POST", "/healthz", "GET, OPTIONS"},
		{"HEAD", "/readyz", "GET, OPTIONS"},
		{"DELETE", "/openapi.yaml", "GET, OPTIONS"},
		{"PUT", "/openapi.json", "GET, OPTIONS"},
	}
	for _, tt := range tests {
		res := g.do(t, req{method: tt.method, target: tt.target})
		if tt.method == http.MethodHead {
			wantStatus(t, tt.method, tt.target, res, 405)
		} else {
			wantProblem(t, tt.method, tt.target, res, 405, "/problems/method-not-allowed", tt.method)
		}
		if got := res.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q; want %q", tt.method, tt.target, got, tt.allow)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test-UI", "1")
		w.WriteHeader(http.StatusTeapot)
	})
	for _, withUI := range []bool{false, true} {
		opts := Options{}
		if withUI {
			opts.UI = ui
		}
		g := newGW(t, opts)
		for _, target := range []string{"/buckets", "/buckets/b/nope", "/buckets/b/keys/k/extra",
			"/buckets/b/batch", "/buckets/b/batch/nope", "/healthz/", "/openapi.yaml/x"} {
			for _, method := range []string{"GET", "FOO"} {
				res := g.do(t, req{method: method, target: target})
				wantProblem(t, method, target, res, 404, "/problems/no-such-route")
			}
		}
		for _, target := range []string{"/", "/index.html", "/assets/app.js", "/problems/validation"} {
			res := g.get(t, target)
			if withUI {
				wantStatus(t, "GET (UI)", target, res, http.StatusTeapot)
			} else {
				wantProblem(t, "GET", target, res, 404, "/problems/no-such-route")
			}
		}
	}
}

func TestOptionsAndCORS(t *testing.T) {
	paths := map[string]string{
		"/buckets/b/keys/k":           "GET, HEAD, PUT, DELETE, OPTIONS",
		"/buckets/b/keys/%FF":         "GET, HEAD, PUT, DELETE, OPTIONS",
		"/buckets/b/keys":             "GET, OPTIONS",
		"/buckets/b/keys/k/increment": "POST, OPTIONS",
		"/buckets/b/batch/get":        "POST, OPTIONS",
		"/buckets/b/batch/set":        "POST, OPTIONS",
		"/buckets/b/batch/delete":     "POST, OPTIONS",
		"/openapi.yaml":               "GET, OPTIONS",
		"/openapi.json":               "GET, OPTIONS",
		"/healthz":                    "GET, OPTIONS",
		"/readyz":                     "GET, OPTIONS",
	}
	preflight := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
	for _, origins := range [][]string{nil, {"https://app.example"}, {"*"}} {
		g := newGW(t, Options{CORSOrigins: origins})
		for target, allow := range paths {
			res := g.do(t, req{method: http.MethodOptions, target: target, header: preflight})
			wantStatus(t, "OPTIONS", target, res, http.StatusNoContent)
			if got := res.header.Get("Allow"); got != allow {
				t.Errorf("OPTIONS %s: Allow %q; want %q", target, got, allow)
			}
			acao := res.header.Get("Access-Control-Allow-Origin")
			switch {
			case origins == nil && acao != "":
				t.Errorf("OPTIONS %s with no allowed origins: Access-Control-Allow-Origin %q", target, acao)
			case origins != nil && (acao == "" || res.header.Get("Access-Control-Allow-Methods") != allow):
				t.Errorf("OPTIONS %s from an allowed origin: headers %v", target, res.header)
			}
		}
		res := g.do(t, req{method: http.MethodGet, target: "/healthz", header: map[string]string{"Origin": "https://app.example"}})
		if got := res.header.Get("Access-Control-Allow-Origin"); (origins != nil) != (got != "") {
			t.Errorf("GET /healthz from https://app.example with origins %v: Access-Control-Allow-Origin %q", origins, got)
		}
		res = g.do(t, req{method: http.MethodOptions, target: "/healthz", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}})
		if origins != nil && origins[0] != "*" && res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("OPTIONS from a foreign origin got Access-Control-Allow-Origin")
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	g := newGW(t, Options{})
	for _, target := range []string{"/healthz", "/readyz"} {
		wantStatus(t, "GET", target, g.get(t, target), 200)
	}
	var sawDeadline bool
	notReady := errors.New("no provider answers")
	g = newGW(t, Options{Ready: func(ctx context.Context) error {
		_, sawDeadline = ctx.Deadline()
		return notReady
	}})
	res := g.get(t, "/readyz")
	wantProblem(t, "GET", "/readyz", res, 503, "/problems/not-ready", "no provider answers")
	if res.header.Get("Retry-After") == "" || !sawDeadline {
		t.Errorf("GET /readyz: Retry-After %q, deadline %v", res.header.Get("Retry-After"), sawDeadline)
	}
	wantStatus(t, "GET", "/healthz", g.get(t, "/healthz"), 200)
	g = newGW(t, Options{Ready: func(context.Context) error { return nil }})
	if res := g.get(t, "/readyz"); string(res.body) != `{"status":"ready"}`+"\n" {
		t.Errorf("GET /readyz = %s", res.body)
	}
}

type panicStore struct{ errStore }

func (panicStore) Get(context.Context, string, string) ([]byte, bool, error) { panic("boom") }

type logSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

func TestPanicAndLogs(t *testing.T) {
	sink := &logSink{}
	g := newGW(t, Options{Store: panicStore{}, Logger: slog.New(sink)})
	sink.records = nil
	res := g.get(t, "/buckets/b/keys/k")
	wantProblem(t, "GET", "/buckets/b/keys/k", res, 500, "/problems/internal")
	if strings.Contains(string(res.body), "boom") {
		t.Errorf("500 leaks the panic: %s", res.body)
	}
	g.get(t, "/healthz")
	if len(sink.records) != 2 {
		t.Fatalf("%d log records; want one per request", len(sink.records))
	}
	attrs := map[string]string{}
	sink.records[0].Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	for k, want := range map[string]string{"method": "GET", "path": "/buckets/b/keys/k", "status": "500"} {
		if attrs[k] != want {
			t.Errorf("log attr %s = %q; want %q", k, attrs[k], want)
		}
	}
	if !strings.Contains(attrs["error"], "boom") || attrs["bytes"] == "0" || attrs["duration"] == "" {
		t.Errorf("log attrs %v: want the panic, bytes and duration", attrs)
	}
	if sink.records[0].Level != slog.LevelInfo || sink.records[1].Level != slog.LevelDebug {
		t.Errorf("levels %v, %v; want Info for the API, Debug for probes", sink.records[0].Level, sink.records[1].Level)
	}
}

// Each provider answer, sent over NATS by a real provider, reaches the HTTP client as its
// problem; a provider failing without an answer is a remote failure.
func TestProviderAnswersOverNATS(t *testing.T) {
	t.Parallel()
	g := newGW(t, Options{Store: kvtest.Answering(memory.New())})
	for bucket, want := range map[string]struct {
		status      int
		typ, detail string
	}{
		kvtest.NoSuchStore:  {404, "/problems/no-such-store", `"no-such-store"`},
		kvtest.AccessDenied: {403, "/problems/access-denied", ""},
		kvtest.Other:        {502, "/problems/provider-error", "boom"},
		kvtest.Fail:         {502, "/problems/remote-failure", ""},
	} {
		for _, target := range []string{"/buckets/" + bucket + "/keys/k", "/buckets/" + bucket + "/keys"} {
			wantProblem(t, "GET", target, g.get(t, target), want.status, want.typ, want.detail)
		}
		res := g.postJSON(t, "/buckets/"+bucket+"/batch/get", `{"keys":["k"]}`)
		wantProblem(t, "POST", "/buckets/"+bucket+"/batch/get", res, want.status, want.typ, want.detail)
	}
}

// A panic after the response has begun aborts the connection: a truncated body must not look
// complete. The request is still logged, at Warn, as aborted.
func TestPanicAfterTheResponseBegan(t *testing.T) {
	sink := &logSink{}
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("the first part"))
		_ = http.NewResponseController(w).Flush()
		panic("late")
	})
	g := newGW(t, Options{UI: ui, Logger: slog.New(sink)})
	srv := httptest.NewServer(g.h)
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	res, err := srv.Client().Get(srv.URL + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		t.Fatalf("GET /page read %q to its end; want the body cut off", body)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var found bool
	for _, r := range sink.records {
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if attrs["path"] == "/page" {
			found = r.Level == slog.LevelWarn && attrs["aborted"] == "true" && strings.Contains(attrs["error"], "late")
		}
	}
	if !found {
		t.Errorf("no Warn record of the aborted request: %v", sink.records)
	}
}

// Failures of the provider are logged at Warn with the wRPC error behind them.
func TestUpstreamFailuresLogAtWarn(t *testing.T) {
	sink := &logSink{}
	g := newGW(t, Options{Store: kvtest.Answering(memory.New()), Logger: slog.New(sink)})
	sink.mu.Lock()
	sink.records = nil
	sink.mu.Unlock()
	g.get(t, "/buckets/"+kvtest.Fail+"/keys/k")  // 502 remote failure
	g.get(t, "/buckets/"+kvtest.Other+"/keys/k") // 502 provider error
	g.get(t, "/buckets/ok/keys/k")               // 404
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.records) != 3 {
		t.Fatalf("%d records; want 3", len(sink.records))
	}
	for i, want := range []slog.Level{slog.LevelWarn, slog.LevelWarn, slog.LevelInfo} {
		r := sink.records[i]
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if r.Level != want {
			t.Errorf("record %d (%s) at %v; want %v", i, attrs["status"], r.Level, want)
		}
		if i == 0 && !strings.Contains(attrs["error"], "wrpc: remote failure") {
			t.Errorf("502 logged without the wRPC error: %v", attrs)
		}
	}
}
