package handlers

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Over a real HTTP server and client: the URL parsing of net/http keeps %2F inside a key, a
// chunked body over the limit is refused, and HEAD carries no body.
func TestOverRealServer(t *testing.T) {
	g := newGW(t, Options{MaxValueBytes: 1 << 10})
	srv := httptest.NewServer(g.h)
	defer srv.Close()

	send := func(method, path string, body io.Reader, header map[string]string) *resp {
		t.Helper()
		r, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		res, err := srv.Client().Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		out := &resp{status: res.StatusCode, header: res.Header, body: data}
		if err := g.validate(r, out); err != nil {
			t.Errorf("%s %s = %d: response does not match openapi.yaml: %v", method, path, out.status, err)
		}
		return out
	}

	path := keyPath("b", "dir/file name?#%+&=😀")
	wantStatus(t, "PUT", path, send("PUT", path, strings.NewReader("v"), nil), 204)
	if res := send("GET", path, nil, nil); string(res.body) != "v" {
		t.Errorf("GET %s = %d %q; want 200 v", path, res.status, res.body)
	}
	wantStatus(t, "GET", "/buckets/b/keys/dir/file", send("GET", "/buckets/b/keys/dir/file", nil, nil), 404)
	res := send("HEAD", path, nil, nil)
	if wantStatus(t, "HEAD", path, res, 200) && len(res.body) != 0 {
		t.Errorf("HEAD %s has a body", path)
	}

	// Chunked: the client cannot announce the length of a pipe.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte{'x'}, 1<<10+1))
		pw.Close()
	}()
	wantProblem(t, "PUT", path+" (chunked)", send("PUT", path, pr, nil), 413, "/problems/body-too-large", "1024 bytes")

	res = send("POST", "/buckets/b/keys/n/increment", strings.NewReader(`{"delta":18446744073709551615}`),
		map[string]string{"Content-Type": "application/json"})
	if !strings.Contains(string(res.body), `"valueString":"18446744073709551615"`) {
		t.Errorf("increment by 2^64-1 = %s", res.body)
	}
	wantStatus(t, "OPTIONS", path, send("OPTIONS", path, nil, nil), 204)
}
