package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// JWTConfig configures the JWTs the gateway accepts: signed by the keys of an OpenID Connect
// issuer, for an audience, carrying permissions in a claim.
type JWTConfig struct {
	// Issuer is the exact iss every token must carry (--jwt-issuer).
	Issuer string
	// Audience must be one of each token's aud (--jwt-audience).
	Audience string
	// JWKSURL is where the issuer publishes its keys (--jwt-jwks-url); JWKSFile a local
	// copy of them (--jwt-jwks-file). With neither, the keys are found through the issuer's
	// discovery document (<issuer>/.well-known/openid-configuration).
	JWKSURL, JWKSFile string
	// PermissionsClaim names the claim holding the permissions: a list of permission texts,
	// or one string of them separated by spaces (--jwt-permissions-claim, default kv).
	PermissionsClaim string
	// RateLimit, when set, limits each subject.
	RateLimit *Limit
}

// DefaultPermissionsClaim is the claim holding a JWT's permissions unless configured.
const DefaultPermissionsClaim = "kv"

// signingAlgs are the algorithms a JWT may be signed with: asymmetric ones only. A token
// whose header says none, or HS256 (which would let anyone holding the public key sign
// tokens, if the key were taken as an HMAC secret), is refused before its signature is
// looked at.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

// jwtVerifier checks tokens with one version of the key set.
type jwtVerifier struct {
	cfg      JWTConfig
	verifier *oidc.IDTokenVerifier
}

// newJWTVerifier builds a verifier: the local key file read now, the remote key set fetched
// on first use and again whenever a token names a key it does not hold (rotation), or the
// discovery document fetched now.
func newJWTVerifier(ctx context.Context, cfg JWTConfig, now func() time.Time) (*jwtVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: JWTs need an issuer and an audience")
	}
	if cfg.JWKSURL != "" && cfg.JWKSFile != "" {
		return nil, errors.New("auth: give the issuer's keys by URL or by file, not both")
	}
	if cfg.PermissionsClaim == "" {
		cfg.PermissionsClaim = DefaultPermissionsClaim
	}
	oc := &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: signingAlgs, Now: now}
	var keys oidc.KeySet
	switch {
	case cfg.JWKSFile != "":
		pub, err := readJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, err
		}
		keys = &oidc.StaticKeySet{PublicKeys: pub}
	case cfg.JWKSURL != "":
		keys = oidc.NewRemoteKeySet(context.WithoutCancel(ctx), cfg.JWKSURL)
	default:
		p, err := oidc.NewProvider(ctx, cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("auth: discovery of %s: %w", cfg.Issuer, err)
		}
		return &jwtVerifier{cfg: cfg, verifier: p.VerifierContext(context.WithoutCancel(ctx), oc)}, nil
	}
	return &jwtVerifier{cfg: cfg, verifier: oidc.NewVerifier(cfg.Issuer, keys, oc)}, nil
}

// readJWKS reads a JSON Web Key Set file and returns its public keys; private keys and
// symmetric ones are refused, so that a secret never ends up verifying tokens.
func readJWKS(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS file: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS file %s: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("auth: JWKS file %s holds no key", path)
	}
	pub := make([]crypto.PublicKey, 0, len(set.Keys))
	for i, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("auth: JWKS file %s: key %d (kid %q) is not a public key", path, i, k.KeyID)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub = append(pub, k.Key)
	}
	return pub, nil
}

// verify checks a JWT and returns its identity.
func (v *jwtVerifier) verify(ctx context.Context, raw string) (*Identity, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, &CredentialError{Reason: "the token expired at " + exp.Expiry.UTC().Format(time.RFC3339)}
		}
		return nil, &CredentialError{Reason: "the token is not valid: " + strings.TrimPrefix(err.Error(), "oidc: "), Err: err}
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return nil, &CredentialError{Reason: "the token's claims do not decode", Err: err}
	}
	texts, err := permissionTexts(claims[v.cfg.PermissionsClaim])
	if err != nil {
		return nil, &CredentialError{Reason: fmt.Sprintf("claim %q: %v", v.cfg.PermissionsClaim, err)}
	}
	perms, err := ParsePermissions(texts)
	if err != nil {
		return nil, &CredentialError{Reason: fmt.Sprintf("claim %q: %v", v.cfg.PermissionsClaim, err)}
	}
	id := tok.Subject
	if id == "" {
		id = "(no subject)"
	}
	return &Identity{ID: id, Kind: KindJWT, Permissions: perms, Expires: tok.Expiry}, nil
}

// permissionTexts reads a permissions claim: absent, a list of strings, or one string of
// permissions separated by spaces (as OAuth scopes are).
func permissionTexts(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("want a list of permissions or a string of them separated by spaces")
	}
	return strings.Fields(s), nil
}
