package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/wrpc-kv/gateway/internal/filewatch"
)

// Config configures an Authenticator. A gateway configured with no TokenFile and no JWT
// authenticates nobody: Enabled is false and the handlers let every request through.
type Config struct {
	// TokenFile is the auth file of API tokens (see fileConfig), reloaded when it changes.
	TokenFile string
	// JWT, when set, accepts JWTs of an OpenID Connect issuer.
	JWT *JWTConfig
	// Anonymous limits, per client address, the requests that carry no valid credential
	// (missing, unknown, expired): they cost a hash computation at most, and that is what a
	// guesser would make the gateway do. Zero PerSecond means DefaultAnonymous.
	Anonymous Limit
	// Logger tells of reloads. Nil logs nothing.
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// DefaultAnonymous is the default limit of requests without valid credentials, per client
// address.
var DefaultAnonymous = Limit{PerSecond: 5, Burst: 20}

// Errors of Authenticate. A *CredentialError and ErrNoCredentials answer 401, a
// *RateLimitError 429.
var ErrNoCredentials = errors.New("auth: no credentials: send Authorization: Bearer <token>")

// CredentialError is a credential that does not authenticate: unknown, expired, badly signed
// or malformed. Reason is safe to show the caller: it never holds the credential.
type CredentialError struct {
	Reason string
	Err    error
}

func (e *CredentialError) Error() string { return "auth: " + e.Reason }
func (e *CredentialError) Unwrap() error { return e.Err }

// RateLimitError is a caller over its rate limit.
type RateLimitError struct {
	// RetryAfter is when the next request would be allowed.
	RetryAfter time.Duration
	// Who is the caller, for the log: a token id, a subject, or a client address.
	Who string
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: %s is over its rate limit; retry in %v", e.Who, e.RetryAfter.Round(time.Millisecond))
}

// Authenticator authenticates requests. It is safe for concurrent use, and its credentials
// can be reloaded while it serves.
type Authenticator struct {
	cfg Config
	now func() time.Time
	log *slog.Logger

	tokens atomic.Pointer[tokenSet]
	jwt    atomic.Pointer[jwtVerifier]

	// verified caches credentials checked already, by the SHA-256 of their text, so that a
	// memory-hard hash is computed once per token, not per request.
	verified *cache[*verdict]
	// hashing bounds the hash computations running at once: each takes 19 MiB.
	hashing chan struct{}

	anonymous *limiters[string] // by client address
	callers   *limiters[string] // by kind and id, for tokens and subjects with a limit

	mu      sync.Mutex // serializes Reload
	modTime map[string]time.Time
}

// verdict is a cached authentication.
type verdict struct {
	id      *Identity // nil: the credential does not authenticate
	err     error
	tokens  *tokenSet    // the auth file version it was checked against
	jwt     *jwtVerifier // the key set version
	expires time.Time    // of the verdict: the credential's expiry, or a minute for failures
}

// New returns an Authenticator reading its credentials now; it fails if they do not load.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	a := &Authenticator{cfg: cfg, now: cfg.Now, log: cfg.Logger,
		verified: newCache[*verdict](10000), hashing: make(chan struct{}, 2),
		modTime: map[string]time.Time{}}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.cfg.Anonymous.PerSecond == 0 {
		a.cfg.Anonymous = DefaultAnonymous
	}
	if err := a.cfg.Anonymous.validate(); err != nil {
		return nil, err
	}
	a.anonymous = newLimiters[string](10000)
	a.callers = newLimiters[string](10000)
	a.tokens.Store(&tokenSet{})
	if err := a.load(ctx, true); err != nil {
		return nil, err
	}
	return a, nil
}

// Enabled reports whether any credential is configured.
func (a *Authenticator) Enabled() bool {
	return a != nil && (a.cfg.TokenFile != "" || a.cfg.JWT != nil)
}

// Kinds describes what the Authenticator accepts, for the start-up log.
func (a *Authenticator) Kinds() []string {
	var k []string
	if a.cfg.TokenFile != "" {
		k = append(k, fmt.Sprintf("API tokens (%d in %s)", len(a.tokens.Load().byID), a.cfg.TokenFile))
	}
	if a.cfg.JWT != nil {
		k = append(k, "JWTs of "+a.cfg.JWT.Issuer+" for "+a.cfg.JWT.Audience)
	}
	return k
}

// load reads the auth file and the JWKS file (or sets up the remote key set). With first
// set, any failure fails; later, a file that does not load leaves the version in force.
func (a *Authenticator) load(ctx context.Context, first bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.cfg.TokenFile != "" {
		set, err := loadTokens(a.cfg.TokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth file %s: %w", a.cfg.TokenFile, err))
		} else {
			a.tokens.Store(set)
			a.modTime[a.cfg.TokenFile] = filewatch.ModTime(a.cfg.TokenFile)
			if !first {
				a.log.Info("auth file reloaded", "path", a.cfg.TokenFile, "tokens", len(set.byID))
			}
		}
	}
	if a.cfg.JWT != nil {
		v, err := newJWTVerifier(ctx, *a.cfg.JWT, a.now)
		if err != nil {
			errs = append(errs, err)
		} else {
			a.jwt.Store(v)
			if f := a.cfg.JWT.JWKSFile; f != "" {
				a.modTime[f] = filewatch.ModTime(f)
			}
			if !first {
				a.log.Info("JWT keys reloaded", "issuer", a.cfg.JWT.Issuer)
			}
		}
	}
	return errors.Join(errs...)
}

// Reload reads the credentials again (on SIGHUP). A file that does not load leaves the
// credentials of the last good one in force; the error says why. Requests are served
// throughout, each with the version it started with.
func (a *Authenticator) Reload(ctx context.Context) error {
	err := a.load(ctx, false)
	if err != nil {
		a.log.Error("credentials not reloaded; the previous ones stay in force", "err", err)
	}
	return err
}

// Watch reloads the credentials whenever the auth file or the JWKS file changes, checking
// every interval, until ctx ends.
func (a *Authenticator) Watch(ctx context.Context, interval time.Duration) {
	filewatch.Poll(ctx, interval, func() {
		a.mu.Lock()
		changed := false
		for path, seen := range a.modTime {
			if !filewatch.ModTime(path).Equal(seen) {
				changed = true
			}
		}
		a.mu.Unlock()
		if changed {
			_ = a.Reload(ctx)
		}
	})
}

// Authenticate returns the identity of the request's bearer credential. Errors:
// ErrNoCredentials, *CredentialError (both 401), *RateLimitError (429).
func (a *Authenticator) Authenticate(r *http.Request) (*Identity, error) {
	raw, ok := bearer(r)
	if !ok {
		if err := a.limitAnonymous(r); err != nil {
			return nil, err
		}
		if r.Header.Get("Authorization") != "" {
			return nil, &CredentialError{Reason: "the Authorization header is not Bearer <token>"}
		}
		return nil, ErrNoCredentials
	}
	key := sha256.Sum256([]byte(raw))
	now := a.now()
	tokens, jwt := a.tokens.Load(), a.jwt.Load()
	v, hit := a.verified.get(key)
	if !hit || v.tokens != tokens || v.jwt != jwt || !now.Before(v.expires) {
		// Not checked yet against these credentials: this costs a hash, so it counts
		// against the caller's address first.
		if err := a.limitAnonymous(r); err != nil {
			return nil, err
		}
		v = a.check(r.Context(), raw, tokens, jwt, now)
		a.verified.put(key, v)
	}
	if v.id == nil {
		if hit { // a known bad credential is an anonymous request too
			if err := a.limitAnonymous(r); err != nil {
				return nil, err
			}
		}
		return nil, v.err
	}
	if !v.id.Expires.IsZero() && !now.Before(v.id.Expires) {
		return nil, &CredentialError{Reason: "the credential expired at " + v.id.Expires.UTC().Format(time.RFC3339)}
	}
	if v.id.limiter != nil {
		if d, ok := reserve(v.id.limiter, now); !ok {
			return nil, &RateLimitError{RetryAfter: d, Who: v.id.Kind + " " + v.id.ID}
		}
	}
	return v.id, nil
}

// check authenticates raw against one version of the credentials.
func (a *Authenticator) check(ctx context.Context, raw string, tokens *tokenSet, jwt *jwtVerifier, now time.Time) *verdict {
	v := &verdict{tokens: tokens, jwt: jwt, expires: now.Add(time.Minute)}
	fail := func(err error) *verdict { v.err = err; return v }
	if id, secret, ok := splitToken(raw); ok {
		e := tokens.byID[id]
		if e == nil {
			return fail(&CredentialError{Reason: "unknown token"})
		}
		a.hashing <- struct{}{}
		match := e.hash.matches(secret)
		<-a.hashing
		if !match {
			return fail(&CredentialError{Reason: "unknown token"})
		}
		if !e.expires.IsZero() && !now.Before(e.expires) {
			return fail(&CredentialError{Reason: "the token expired at " + e.expires.UTC().Format(time.RFC3339)})
		}
		v.id = &Identity{ID: e.id, Kind: KindToken, Permissions: e.perms, Expires: e.expires}
		if e.limit != nil {
			v.id.limiter = a.callers.get("token "+e.id, *e.limit)
		}
		v.expires = now.Add(time.Hour)
		if !e.expires.IsZero() && e.expires.Before(v.expires) {
			v.expires = e.expires
		}
		return v
	}
	if jwt == nil || strings.Count(raw, ".") != 2 {
		return fail(&CredentialError{Reason: "not a token of this gateway"})
	}
	id, err := jwt.verify(ctx, raw)
	if err != nil {
		return fail(err)
	}
	if l := jwt.cfg.RateLimit; l != nil {
		id.limiter = a.callers.get("jwt "+id.ID, *l)
	}
	v.id, v.expires = id, id.Expires
	return v
}

// limitAnonymous applies the limit of requests without valid credentials to r's address.
func (a *Authenticator) limitAnonymous(r *http.Request) error {
	addr := clientAddress(r)
	if d, ok := reserve(a.anonymous.get(addr, a.cfg.Anonymous), a.now()); !ok {
		return &RateLimitError{RetryAfter: d, Who: "unauthenticated client " + addr}
	}
	return nil
}

// bearer returns the credential of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != "" && len(cred) <= 8192
}

// clientAddress is the IP address the request came from (the gateway does not trust
// forwarding headers: behind a proxy, every request shares the proxy's limit).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// reserve takes a token of l at now, or says when one will be there.
func reserve(l *rate.Limiter, now time.Time) (time.Duration, bool) {
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}
