package jetstream

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Names in JetStream KV are restricted: a bucket matches ^[a-zA-Z0-9_-]+$ and a key matches
// ^[-/_=.a-zA-Z0-9]+$ without a leading or trailing '.' or "..". wrpc:keyvalue buckets and keys
// are any string, so both are stored through reversible encodings that keep common names
// readable:
//
//   - Key: [A-Za-z0-9_/-] stay as they are; '.' stays when it is neither the first nor the last
//     byte and neither neighbour is a '.'; every other byte, '=' included, becomes "=XX" (two
//     upper-case hex digits). The empty key is "=" alone. So "user.42/avatar" is stored as
//     "user.42/avatar", "a b" as "a=20b", "..." as "=2E=2E=2E".
//   - Bucket: [a-z0-9-] stay as they are; every other byte, '_' and upper-case letters
//     included, becomes "_XX". The empty bucket is "_" alone. So "orders-2024" is
//     "orders-2024", "my_bucket" is "my_5Fbucket" (its stream is "KV_my_5Fbucket"), and
//     "Users" is "_55sers". A bucket's stream is a directory of the server's file store, and
//     on case-insensitive file systems (macOS, Windows) "Users" and "users" would share one;
//     escaping upper case keeps any two encoded bucket names apart however case is folded.
//
// Decoding accepts only the canonical form the encoder produces, so each stored name maps back
// to exactly one wrpc name and each wrpc name to exactly one stored name.

// Limits on the encoded names. A stream name is at most 255 bytes and the bucket's stream is
// "KV_" + bucket. A key travels in the subject "$KV.<bucket>.<key>", and reading it sends that
// subject inside the subject of a direct-get request, whose protocol line the server caps at
// 4096 bytes by default (max_control_line); MaxSubjectLen leaves room in that line for the API
// prefix of a JetStream domain, a custom inbox prefix and the protocol's own fields. An encoded
// key may so be up to MaxSubjectLen - 5 - len(encoded bucket) bytes long.
const (
	MaxEncodedBucketLen = 255 - len("KV_")
	MaxSubjectLen       = 3072
)

const (
	keyEscape    = '='
	bucketEscape = '_'
	upperHex     = "0123456789ABCDEF"
)

// EncodeKey returns the JetStream KV key that stores the wrpc key k.
func EncodeKey(k string) string {
	if k == "" {
		return string(keyEscape)
	}
	var b strings.Builder
	b.Grow(len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case isAlnum(c) || c == '-' || c == '_' || c == '/':
			b.WriteByte(c)
		case c == '.' && i > 0 && i < len(k)-1 && k[i-1] != '.' && k[i+1] != '.':
			// The byte before it in the output is a kept byte or a hex digit and the byte
			// after it is a kept byte or '=', so no "..", nor a '.' at either end, appears.
			b.WriteByte(c)
		default:
			b.WriteByte(keyEscape)
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xF])
		}
	}
	return b.String()
}

// DecodeKey returns the wrpc key stored as the JetStream KV key s. ok is false when s is not
// in the canonical form EncodeKey produces or does not decode to UTF-8: such keys were written
// by something else, and list-keys leaves them out.
func DecodeKey(s string) (k string, ok bool) {
	if s == string(keyEscape) {
		return "", true
	}
	k, ok = unescape(s, keyEscape, true)
	if !ok || !utf8.ValidString(k) || EncodeKey(k) != s {
		return "", false
	}
	return k, true
}

// EncodeBucket returns the JetStream KV bucket name that stores the wrpc bucket name n.
func EncodeBucket(n string) string {
	if n == "" {
		return string(bucketEscape)
	}
	var b strings.Builder
	b.Grow(len(n))
	for i := 0; i < len(n); i++ {
		c := n[i]
		if isLowerAlnum(c) || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(bucketEscape)
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0xF])
	}
	return b.String()
}

// DecodeBucket returns the wrpc bucket name stored as the JetStream KV bucket s; ok is false
// when s is not in the canonical form EncodeBucket produces or does not decode to UTF-8.
func DecodeBucket(s string) (n string, ok bool) {
	if s == string(bucketEscape) {
		return "", true
	}
	n, ok = unescape(s, bucketEscape, false)
	if !ok || !utf8.ValidString(n) || EncodeBucket(n) != s {
		return "", false
	}
	return n, true
}

// unescape replaces each esc followed by two upper-case hex digits with the byte they spell.
func unescape(s string, esc byte, dots bool) (string, bool) {
	if s == "" {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == esc:
			if i+2 >= len(s) {
				return "", false
			}
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		case isAlnum(c) || c == '-' || c == '_' || (dots && (c == '/' || c == '.')):
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return b.String(), true
}

func isLowerAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// names holds a bucket's encoded name and the subjects derived from it.
type names struct {
	bucket  string // as the caller named it
	encoded string // the KV bucket name
	stream  string // "KV_" + encoded
	prefix  string // "$KV." + encoded + "."
}

func bucketNames(bucket string) (names, error) {
	enc := EncodeBucket(bucket)
	if len(enc) > MaxEncodedBucketLen {
		return names{}, &keyvalue.OtherError{Message: fmt.Sprintf(
			"bucket name too long: %d bytes once encoded for JetStream, at most %d allowed",
			len(enc), MaxEncodedBucketLen)}
	}
	return names{bucket: bucket, encoded: enc, stream: "KV_" + enc, prefix: "$KV." + enc + "."}, nil
}

// key encodes k for this bucket and checks that its subject stays within MaxSubjectLen.
func (n names) key(k string) (string, error) {
	enc := EncodeKey(k)
	if len(n.prefix)+len(enc) > MaxSubjectLen {
		return "", &keyvalue.OtherError{Message: fmt.Sprintf(
			"key too long: %d bytes once encoded for JetStream, at most %d allowed in this bucket",
			len(enc), MaxSubjectLen-len(n.prefix))}
	}
	return enc, nil
}
