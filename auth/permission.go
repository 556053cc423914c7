// Package auth decides who calls the gateway and what they may do: API tokens defined in a
// file (their secrets kept only as memory-hard hashes), JWTs from an OpenID Connect issuer,
// permissions scoped by bucket pattern and key prefix, and rate limits per caller.
package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/internal/glob"
)

// Action is what a permission allows.
type Action uint8

// The actions of the API: Read is GET, HEAD, listing and batch/get; Write is PUT, batch/set
// and increment; Delete is DELETE and batch/delete.
const (
	Read Action = 1 << iota
	Write
	Delete
	All = Read | Write | Delete
)

func (a Action) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Delete:
		return "delete"
	case All:
		return "*"
	}
	var parts []string
	for _, b := range []Action{Read, Write, Delete} {
		if a&b != 0 {
			parts = append(parts, b.String())
		}
	}
	return strings.Join(parts, ",")
}

// maxPermissionLen bounds the text of one permission.
const maxPermissionLen = 2048

// Permission allows actions on the keys of the buckets a pattern matches, optionally only on
// keys starting with a prefix. Its text is ACTIONS:BUCKET[:PREFIX]:
//
//	read:users          read every key of bucket users
//	read:users/*        read every key of any bucket whose name starts with users/
//	write:cache:sess/   write keys starting with sess/ in bucket cache
//	read,delete:*       read and delete anything
//	*:tmp-*             everything on buckets starting with tmp-
//
// ACTIONS is read, write, delete, several of them joined by commas, or * for all three.
// BUCKET is a name in which * stands for any run of characters (none included). PREFIX is
// taken as it is written; empty means every key. In BUCKET and PREFIX, %XX escapes a byte,
// so a name holding ':', '*' or '%' is written %3A, %2A, %25.
type Permission struct {
	Actions Action
	// Bucket is the pattern, decoded, its wildcards written *.
	Bucket    string
	pattern   glob.Pattern
	KeyPrefix string
}

// ErrPermission is wrapped by every error of ParsePermission.
var ErrPermission = errors.New("auth: invalid permission")

// ParsePermission parses the text of a permission (see Permission).
func ParsePermission(s string) (Permission, error) {
	fail := func(format string, args ...any) (Permission, error) {
		return Permission{}, fmt.Errorf("%w %q: %s", ErrPermission, truncate(s), fmt.Sprintf(format, args...))
	}
	if len(s) > maxPermissionLen {
		return fail("longer than %d bytes", maxPermissionLen)
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	actions, rest, ok := strings.Cut(s, ":")
	if !ok {
		return fail("want ACTIONS:BUCKET[:PREFIX], e.g. read:users")
	}
	var p Permission
	for a := range strings.SplitSeq(actions, ",") {
		switch strings.TrimSpace(a) {
		case "read":
			p.Actions |= Read
		case "write":
			p.Actions |= Write
		case "delete":
			p.Actions |= Delete
		case "*":
			p.Actions |= All
		default:
			return fail("unknown action %q (want read, write, delete or *)", a)
		}
	}
	bucket, prefix, _ := strings.Cut(rest, ":")
	if bucket == "" {
		return fail("no bucket pattern")
	}
	text, wild, err := decodePattern(bucket)
	if err != nil {
		return fail("bucket pattern: %v", err)
	}
	p.Bucket, p.pattern = text, glob.NewWithWildcards(text, wild)
	if p.KeyPrefix, err = url.PathUnescape(prefix); err != nil || !utf8.ValidString(p.KeyPrefix) {
		return fail("key prefix: bad %%XX escape or not UTF-8")
	}
	return p, nil
}

// decodePattern decodes a bucket pattern: unescaped * are wildcards, %XX are bytes.
func decodePattern(s string) (string, []bool, error) {
	var b strings.Builder
	var wild []bool
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			b.WriteByte('*')
			wild = append(wild, true)
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", nil, errors.New("bad %XX escape")
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			wild = append(wild, false)
			i += 2
		default:
			b.WriteByte(c)
			wild = append(wild, false)
		}
	}
	if !utf8.ValidString(b.String()) {
		return "", nil, errors.New("not UTF-8 once decoded")
	}
	return b.String(), wild, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// MatchesBucket reports whether the pattern matches bucket.
func (p Permission) MatchesBucket(bucket string) bool { return p.pattern.Match(bucket) }

// Allows reports whether p allows action a on key of bucket.
func (p Permission) Allows(a Action, bucket, key string) bool {
	return p.Actions&a == a && p.MatchesBucket(bucket) && strings.HasPrefix(key, p.KeyPrefix)
}

// String is the permission's text, as ParsePermission reads it.
func (p Permission) String() string {
	var b strings.Builder
	b.WriteString(p.Actions.String())
	b.WriteByte(':')
	for i := 0; i < len(p.Bucket); i++ {
		c := p.Bucket[i]
		switch {
		case p.pattern.IsWildcard(i):
			b.WriteByte('*')
		case c == '*' || c == ':' || c == '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	if p.KeyPrefix != "" {
		b.WriteByte(':')
		for i := 0; i < len(p.KeyPrefix); i++ {
			if c := p.KeyPrefix[i]; c == '%' {
				b.WriteString("%25")
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// Needed is the text of the narrowest permission that allows a on key of bucket (key "" for
// the whole bucket): what a 403 names as missing.
func Needed(a Action, bucket, key string) string {
	p := Permission{Actions: a, Bucket: bucket, pattern: glob.NewWithWildcards(bucket, make([]bool, len(bucket))), KeyPrefix: key}
	return p.String()
}

// ParsePermissions parses each of texts.
func ParsePermissions(texts []string) ([]Permission, error) {
	out := make([]Permission, 0, len(texts))
	for _, t := range texts {
		p, err := ParsePermission(strings.TrimSpace(t))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
