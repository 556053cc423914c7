package handlers

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wrpc-kv/gateway/auth"
)

// authRealm is the realm of the gateway's WWW-Authenticate challenges.
const authRealm = `Bearer realm="wrpc-kv-gateway"`

// authenticate returns the caller of r, or the problem answering it: 401 without valid
// credentials, 429 over a rate limit. With authentication off it returns nil, nil.
func (h *handler) authenticate(r *http.Request) (*auth.Identity, *problem) {
	if !h.opts.Auth.Enabled() {
		return nil, nil
	}
	id, err := h.opts.Auth.Authenticate(r)
	if err == nil {
		return id, nil
	}
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		p := newProblem(kindRateLimited, "too many requests from %s; retry in %v", rl.Who, rl.RetryAfter.Round(time.Millisecond))
		p.header = http.Header{"Retry-After": {strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds())))}}
		p.cause = err
		return nil, p
	}
	challenge := authRealm
	var p *problem
	var ce *auth.CredentialError
	if errors.As(err, &ce) {
		p = newProblem(kindUnauthenticated, "%s", ce.Reason)
		challenge += `, error="invalid_token", error_description="` + strings.ReplaceAll(ce.Reason, `"`, "'") + `"`
	} else {
		p = newProblem(kindUnauthenticated, "this request needs credentials: send an Authorization: Bearer header with a token")
	}
	p.header = http.Header{"Www-Authenticate": {challenge}}
	p.cause = err
	return nil, p
}

// forbidden is the 403 of a caller missing the permission for a on key of bucket (key ""
// for the bucket as a whole).
func forbidden(id *auth.Identity, a auth.Action, bucket, key string) *problem {
	what := "bucket " + strconv.Quote(bucket)
	if key != "" {
		what = "key " + strconv.Quote(key) + " of " + what
	}
	return newProblem(kindForbidden, "%s %q may not %s %s: it lacks the permission %s",
		id.Kind, id.ID, a, what, auth.Needed(a, bucket, key))
}

// authorize checks that the request's caller may do a on key of bucket; with
// authentication off everything is allowed.
func authorize(r *http.Request, a auth.Action, bucket, key string) error {
	id := auth.FromContext(r.Context())
	if id == nil || id.Allows(a, bucket, key) {
		return nil
	}
	return forbidden(id, a, bucket, key)
}

// authorizeKeys checks every key of a batch before any call: one key out of scope refuses
// the whole batch.
func authorizeKeys(r *http.Request, a auth.Action, bucket string, keys []string) error {
	for _, k := range keys {
		if err := authorize(r, a, bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// listScope returns what a listing of bucket may show the caller: all keys, or those under
// prefixes; a caller who may read no key of the bucket is refused.
func listScope(r *http.Request, bucket string) (all bool, prefixes []string, err error) {
	id := auth.FromContext(r.Context())
	if id == nil {
		return true, nil, nil
	}
	all, prefixes = id.Prefixes(auth.Read, bucket)
	if !all && len(prefixes) == 0 {
		return false, nil, forbidden(id, auth.Read, bucket, "")
	}
	return all, prefixes, nil
}

// whoami answers who the caller is and what it may do.
func (h *handler) whoami(w http.ResponseWriter, r *http.Request, _ *input) error {
	type identity struct {
		Auth        string   `json:"auth"`
		ID          *string  `json:"id"`
		Permissions []string `json:"permissions"`
		Expires     *string  `json:"expires"`
	}
	out := identity{Auth: "off", Permissions: []string{"*:*"}}
	if id := auth.FromContext(r.Context()); id != nil {
		out = identity{Auth: id.Kind, ID: &id.ID, Permissions: id.PermissionStrings()}
		if !id.Expires.IsZero() {
			e := id.Expires.UTC().Format(time.RFC3339)
			out.Expires = &e
		}
	}
	return writeJSONValue(w, http.StatusOK, out)
}
