package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/wrpc-kv/gateway/internal/filewatch"
)

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/buckets/b/keys/k", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Changes must show in the modification time even when made within one tick.
	old := filewatch.ModTime(path)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if !old.IsZero() {
		_ = os.Chtimes(path, time.Now(), old.Add(time.Second))
	}
}

func tokenEntryYAML(id, hash, extra string) string {
	return "  - id: " + id + "\n    hash: " + hash + "\n    permissions: ['read:b']\n" + extra
}

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.yaml")
	good, hash, err := NewToken("ci")
	if err != nil {
		t.Fatal(err)
	}
	old, oldHash, _ := NewToken("old")
	writeFile(t, path, "tokens:\n"+tokenEntryYAML("ci", hash, "")+tokenEntryYAML("old", oldHash, "    expires: 2020-01-01T00:00:00Z\n"))
	a, err := New(context.Background(), Config{TokenFile: path, Anonymous: Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(request(good))
	if err != nil || id.ID != "ci" || id.Kind != KindToken || !id.Allows(Read, "b", "k") || id.Allows(Write, "b", "k") {
		t.Fatalf("Authenticate(good) = %+v, %v", id, err)
	}
	for name, tok := range map[string]string{
		"wrong secret":   good[:len(good)-4] + "AAAA",
		"unknown id":     strings.Replace(good, ".ci.", ".cj.", 1),
		"expired":        old,
		"not a token":    "hello",
		"no secret":      "kvgw.ci.",
		"lower-case jwt": "a.b.c",
	} {
		_, err := a.Authenticate(request(tok))
		var ce *CredentialError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v; want a CredentialError", name, err)
			continue
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error %q holds the credential", name, err)
		}
	}
	if _, err := a.Authenticate(request("")); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no header: %v", err)
	}
	r := request("")
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	var ce *CredentialError
	if _, err := a.Authenticate(r); !errors.As(err, &ce) {
		t.Errorf("Basic: %v; want a CredentialError", err)
	}
}

// The hash is computed once per token: the verdict is cached until the file changes.
func TestVerificationIsCached(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.yaml")
	tok, hash, _ := NewToken("ci")
	writeFile(t, path, "tokens:\n"+tokenEntryYAML("ci", hash, ""))
	a, err := New(context.Background(), Config{TokenFile: path, Anonymous: Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.Authenticate(request(tok)); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Authenticate(request(tok)); err != nil {
			t.Fatal(err)
		}
	})
	// argon2id allocates its 19 MiB in one block per computation: a cached check allocates
	// a few small things only (the request's header lookup, the hash of the text).
	var ms1, ms2 runtimeMem
	ms1.read()
	for range 50 {
		_, _ = a.Authenticate(request(tok))
	}
	ms2.read()
	if grown := ms2.total - ms1.total; grown > 50*64<<10 {
		t.Errorf("50 cached checks allocated %d bytes (first check %v, %v allocs/check): the hash is being recomputed", grown, first, allocs)
	}
}

// A reload replaces the tokens without a restart; a broken file leaves the previous ones.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.yaml")
	tok1, hash1, _ := NewToken("one")
	tok2, hash2, _ := NewToken("two")
	writeFile(t, path, "tokens:\n"+tokenEntryYAML("one", hash1, ""))
	a, err := New(context.Background(), Config{TokenFile: path, Anonymous: Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Watch(ctx, 10*time.Millisecond)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	writeFile(t, path, "tokens:\n"+tokenEntryYAML("two", hash2, ""))
	waitFor("token two accepted after the file changed", func() bool { _, err := a.Authenticate(request(tok2)); return err == nil })
	if _, err := a.Authenticate(request(tok1)); err == nil {
		t.Error("token one still accepted after it left the file")
	}
	for _, broken := range []string{"tokens: [", "tokens:\n  - id: x\n    hash: nope\n    permissions: [read:b]\n", "tokens:\n  - id: two\n    hash: " + hash2 + "\n    permission: ['*:*']\n"} {
		writeFile(t, path, broken)
		if err := a.Reload(ctx); err == nil {
			t.Errorf("Reload of %q succeeded", broken)
		}
		if _, err := a.Authenticate(request(tok2)); err != nil {
			t.Errorf("after the broken file %q, token two: %v; want the previous tokens in force", broken, err)
		}
	}
}

func TestTokenFileErrors(t *testing.T) {
	_, hash, _ := NewToken("x")
	for name, data := range map[string]string{
		"duplicate id":     "tokens:\n" + tokenEntryYAML("x", hash, "") + tokenEntryYAML("x", hash, ""),
		"bad id":           "tokens:\n" + tokenEntryYAML("a b", hash, ""),
		"no permissions":   "tokens:\n  - id: x\n    hash: " + hash + "\n",
		"bad permission":   "tokens:\n  - id: x\n    hash: " + hash + "\n    permissions: [admin:*]\n",
		"unknown field":    "tokens:\n" + tokenEntryYAML("x", hash, "    secret: hunter2\n"),
		"weak hash":        "tokens:\n" + tokenEntryYAML("x", "$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", ""),
		"bad rate limit":   "tokens:\n" + tokenEntryYAML("x", hash, "    rate_limit: {per_second: 0, burst: 1}\n"),
		"not a hash":       "tokens:\n" + tokenEntryYAML("x", "plain-secret", ""),
		"tokens not alist": "tokens: yes\n",
	} {
		if _, err := parseTokens([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if set, err := parseTokens(nil); err != nil || len(set.byID) != 0 {
		t.Errorf("empty file: %v", err)
	}
}

// jwtIssuer is an issuer for tests: RSA keys served as a JWKS over HTTP.
type jwtIssuer struct {
	t    *testing.T
	url  string
	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // kid -> key, all published
}

func newIssuer(t *testing.T) *jwtIssuer {
	is := &jwtIssuer{t: t, keys: map[string]*rsa.PrivateKey{}}
	is.addKey("k1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		defer is.mu.Unlock()
		var set jose.JSONWebKeySet
		for kid, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	is.url = srv.URL
	return is
}

func (is *jwtIssuer) addKey(kid string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	is.keys[kid] = k
	is.mu.Unlock()
	return k
}

func (is *jwtIssuer) drop(kid string) { is.mu.Lock(); delete(is.keys, kid); is.mu.Unlock() }

func (is *jwtIssuer) sign(kid string, claims map[string]any) string {
	is.mu.Lock()
	k := is.keys[kid]
	is.mu.Unlock()
	return signWith(is.t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, claims)
}

func signWith(t *testing.T, key jose.SigningKey, claims map[string]any) string {
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJWT(t *testing.T) {
	is := newIssuer(t)
	const iss, aud = "https://issuer.test", "kv-gateway"
	a, err := New(context.Background(), Config{JWT: &JWTConfig{Issuer: iss, Audience: aud, JWKSURL: is.url + "/jwks"},
		Anonymous: Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"iss": iss, "aud": aud, "sub": "svc-a", "exp": now + 300, "iat": now, "kv": []string{"read:users", "write:cache:s/"}}
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	id, err := a.Authenticate(request(is.sign("k1", claims(nil))))
	if err != nil || id.ID != "svc-a" || id.Kind != KindJWT || !id.Allows(Read, "users", "x") || !id.Allows(Write, "cache", "s/1") || id.Allows(Write, "users", "x") {
		t.Fatalf("a valid JWT = %+v, %v", id, err)
	}
	if id, err := a.Authenticate(request(is.sign("k1", claims(map[string]any{"kv": "read:a delete:b"})))); err != nil || !id.Allows(Delete, "b", "k") {
		t.Errorf("permissions as one string: %+v, %v", id, err)
	}

	pubDER, _ := x509.MarshalPKIXPublicKey(&is.keys["k1"].PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding.EncodeToString
	noneHeader, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	body, _ := json.Marshal(claims(nil))
	for name, tok := range map[string]string{
		"alg none":                            b64(noneHeader) + "." + b64(body) + ".",
		"HS256 with the public key as secret": signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: pubPEM}, claims(nil)),
		"HS256 with the public key's DER":     signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, claims(nil)),
		"signed by another key":               signWith(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ec, KeyID: "k1"}}, claims(nil)),
		"wrong issuer":                        is.sign("k1", claims(map[string]any{"iss": "https://evil.test"})),
		"wrong audience":                      is.sign("k1", claims(map[string]any{"aud": "other-api"})),
		"expired":                             is.sign("k1", claims(map[string]any{"exp": now - 60})),
		"no expiry":                           is.sign("k1", claims(map[string]any{"exp": nil})),
		"not yet valid":                       is.sign("k1", claims(map[string]any{"nbf": now + 3600})),
		"bad permission claim":                is.sign("k1", claims(map[string]any{"kv": []string{"admin:*"}})),
		"tampered":                            tamper(is.sign("k1", claims(nil))),
	} {
		_, err := a.Authenticate(request(tok))
		var ce *CredentialError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v; want a CredentialError", name, err)
		}
	}

	// Rotation: a token signed by a key published after start verifies once the key set is
	// fetched again; one whose key was withdrawn stops verifying.
	is.addKey("k2")
	if _, err := a.Authenticate(request(is.sign("k2", claims(map[string]any{"sub": "svc-b"})))); err != nil {
		t.Errorf("a token of a rotated-in key: %v", err)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	var c map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &c)
	c["kv"] = []string{"*:*"}
	raw, _ = json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// A local JWKS file: its keys verify, a private key in it is refused, and a reload picks up
// a rotated key.
func TestJWKSFile(t *testing.T) {
	is := newIssuer(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func() {
		res, err := http.Get(is.url)
		if err != nil {
			t.Fatal(err)
		}
		var set json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&set)
		res.Body.Close()
		writeFile(t, path, string(set))
	}
	write()
	const iss, aud = "https://issuer.test", "kv"
	a, err := New(context.Background(), Config{JWT: &JWTConfig{Issuer: iss, Audience: aud, JWKSFile: path},
		Anonymous: Limit{PerSecond: 1000, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": iss, "aud": aud, "sub": "s", "exp": time.Now().Unix() + 60, "kv": "read:b"}
	if _, err := a.Authenticate(request(is.sign("k1", c))); err != nil {
		t.Fatalf("token of the file's key: %v", err)
	}
	is.addKey("k2")
	is.drop("k1")
	tok2 := is.sign("k2", c)
	if _, err := a.Authenticate(request(tok2)); err == nil {
		t.Fatal("a key not in the file verified")
	}
	write()
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(request(tok2)); err != nil {
		t.Errorf("after the reload, the rotated key: %v", err)
	}
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.keys["k2"], KeyID: "k2"}}})
	writeFile(t, path, string(priv))
	if err := a.Reload(context.Background()); err == nil {
		t.Error("a JWKS file holding a private key was accepted")
	}
}

// BenchmarkAuthenticate is the cost of authenticating a request whose token was verified
// before: what every request with an API token pays.
func BenchmarkAuthenticate(b *testing.B) {
	path := filepath.Join(b.TempDir(), "auth.yaml")
	tok, hash, _ := NewToken("bench")
	if err := os.WriteFile(path, []byte("tokens:\n"+tokenEntryYAML("bench", hash, "")), 0o600); err != nil {
		b.Fatal(err)
	}
	a, err := New(context.Background(), Config{TokenFile: path})
	if err != nil {
		b.Fatal(err)
	}
	r := request(tok)
	if _, err := a.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if id, err := a.Authenticate(r); err != nil || !id.Allows(Read, "b", "k") {
				b.Fatal(err)
			}
		}
	})
}
