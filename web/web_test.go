package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestServesAssetsWithTypesAndHeaders(t *testing.T) {
	tests := []struct {
		path, contentType string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/ui/app.css", "text/css; charset=utf-8"},
		{"/ui/js/app.js", "text/javascript; charset=utf-8"},
		{"/ui/js/views/key.js", "text/javascript; charset=utf-8"},
		{"/ui/favicon.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		rec := get(t, http.MethodGet, tt.path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d; want 200", tt.path, rec.Code)
		}
		h := rec.Header()
		if got := h.Get("Content-Type"); got != tt.contentType {
			t.Errorf("GET %s Content-Type = %q; want %q", tt.path, got, tt.contentType)
		}
		if got := h.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q; want no-cache", tt.path, got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s X-Content-Type-Options = %q", tt.path, got)
		}
		if got := h.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("GET %s Content-Security-Policy = %q", tt.path, got)
		}
		if etag := h.Get("ETag"); !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
			t.Errorf("GET %s ETag = %q; want a strong quoted hash", tt.path, etag)
		}
		if rec.Body.Len() == 0 {
			t.Errorf("GET %s: empty body", tt.path)
		}
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("Content-Security-Policy allows %q: %s", bad, ContentSecurityPolicy)
		}
	}
	if !strings.HasPrefix(ContentSecurityPolicy, "default-src 'self'") {
		t.Errorf("Content-Security-Policy does not start from default-src 'self': %s", ContentSecurityPolicy)
	}
}

func TestConditionalGetAnswers304(t *testing.T) {
	first := get(t, http.MethodGet, "/ui/js/app.js", nil)
	etag := first.Header().Get("ETag")
	rec := get(t, http.MethodGet, "/ui/js/app.js", http.Header{"If-None-Match": {etag}})
	if rec.Code != http.StatusNotModified {
		t.Fatalf("GET with If-None-Match %s = %d; want 304", etag, rec.Code)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("304 has a body of %d bytes", rec.Body.Len())
	}
	rec = get(t, http.MethodGet, "/ui/js/app.js", http.Header{"If-None-Match": {`"stale"`}})
	if rec.Code != http.StatusOK {
		t.Errorf("GET with a stale ETag = %d; want 200", rec.Code)
	}
}

func TestHeadHasNoBody(t *testing.T) {
	rec := get(t, http.MethodHead, "/", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD / = %d with %d body bytes; want 200 and none", rec.Code, rec.Body.Len())
	}
}

func TestUnknownPathAndMethodAreProblems(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/ui/", http.StatusNotFound},
		{http.MethodGet, "/ui/../web.go", http.StatusNotFound},
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/ui/app.css", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		rec := get(t, tt.method, tt.path, nil)
		if rec.Code != tt.status {
			t.Errorf("%s %s = %d; want %d", tt.method, tt.path, rec.Code, tt.status)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s Content-Type = %q; want application/problem+json", tt.method, tt.path, ct)
		}
		var p struct {
			Title  string `json:"title"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tt.status || p.Title == "" {
			t.Errorf("%s %s body = %s (%v)", tt.method, tt.path, rec.Body, err)
		}
		if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s Allow = %q", tt.method, tt.path, rec.Header().Get("Allow"))
		}
	}
}

func TestHas(t *testing.T) {
	for p, want := range map[string]bool{"/": true, "/ui/js/app.js": true, "/buckets/b/keys/k": false, "/openapi.json": false} {
		if got := Has(p); got != want {
			t.Errorf("Has(%q) = %v; want %v", p, got, want)
		}
	}
}

// Every script, stylesheet and icon that index.html names, and every module a script imports,
// is served: a renamed file breaks this test rather than the page.
func TestReferencesResolve(t *testing.T) {
	index := get(t, http.MethodGet, "/", nil).Body.String()
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html names only %d assets", len(refs))
	}
	for _, m := range refs {
		if strings.HasPrefix(m[1], "/openapi.") {
			continue // served by the API, not by this package
		}
		if !Has(m[1]) {
			t.Errorf("index.html refers to %s, which is not served", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	n := 0
	for p := range assets {
		if path.Ext(p) != ".js" {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(string(assets[p].body), -1) {
			n++
			target := path.Join(path.Dir(p), m[1])
			if !strings.HasPrefix(m[1], ".") || !Has(target) {
				t.Errorf("%s imports %q (%s), which is not served", p, m[1], target)
			}
		}
	}
	if n == 0 {
		t.Error("found no imports in the scripts")
	}
}
