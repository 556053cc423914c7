package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// Keys with every character that breaks routing elsewhere round-trip through every route.
func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	g := newGW(t, Options{})
	keys := []string{
		"plain", "a/b", "/leading", "trailing/", "a//b", "100%", "%2F", "a+b", "a#b", "a?b", "a&b=c",
		"with space", "emoji 😀", "日本語", "ключ", "tab\tand\nnewline", "..", ".", "~!*'()", `quote"back\`,
	}
	for _, key := range keys {
		target := keyPath("bkt", key)
		value := []byte("value of " + key)
		wantStatus(t, "PUT", target, g.put(t, target, value), http.StatusNoContent)

		res := g.get(t, target)
		if wantStatus(t, "GET", target, res, http.StatusOK) && !bytes.Equal(res.body, value) {
			t.Errorf("GET %s = %q; want %q", target, res.body, value)
		}
		wantStatus(t, "HEAD", target, g.do(t, req{method: http.MethodHead, target: target}), http.StatusOK)

		body, _ := json.Marshal(map[string]any{"keys": []string{key}})
		res = g.postJSON(t, "/buckets/bkt/batch/get?encoding=utf8", string(body))
		if wantStatus(t, "POST", "batch/get", res, http.StatusOK) &&
			!strings.Contains(string(res.body), string(mustJSON(t, string(value)))) {
			t.Errorf("batch/get %q = %s; want its value", key, res.body)
		}
	}
	// Listing returns each key decoded, exactly as written.
	res := g.get(t, "/buckets/bkt/keys?limit=1000")
	var page struct{ Keys []string }
	_ = json.Unmarshal(res.body, &page)
	for _, key := range keys {
		if n := count(page.Keys, key); n != 1 {
			t.Errorf("GET /buckets/bkt/keys lists %q %d times; want once", key, n)
		}
	}
	for _, key := range keys {
		target := keyPath("bkt", key)
		wantStatus(t, "DELETE", target, g.do(t, req{method: http.MethodDelete, target: target}), http.StatusNoContent)
		wantStatus(t, "HEAD", target, g.do(t, req{method: http.MethodHead, target: target}), http.StatusNotFound)
	}
	// Buckets are path segments too.
	for _, bucket := range []string{"a/b", "sp ace", "😀", "100%"} {
		target := keyPath(bucket, "k")
		wantStatus(t, "PUT", target, g.put(t, target, []byte("x")), http.StatusNoContent)
		wantStatus(t, "GET", target, g.get(t, target), http.StatusOK)
	}
	// %2F never splits a key: a/b and a plus b are different keys.
	wantStatus(t, "GET", "/buckets/bkt/keys/a/b", g.get(t, "/buckets/bkt/keys/a/b"), http.StatusNotFound)
}

func TestInvalidPathParams(t *testing.T) {
	g := newGW(t, Options{})
	long := strings.Repeat("k", DefaultMaxKeyBytes)
	longBucket := strings.Repeat("b", DefaultMaxBucketBytes)
	multibyte := strings.Repeat("é", DefaultMaxKeyBytes/2) // exactly the limit in bytes
	tests := []struct {
		method, target string
		status         int
		typ            string
		detail         string
	}{
		{"GET", "/buckets/b/keys/%FF", 400, "/problems/validation", `"key"`},
		{"PUT", "/buckets/b/keys/ok%C3", 400, "/problems/validation", "UTF-8"},
		{"GET", "/buckets/%FE/keys/k", 400, "/problems/validation", `"bucket"`},
		{"GET", "/buckets/b/keys/", 400, "/problems/validation", "empty"},
		{"DELETE", "/buckets//keys/k", 400, "/problems/validation", `"bucket"`},
		{"GET", "/buckets/%FF/keys", 400, "/problems/validation", `"bucket"`},
		{"POST", "/buckets/b/keys/%FF/increment", 400, "/problems/validation", `"key"`},
		{"GET", keyPath("b", long+"k"), 414, "/problems/uri-too-long", "1024"},
		{"GET", keyPath("b", multibyte+"é"), 414, "/problems/uri-too-long", "1026 bytes"},
		{"GET", keyPath(longBucket+"b", "k"), 414, "/problems/uri-too-long", "255"},
		{"GET", "/buckets/" + longBucket + "b/keys", 414, "/problems/uri-too-long", "255"},
		{"GET", keyPath("b", long), 404, "/problems/no-such-key", ""},
		{"GET", keyPath("b", multibyte), 404, "/problems/no-such-key", ""},
		{"GET", keyPath(longBucket, "k"), 404, "/problems/no-such-key", ""},
	}
	for _, tt := range tests {
		res := g.do(t, req{method: tt.method, target: tt.target})
		wantProblem(t, tt.method, tt.target, res, tt.status, tt.typ, tt.detail)
	}
	res := g.get(t, keyPath("b", long+"k"))
	if p := res.problem(t); p.Limit == nil || *p.Limit != DefaultMaxKeyBytes {
		t.Errorf("414 limit = %v; want %d", p.Limit, DefaultMaxKeyBytes)
	}
}

func TestPutValues(t *testing.T) {
	g := newGW(t, Options{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, v := range [][]byte{{}, all, []byte("<script>alert(1)</script>"), bytes.Repeat([]byte{0}, 1000)} {
		target := "/buckets/b/keys/v"
		res := g.do(t, req{method: http.MethodPut, target: target, body: bytes.NewReader(v),
			header: map[string]string{"Content-Type": "text/html"}})
		wantStatus(t, "PUT", target, res, http.StatusNoContent)
		res = g.get(t, target)
		if !wantStatus(t, "GET", target, res, http.StatusOK) {
			continue
		}
		if !bytes.Equal(res.body, v) {
			t.Errorf("GET %s = %d bytes; want the %d bytes put", target, len(res.body), len(v))
		}
		for k, want := range map[string]string{
			"Content-Type":            "application/octet-stream",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; sandbox",
			"Content-Length":          strconv.Itoa(len(v)),
		} {
			if got := res.header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q; want %q", target, k, got, want)
			}
		}
	}
}

func TestPutValueLimit(t *testing.T) {
	t.Parallel()
	g := newGW(t, Options{})
	max := DefaultMaxValueBytes
	big := bytes.Repeat([]byte{'x'}, max+1)
	target := "/buckets/b/keys/big"

	wantStatus(t, "PUT", target, g.put(t, target, big[:max]), http.StatusNoContent)
	if res := g.get(t, target); len(res.body) != max {
		t.Errorf("GET %s = %d bytes; want %d", target, len(res.body), max)
	}
	res := g.put(t, target, big)
	wantProblem(t, "PUT", target, res, http.StatusRequestEntityTooLarge, "/problems/body-too-large", "16777216 bytes")
	if p := res.problem(t); p.Limit == nil || *p.Limit != int64(max) {
		t.Errorf("413 limit = %v; want %d", p.Limit, max)
	}
	// Refused from Content-Length alone: the body is never read.
	rr := g.do(t, req{method: http.MethodPut, target: target, body: failingReader{}, length: int64(max) + 1})
	wantProblem(t, "PUT", target, rr, http.StatusRequestEntityTooLarge, "/problems/body-too-large")
	// Chunked (no Content-Length): refused once the limit is passed, and accepted under it.
	res = g.do(t, req{method: http.MethodPut, target: target, body: bytes.NewReader(big), chunked: true})
	wantProblem(t, "PUT", target, res, http.StatusRequestEntityTooLarge, "/problems/body-too-large", "16777216")
	res = g.do(t, req{method: http.MethodPut, target: target, body: strings.NewReader("chunked"), chunked: true})
	wantStatus(t, "PUT", target, res, http.StatusNoContent)
	if res := g.get(t, target); string(res.body) != "chunked" {
		t.Errorf("GET %s = %q; want %q", target, res.body, "chunked")
	}
	// A configured limit is the one enforced.
	small := newGW(t, Options{MaxValueBytes: 10})
	wantStatus(t, "PUT", target, small.put(t, target, big[:10]), http.StatusNoContent)
	wantProblem(t, "PUT", target, small.put(t, target, big[:11]), http.StatusRequestEntityTooLarge, "/problems/body-too-large", "10 bytes")
}

func TestETag(t *testing.T) {
	g := newGW(t, Options{})
	target := "/buckets/b/keys/e"
	g.put(t, target, []byte("one"))
	res := g.get(t, target)
	tag := res.header.Get("ETag")
	if !strings.HasPrefix(tag, `"`) || strings.HasPrefix(tag, "W/") {
		t.Fatalf("GET %s: ETag %q is not a strong tag", target, tag)
	}
	if again := g.get(t, target).header.Get("ETag"); again != tag {
		t.Errorf("ETag changed without a write: %q then %q", tag, again)
	}
	for _, tt := range []struct {
		inm    string
		status int
	}{
		{tag, 304}, {"W/" + tag, 304}, {"*", 304}, {`"other", ` + tag, 304},
		{`"other"`, 200}, {"", 200},
	} {
		h := map[string]string{}
		if tt.inm != "" {
			h["If-None-Match"] = tt.inm
		}
		res := g.do(t, req{method: http.MethodGet, target: target, header: h})
		if wantStatus(t, "GET If-None-Match: "+tt.inm, target, res, tt.status) && tt.status == 304 {
			if len(res.body) != 0 || res.header.Get("ETag") != tag {
				t.Errorf("304: body %q, ETag %q; want none and %q", res.body, res.header.Get("ETag"), tag)
			}
		}
	}
	g.put(t, target, []byte("two"))
	res = g.do(t, req{method: http.MethodGet, target: target, header: map[string]string{"If-None-Match": tag}})
	wantStatus(t, "GET after a write, old tag", target, res, http.StatusOK)
	if res.header.Get("ETag") == tag {
		t.Errorf("ETag unchanged after the value changed")
	}
}

func TestHeadAndDelete(t *testing.T) {
	g := newGW(t, Options{})
	target := "/buckets/b/keys/h"
	head := func() *resp { return g.do(t, req{method: http.MethodHead, target: target}) }
	wantStatus(t, "HEAD", target, head(), http.StatusNotFound)
	wantStatus(t, "DELETE absent", target, g.do(t, req{method: http.MethodDelete, target: target}), http.StatusNoContent)
	g.put(t, target, []byte("x"))
	res := head()
	if wantStatus(t, "HEAD", target, res, http.StatusOK) && len(res.body) != 0 {
		t.Errorf("HEAD %s has a body", target)
	}
	wantStatus(t, "DELETE", target, g.do(t, req{method: http.MethodDelete, target: target}), http.StatusNoContent)
	wantStatus(t, "HEAD", target, head(), http.StatusNotFound)
	wantProblem(t, "GET", target, g.get(t, target), http.StatusNotFound, "/problems/no-such-key", `"h"`)
}

func TestIncrement(t *testing.T) {
	g := newGW(t, Options{})
	inc := func(key, body, ct string) *resp {
		h := map[string]string{}
		if ct != "" {
			h["Content-Type"] = ct
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		return g.do(t, req{method: http.MethodPost, target: "/buckets/b/keys/" + key + "/increment", body: rd, header: h})
	}
	value := func(res *resp) string {
		var v struct {
			Value       json.Number
			ValueString string
		}
		if err := json.Unmarshal(res.body, &v); err != nil || v.Value.String() != v.ValueString {
			t.Errorf("increment body %q: value and valueString disagree", res.body)
		}
		return v.ValueString
	}
	tests := []struct {
		key, body, ct string
		status        int
		want          string // valueString, or the detail's expected content for errors
	}{
		{"c", "", "", 200, "1"},
		{"c", "{}", "application/json", 200, "2"},
		{"c", `{"delta":3}`, "application/json", 200, "5"},
		{"c", `{"delta":0}`, "application/json; charset=utf-8", 200, "5"},
		{"big", `{"delta":18446744073709551615}`, "application/json", 200, "18446744073709551615"},
		{"big", "", "", 409, "overflows"},
		{"js", `{"delta":9007199254740993}`, "application/json", 200, "9007199254740993"},
		{"n", `{"delta":18446744073709551616}`, "application/json", 400, "/delta"},
		{"n", `{"delta":-1}`, "application/json", 400, "/delta"},
		{"n", `{"delta":1.5}`, "application/json", 400, "/delta"},
		{"n", `{"delta":1e3}`, "application/json", 400, "/delta"},
		{"n", `{"delta":"5"}`, "application/json", 400, "/delta"},
		{"n", `{"delta":null}`, "application/json", 400, "/delta"},
		{"n", `{"detla":1}`, "application/json", 400, "request body"},
		{"n", `{"delta":`, "application/json", 400, "request body"},
		{"n", `[1]`, "application/json", 400, "request body"},
		{"n", `{"delta":1}`, "text/plain", 415, "application/json"},
		{"n", `{"delta":1}`, "", 415, "application/json"},
		{"n", `{"delta":1}`, "application/json; charset=latin1", 415, "UTF-8"},
		{"n", `{"delta":1,"pad":"` + strings.Repeat("x", maxIncrementBodyBytes) + `"}`, "application/json", 413, "4096"},
	}
	for _, tt := range tests {
		res := inc(tt.key, tt.body, tt.ct)
		target := "POST /buckets/b/keys/" + tt.key + "/increment " + tt.body[:min(len(tt.body), 40)]
		if !wantStatus(t, target, tt.ct, res, tt.status) {
			continue
		}
		if tt.status == 200 {
			if got := value(res); got != tt.want {
				t.Errorf("%s = %s; want %s", target, got, tt.want)
			}
			continue
		}
		if p := res.problem(t); !strings.Contains(p.Detail, tt.want) {
			t.Errorf("%s: detail %q does not mention %q", target, p.Detail, tt.want)
		}
	}
	// The value is a counter stored as decimal text.
	if res := g.get(t, "/buckets/b/keys/c"); string(res.body) != "5" {
		t.Errorf("GET counter = %q; want 5", res.body)
	}
	// The exact digits of values above 2^53 are in the JSON number too.
	if res := inc("js", "", ""); !strings.Contains(string(res.body), `"value":9007199254740994`) {
		t.Errorf("increment above 2^53 = %s", res.body)
	}
	g.put(t, "/buckets/b/keys/text", []byte("abc"))
	wantProblem(t, "POST", "increment of text", inc("text", "", ""), http.StatusConflict, "/problems/not-a-counter", "not an unsigned")
}

// helpers

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("the body was read") }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func count(list []string, s string) int {
	n := 0
	for _, e := range list {
		if e == s {
			n++
		}
	}
	return n
}

// refusingStore answers every increment with the provider error other(message).
type refusingStore struct {
	keyvalue.Store
}

func (refusingStore) Increment(context.Context, string, string, uint64) (uint64, error) {
	return 0, &keyvalue.OtherError{Message: "disk full"}
}

// A provider's refusal of an increment is the request's fault (409) only when the stored value
// shows it: not a counter, or no room for delta. Otherwise it stays the provider's (502).
func TestIncrementRefused(t *testing.T) {
	s := memory.New()
	g := newGW(t, Options{Store: refusingStore{s}})
	inc := func(key, body string) *resp {
		return g.postJSON(t, "/buckets/b/keys/"+key+"/increment", body)
	}
	g.put(t, "/buckets/b/keys/text", []byte("12a"))
	g.put(t, "/buckets/b/keys/padded", []byte(" 12"))
	g.put(t, "/buckets/b/keys/max", []byte("18446744073709551615"))
	g.put(t, "/buckets/b/keys/past", []byte("18446744073709551616"))
	g.put(t, "/buckets/b/keys/small", []byte("7"))
	tests := []struct {
		key, body string
		status    int
		typ, want string
	}{
		{"text", "", 409, "/problems/not-a-counter", "not an unsigned decimal integer; the provider said: disk full"},
		{"padded", "", 409, "/problems/not-a-counter", "not an unsigned decimal integer"},
		{"past", "", 409, "/problems/not-a-counter", "not an unsigned decimal integer"},
		{"max", "", 409, "/problems/not-a-counter", "overflows"},
		{"max", `{"delta":0}`, 502, "/problems/provider-error", "disk full"},
		{"small", `{"delta":18446744073709551609}`, 409, "/problems/not-a-counter", "overflows"},
		{"small", `{"delta":18446744073709551608}`, 502, "/problems/provider-error", "disk full"},
		{"absent", "", 502, "/problems/provider-error", "disk full"},
	}
	for _, tt := range tests {
		wantProblem(t, "POST", tt.key+" "+tt.body, inc(tt.key, tt.body), tt.status, tt.typ, tt.want)
	}
}
