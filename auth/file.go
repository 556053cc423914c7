package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v4"
)

// The auth file (--auth-file) lists the API tokens, in YAML:
//
//	tokens:
//	  - id: ci-reader                      # names the token in logs and errors
//	    hash: $argon2id$v=19$m=19456,t=2,p=1$…$…   # from `gateway token new`; never the secret
//	    expires: 2027-06-30T00:00:00Z      # optional (RFC 3339)
//	    permissions: [read:users, "write:cache:sessions/"]
//	    rate_limit: {per_second: 20, burst: 40}   # optional
type fileConfig struct {
	Tokens []fileToken `yaml:"tokens"`
}

type fileToken struct {
	ID          string     `yaml:"id"`
	Hash        string     `yaml:"hash"`
	Expires     *time.Time `yaml:"expires"`
	Permissions []string   `yaml:"permissions"`
	RateLimit   *Limit     `yaml:"rate_limit"`
}

// Limit is a rate limit: PerSecond requests a second on average, bursts of up to Burst.
type Limit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

func (l Limit) validate() error {
	if l.PerSecond <= 0 || l.Burst < 1 {
		return fmt.Errorf("rate limit %+v: want per_second > 0 and burst >= 1", l)
	}
	return nil
}

// tokenEntry is a token of the auth file, checked.
type tokenEntry struct {
	id      string
	hash    secretHash
	expires time.Time
	perms   []Permission
	limit   *Limit
}

// tokenSet is one version of the auth file.
type tokenSet struct {
	byID map[string]*tokenEntry
}

// loadTokens reads and checks the auth file at path. It accepts no unknown field, so a
// misspelt permissions or expires is an error, not a token that allows more or lasts longer.
func loadTokens(path string) (*tokenSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTokens(data)
}

func parseTokens(data []byte) (*tokenSet, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) { // an empty file has no tokens
		return nil, fmt.Errorf("parse: %w", err)
	}
	set := &tokenSet{byID: make(map[string]*tokenEntry, len(fc.Tokens))}
	for i, t := range fc.Tokens {
		where := fmt.Sprintf("tokens[%d] (id %q)", i, t.ID)
		if !validID.MatchString(t.ID) {
			return nil, fmt.Errorf("%s: id: want 1 to 64 of A-Z a-z 0-9 _ -", where)
		}
		if _, dup := set.byID[t.ID]; dup {
			return nil, fmt.Errorf("%s: a second token with this id", where)
		}
		h, err := parseHash(t.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: hash: %w", where, err)
		}
		if len(t.Permissions) == 0 {
			return nil, fmt.Errorf("%s: no permissions", where)
		}
		perms, err := ParsePermissions(t.Permissions)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		e := &tokenEntry{id: t.ID, hash: h, perms: perms}
		if t.Expires != nil {
			e.expires = *t.Expires
		}
		if t.RateLimit != nil {
			if err := t.RateLimit.validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			l := *t.RateLimit
			e.limit = &l
		}
		set.byID[t.ID] = e
	}
	return set, nil
}
