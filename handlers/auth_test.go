package handlers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wrpc-kv/gateway/auth"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// tokens makes an auth file in dir with one token per id and permissions (comma-joined
// permissions; a leading "expired " makes it expired) and returns the file and the tokens.
func tokens(t *testing.T, dir string, specs map[string]string) (string, map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	out := map[string]string{}
	for id, spec := range specs {
		tok, hash, err := auth.NewToken(id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = tok
		fmt.Fprintf(&b, "  - id: %s\n    hash: %s\n", id, hash)
		if rest, ok := strings.CutPrefix(spec, "expired "); ok {
			spec = rest
			b.WriteString("    expires: 2020-01-01T00:00:00Z\n")
		}
		b.WriteString("    permissions:\n")
		for p := range strings.SplitSeq(spec, " ") {
			fmt.Fprintf(&b, "      - %q\n", p)
		}
	}
	path := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, out
}

func newAuth(t *testing.T, path string) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(context.Background(), auth.Config{TokenFile: path, Anonymous: auth.Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Every operation, with every kind of credential, answers the status its permissions call
// for: 401 without valid credentials, 403 without the permission, the operation's own
// answer otherwise.
func TestAuthMatrix(t *testing.T) {
	path, tok := tokens(t, t.TempDir(), map[string]string{
		"valid":   "*:b",
		"noperm":  "read:other",
		"writer":  "write:b",
		"scoped":  "*:b:other/",
		"expired": "expired *:b",
	})
	backend := memory.New()
	_ = backend.Set(context.Background(), "b", "k", []byte("v"))
	_ = backend.Set(context.Background(), "b", "other/x", []byte("v"))
	g := newGW(t, Options{Store: backend, Auth: newAuth(t, path)})
	creds := map[string]string{
		"none": "", "unknown": "kvgw.valid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"expired": tok["expired"], "noperm": tok["noperm"], "scoped": tok["scoped"], "valid": tok["valid"],
	}
	ops := []struct {
		id, method, target, body string
		ok                       int // with the valid token
		scoped                   int // with a token scoped to another key prefix
	}{
		{"getValue", "GET", "/buckets/b/keys/k", "", 200, 403},
		{"headValue", "HEAD", "/buckets/b/keys/k", "", 200, 403},
		{"listKeys", "GET", "/buckets/b/keys", "", 200, 200},
		{"increment", "POST", "/buckets/b/keys/n/increment", "", 200, 403},
		{"batchGet", "POST", "/buckets/b/batch/get", `{"keys":["k","other/x"]}`, 200, 403},
		{"batchSet", "POST", "/buckets/b/batch/set", `{"items":[{"key":"other/y","value":""},{"key":"z","value":""}]}`, 204, 403},
		{"batchDelete", "POST", "/buckets/b/batch/delete", `{"keys":["other/y","z"]}`, 204, 403},
		{"whoami", "GET", "/whoami", "", 200, 200},
		{"getBucket", "GET", "/buckets/b", "", 200, 200},
		{"putValue", "PUT", "/buckets/b/keys/k2", "v", 204, 403},
		{"deleteValue", "DELETE", "/buckets/b/keys/k2", "", 204, 403},
	}
	for _, op := range ops {
		for _, who := range []string{"none", "unknown", "expired", "noperm", "scoped", "valid"} {
			want := op.ok
			switch who {
			case "none", "unknown", "expired":
				want = 401
			case "noperm":
				want = 403
				if op.id == "whoami" {
					want = 200
				}
			case "scoped":
				want = op.scoped
			}
			h := map[string]string{}
			if c := creds[who]; c != "" {
				h["Authorization"] = "Bearer " + c
			}
			if op.body != "" && op.method == "POST" {
				h["Content-Type"] = "application/json"
			}
			res := g.do(t, req{method: op.method, target: op.target, body: strings.NewReader(op.body), header: h})
			if res.status != want {
				t.Errorf("%s with %s credentials = %d; want %d (%s)", op.id, who, res.status, want, res.body)
				continue
			}
			switch want {
			case 401:
				if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s with %s credentials: 401 without WWW-Authenticate: Bearer", op.id, who)
				}
				if who != "none" && !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s with %s credentials: WWW-Authenticate %q; want invalid_token", op.id, who, res.header.Get("WWW-Authenticate"))
				}
				if op.method != "HEAD" {
					wantProblem(t, op.method, op.target, res, 401, "/problems/unauthenticated")
				}
			case 403:
				if op.method != "HEAD" {
					wantProblem(t, op.method, op.target, res, 403, "/problems/forbidden", "lacks the permission")
				}
			}
			for _, c := range creds {
				if c != "" && (strings.Contains(string(res.body), c) || strings.Contains(fmt.Sprint(res.header), c)) {
					t.Errorf("%s with %s credentials: the answer holds a secret", op.id, who)
				}
			}
		}
	}
	// A token that may only write to the bucket learns where it is served too.
	if res := g.do(t, req{method: "GET", target: "/buckets/b", header: map[string]string{"Authorization": "Bearer " + tok["writer"]}}); res.status != 200 {
		t.Errorf("getBucket with a write-only token = %d %s; want 200", res.status, res.body)
	}
	// The scoped listing shows only keys under its prefix.
	res := g.do(t, req{method: "GET", target: "/buckets/b/keys", header: map[string]string{"Authorization": "Bearer " + tok["scoped"]}})
	if string(res.body) != `{"keys":["other/x"],"cursor":null}`+"\n" {
		t.Errorf("scoped listing = %s; want only other/x", res.body)
	}
	// A refused batch changed nothing: z was never written.
	if _, ok, _ := backend.Get(context.Background(), "b", "z"); ok {
		t.Errorf("a batch refused for one key wrote the others")
	}
}

// The 403 names the permission that was missing; whoami says who the caller is.
func TestAuthAnswers(t *testing.T) {
	path, tok := tokens(t, t.TempDir(), map[string]string{"reader": "read:users read:cache:sessions/"})
	g := newGW(t, Options{Auth: newAuth(t, path)})
	bearer := map[string]string{"Authorization": "Bearer " + tok["reader"]}
	res := g.do(t, req{method: "PUT", target: "/buckets/users/keys/alice", body: strings.NewReader("v"), header: bearer})
	wantProblem(t, "PUT", "users/alice", res, 403, "/problems/forbidden", `token "reader"`, "write:users:alice")
	res = g.do(t, req{method: "GET", target: "/whoami", header: bearer})
	if string(res.body) != `{"auth":"token","id":"reader","permissions":["read:users","read:cache:sessions/"],"expires":null}`+"\n" {
		t.Errorf("whoami = %s", res.body)
	}
	// The probes, the API document and the metrics need no credentials.
	for _, p := range []string{"/healthz", "/openapi.yaml", "/openapi.json"} {
		wantStatus(t, "GET", p, g.get(t, p), 200)
	}
	// With credentials configured, the served document requires them.
	if res := g.get(t, "/openapi.yaml"); !strings.Contains(string(res.body), "security:\n  - bearerAuth: []\ntags:") {
		t.Errorf("the served document does not require the bearer token")
	}
	// With authentication off, whoami says so.
	g = newGW(t, Options{})
	if res := g.get(t, "/whoami"); string(res.body) != `{"auth":"off","id":null,"permissions":["*:*"],"expires":null}`+"\n" {
		t.Errorf("whoami without auth = %s", res.body)
	}
}

// Over its rate limit a token gets 429 with Retry-After; so do requests without valid
// credentials, per client address.
func TestRateLimits(t *testing.T) {
	dir := t.TempDir()
	tok, hash, err := auth.NewToken("slow")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "auth.yaml")
	os.WriteFile(path, []byte("tokens:\n  - id: slow\n    hash: "+hash+"\n    permissions: ['*:*']\n    rate_limit: {per_second: 1, burst: 2}\n"), 0o600)
	a, err := auth.New(context.Background(), auth.Config{TokenFile: path, Anonymous: auth.Limit{PerSecond: 1, Burst: 4}})
	if err != nil {
		t.Fatal(err)
	}
	g := newGW(t, Options{Auth: a})
	var got []int
	for range 3 {
		got = append(got, g.do(t, req{method: "GET", target: "/buckets/b/keys/k", header: map[string]string{"Authorization": "Bearer " + tok}}).status)
	}
	if !slices.Equal(got, []int{404, 404, 429}) {
		t.Errorf("statuses with a 2-request burst = %v; want 404 404 429", got)
	}
	res := g.do(t, req{method: "GET", target: "/buckets/b/keys/k", header: map[string]string{"Authorization": "Bearer " + tok}})
	wantProblem(t, "GET", "over the limit", res, 429, "/problems/rate-limited", `token slow`)
	if ra := res.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q; want 1", ra)
	}
	got = nil
	for range 4 {
		got = append(got, g.get(t, "/buckets/b/keys/k").status)
	}
	// The token's first check (a hash computation) took one of the address's 4.
	if !slices.Equal(got, []int{401, 401, 401, 429}) {
		t.Errorf("statuses without credentials, burst 4 less the token's check = %v; want 401 401 401 429", got)
	}
	time.Sleep(time.Second)
	wantStatus(t, "GET", "a second later", g.get(t, "/buckets/b/keys/k"), 401)
}
