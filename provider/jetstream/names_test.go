package jetstream

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The rules JetStream KV applies to names.
var (
	validBucket = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	validKey    = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
)

func keyValid(k string) bool {
	return validKey.MatchString(k) && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..")
}

func TestEncodeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "="},
		{"a", "a"},
		{"user.42/avatar", "user.42/avatar"},
		{"a-b_c/d", "a-b_c/d"},
		{"a.b.c", "a.b.c"},
		{".", "=2E"},
		{"..", "=2E=2E"},
		{".a", "=2Ea"},
		{"a.", "a=2E"},
		{"a..b", "a=2E=2Eb"},
		{"a...b", "a=2E=2E=2Eb"},
		{"=", "=3D"},
		{"=2E", "=3D2E"},
		{"_", "_"},
		{" ", "=20"},
		{"%2F", "=252F"},
		{"*", "=2A"},
		{">", "=3E"},
		{"a b", "a=20b"},
		{"ключ 🔑", "=D0=BA=D0=BB=D1=8E=D1=87=20=F0=9F=94=91"},
		{"é.x", "=C3=A9.x"},
		{"x.é", "x.=C3=A9"},
		{"\x00", "=00"},
	} {
		got := EncodeKey(tc.in)
		if got != tc.want {
			t.Errorf("EncodeKey(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if !keyValid(got) {
			t.Errorf("EncodeKey(%q) = %q is not a valid JetStream KV key", tc.in, got)
		}
		if back, ok := DecodeKey(got); !ok || back != tc.in {
			t.Errorf("DecodeKey(%q) = %q, %v; want %q", got, back, ok, tc.in)
		}
	}
}

func TestEncodeBucket(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "_"},
		{"orders-2024", "orders-2024"},
		{"my_bucket", "my_5Fbucket"},
		{"Users", "_55sers"},
		{"users", "users"},
		{"ABC-z", "_41_42_43-z"},
		{"_", "_5F"},
		{"a.b", "a_2Eb"},
		{"a/b", "a_2Fb"},
		{"..", "_2E_2E"},
		{" ", "_20"},
		{"=", "_3D"},
		{"%2F", "_252_46"},
		{"ключ 🔑", "_D0_BA_D0_BB_D1_8E_D1_87_20_F0_9F_94_91"},
	} {
		got := EncodeBucket(tc.in)
		if got != tc.want {
			t.Errorf("EncodeBucket(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if !validBucket.MatchString(got) {
			t.Errorf("EncodeBucket(%q) = %q is not a valid JetStream KV bucket name", tc.in, got)
		}
		if back, ok := DecodeBucket(got); !ok || back != tc.in {
			t.Errorf("DecodeBucket(%q) = %q, %v; want %q", got, back, ok, tc.in)
		}
	}
}

// Stored names that the encoders never produce decode to nothing, so each stored name stands
// for at most one wrpc name.
func TestDecodeRejectsNonCanonical(t *testing.T) {
	for _, s := range []string{
		"", "=2", "=", "=", "a=", "=zz", "=2e", "a=2Eb", "=61", "a b", "a*", "=FF", "=C3",
		"a.=2E", "=3D=", "=2Ea.", "a=2E.b",
	} {
		if s == "=" {
			continue // the empty key
		}
		if k, ok := DecodeKey(s); ok {
			t.Errorf("DecodeKey(%q) = %q, true; want false", s, k)
		}
	}
	for _, s := range []string{"", "_2", "a_", "_zz", "_2e", "_61", "a.b", "a=b", "_FF", "_5f", "Users", "_55seRs"} {
		if n, ok := DecodeBucket(s); ok {
			t.Errorf("DecodeBucket(%q) = %q, true; want false", s, n)
		}
	}
}

// randomName draws short strings heavy in the characters the encodings treat specially.
func randomName(r *rand.Rand) string {
	const special = "..../=_- %*>\x00\xff"
	var b strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(special[r.IntN(len(special))])
		case 1:
			b.WriteByte("abcdefxyzABCDEFXYZ"[r.IntN(18)])
		case 2:
			b.WriteRune(rune(r.IntN(0x11000)))
		default:
			b.WriteString([]string{"=2E", "_5F", "=3D", "🔑", "ключ"}[r.IntN(5)])
		}
	}
	return b.String()
}

func TestEncodingRoundTripAndInjective(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := map[string]string{}
	buckets := map[string]string{}
	for range 50000 {
		s := randomName(r)
		checkKey(t, s)
		checkBucket(t, s)
		if !utf8.ValidString(s) {
			continue
		}
		if prev, ok := keys[EncodeKey(s)]; ok && prev != s {
			t.Fatalf("keys %q and %q both encode to %q", prev, s, EncodeKey(s))
		}
		keys[EncodeKey(s)] = s
		// Compared with case folded: on a case-insensitive file system, bucket names that
		// differ only in case would share a directory.
		folded := strings.ToLower(EncodeBucket(s))
		if prev, ok := buckets[folded]; ok && prev != s {
			t.Fatalf("buckets %q and %q encode to %q and %q, equal but for case", prev, s, EncodeBucket(prev), EncodeBucket(s))
		}
		buckets[folded] = s
	}
}

func checkKey(t *testing.T, s string) {
	t.Helper()
	enc := EncodeKey(s)
	if !keyValid(enc) {
		t.Fatalf("EncodeKey(%q) = %q is not a valid JetStream KV key", s, enc)
	}
	back, ok := DecodeKey(enc)
	if utf8.ValidString(s) && (!ok || back != s) {
		t.Fatalf("DecodeKey(EncodeKey(%q)) = %q, %v", s, back, ok)
	}
	if !utf8.ValidString(s) && ok {
		t.Fatalf("DecodeKey(%q) accepted a name that is not UTF-8", enc)
	}
	// Decoding any string either fails or gives the one name that encodes to it.
	if k, ok := DecodeKey(s); ok && EncodeKey(k) != s {
		t.Fatalf("DecodeKey(%q) = %q, which encodes to %q", s, k, EncodeKey(k))
	}
}

func checkBucket(t *testing.T, s string) {
	t.Helper()
	enc := EncodeBucket(s)
	if !validBucket.MatchString(enc) {
		t.Fatalf("EncodeBucket(%q) = %q is not a valid JetStream KV bucket name", s, enc)
	}
	back, ok := DecodeBucket(enc)
	if utf8.ValidString(s) && (!ok || back != s) {
		t.Fatalf("DecodeBucket(EncodeBucket(%q)) = %q, %v", s, back, ok)
	}
	if n, ok := DecodeBucket(s); ok && EncodeBucket(n) != s {
		t.Fatalf("DecodeBucket(%q) = %q, which encodes to %q", s, n, EncodeBucket(n))
	}
	// Upper case appears only as the hex digits of an escape, whose places the '_' before
	// them fixes: so two encoded names never differ only in case.
	for i := 0; i < len(enc); i++ {
		if 'A' <= enc[i] && enc[i] <= 'Z' && !(i >= 1 && enc[i-1] == '_' || i >= 2 && enc[i-2] == '_') {
			t.Fatalf("EncodeBucket(%q) = %q has an upper-case letter outside an escape", s, enc)
		}
	}
}

func FuzzKeyEncoding(f *testing.F) {
	for _, s := range []string{"", ".", "a.b", "..", "=", "=2E", "ключ 🔑", "a/b", " ", "%2F", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkKey(t, s) })
}

func FuzzBucketEncoding(f *testing.F) {
	for _, s := range []string{"", "_", "_5F", "a-b", "Users", "ключ 🔑", "a.b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkBucket(t, s) })
}

func TestNameLimits(t *testing.T) {
	n, err := bucketNames(strings.Repeat("b", MaxEncodedBucketLen))
	if err != nil {
		t.Fatalf("bucket of %d bytes: %v", MaxEncodedBucketLen, err)
	}
	if _, err := bucketNames(strings.Repeat("b", MaxEncodedBucketLen+1)); err == nil {
		t.Fatal("bucket one byte too long was accepted")
	}
	// "é" is two bytes that encode to six.
	if _, err := bucketNames(strings.Repeat("é", MaxEncodedBucketLen/6+1)); err == nil {
		t.Fatal("bucket too long once encoded was accepted")
	}
	room := MaxSubjectLen - len("$KV.") - MaxEncodedBucketLen - 1
	if _, err := n.key(strings.Repeat("k", room)); err != nil {
		t.Fatalf("key of %d bytes in the longest bucket: %v", room, err)
	}
	if _, err := n.key(strings.Repeat("k", room+1)); err == nil {
		t.Fatal("key one byte too long was accepted")
	}
}
