package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// An API token is kvgw.<id>.<secret>: the id names the token's entry in the auth file, the
// secret (32 random bytes, base64url) is checked against the entry's hash. The kvgw. prefix
// lets secret scanners recognise a leaked token.
const tokenPrefix = "kvgw."

// validID is what a token id may be: short, and safe in logs and in the token's text.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Argon2id parameters of new hashes: OWASP's recommendation (19 MiB, 2 passes, 1 lane).
// Verification reads the parameters from each hash, so older hashes keep working.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// NewToken returns a fresh token for id and the hash of its secret to keep in the auth file.
// The token itself is shown once and kept nowhere.
func NewToken(id string) (token, hash string, err error) {
	if !validID.MatchString(id) {
		return "", "", fmt.Errorf("auth: token id %q: want 1 to 64 of A-Z a-z 0-9 _ -", id)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	hash, err = HashSecret(secret)
	if err != nil {
		return "", "", err
	}
	return tokenPrefix + id + "." + secret, hash, nil
}

// HashSecret returns the argon2id hash of secret in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash in unpadded base64.
func HashSecret(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// secretHash is a parsed argon2id PHC string.
type secretHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseHash reads a PHC string of HashSecret, refusing parameters that would make every
// verification expensive beyond reason.
func parseHash(s string) (secretHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return secretHash{}, errors.New("not an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
	}
	var h secretHash
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &threads); err != nil {
		return secretHash{}, fmt.Errorf("argon2id parameters %q: %v", parts[3], err)
	}
	switch {
	case h.memory < 8*1024 || h.memory > 1<<20:
		return secretHash{}, fmt.Errorf("argon2id memory %d KiB: want 8 MiB to 1 GiB", h.memory)
	case h.time < 1 || h.time > 16:
		return secretHash{}, fmt.Errorf("argon2id passes %d: want 1 to 16", h.time)
	case threads < 1 || threads > 16:
		return secretHash{}, fmt.Errorf("argon2id lanes %d: want 1 to 16", threads)
	}
	h.threads = uint8(threads)
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return secretHash{}, errors.New("argon2id salt: want at least 8 bytes of unpadded base64")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return secretHash{}, errors.New("argon2id hash: want at least 16 bytes of unpadded base64")
	}
	return h, nil
}

// matches computes the hash of secret and compares it in constant time.
func (h secretHash) matches(secret string) bool {
	key := argon2.IDKey([]byte(secret), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// splitToken returns the id and secret of an API token's text.
func splitToken(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, ".")
	if !ok || !validID.MatchString(id) || len(secret) < 16 || len(secret) > 256 {
		return "", "", false
	}
	return id, secret, true
}
