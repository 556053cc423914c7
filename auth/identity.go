package auth

import (
	"context"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Kinds of identity.
const (
	KindToken = "token" // an API token of the auth file
	KindJWT   = "jwt"   // a JWT of the OpenID Connect issuer
)

// Identity is an authenticated caller.
type Identity struct {
	// ID names the caller in logs and errors: the token's id, or the JWT's subject.
	ID   string
	Kind string
	// Permissions are what the caller may do; nothing else is allowed.
	Permissions []Permission
	// Expires is when the credential stops being valid; zero for never.
	Expires time.Time
	// limiter is the caller's rate limit; nil for none.
	limiter *rate.Limiter
}

// Allows reports whether the caller may do a on key of bucket.
func (id *Identity) Allows(a Action, bucket, key string) bool {
	for _, p := range id.Permissions {
		if p.Allows(a, bucket, key) {
			return true
		}
	}
	return false
}

// Prefixes returns the key prefixes under which the caller may do a in bucket: all is true
// when some permission covers every key; prefixes is empty when nothing is allowed.
func (id *Identity) Prefixes(a Action, bucket string) (all bool, prefixes []string) {
	for _, p := range id.Permissions {
		if p.Actions&a != a || !p.MatchesBucket(bucket) {
			continue
		}
		if p.KeyPrefix == "" {
			return true, nil
		}
		prefixes = append(prefixes, p.KeyPrefix)
	}
	return false, prefixes
}

// UnderPrefixes reports whether key starts with one of prefixes.
func UnderPrefixes(key string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// PermissionStrings is the text of each permission.
func (id *Identity) PermissionStrings() []string {
	out := make([]string, len(id.Permissions))
	for i, p := range id.Permissions {
		out[i] = p.String()
	}
	return out
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity ctx carries, or nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}
