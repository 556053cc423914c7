package auth

import (
	"errors"
	"testing"
)

func TestParsePermission(t *testing.T) {
	for _, tt := range []struct {
		text         string
		actions      Action
		bucket, pfx  string
		allow, refus [][3]string // action, bucket, key
	}{
		{"read:users", Read, "users", "", [][3]string{{"read", "users", "alice"}}, [][3]string{{"write", "users", "alice"}, {"read", "users2", "a"}}},
		{"read:users/*", Read, "users/*", "", [][3]string{{"read", "users/eu", "a"}, {"read", "users/", "a"}}, [][3]string{{"read", "users", "a"}}},
		{"write:cache:sessions/", Write, "cache", "sessions/", [][3]string{{"write", "cache", "sessions/1"}}, [][3]string{{"write", "cache", "other"}, {"read", "cache", "sessions/1"}}},
		{"read,delete:*", Read | Delete, "*", "", [][3]string{{"delete", "x", "k"}, {"read", "", "k"}}, [][3]string{{"write", "x", "k"}}},
		{"*:tmp-*-eu", All, "tmp-*-eu", "", [][3]string{{"write", "tmp-a-eu", "k"}, {"write", "tmp--eu", "k"}}, [][3]string{{"write", "tmp-a-us", "k"}}},
		{"read:a%3Ab%2A:p:q", Read, "a:b*", "p:q", [][3]string{{"read", "a:b*", "p:q1"}}, [][3]string{{"read", "a:bx", "p:q1"}}},
		{"read:ключ:ключ/", Read, "ключ", "ключ/", [][3]string{{"read", "ключ", "ключ/x"}}, nil},
	} {
		p, err := ParsePermission(tt.text)
		if err != nil {
			t.Errorf("ParsePermission(%q): %v", tt.text, err)
			continue
		}
		if p.Actions != tt.actions || p.Bucket != tt.bucket || p.KeyPrefix != tt.pfx {
			t.Errorf("ParsePermission(%q) = %+v", tt.text, p)
		}
		if again, err := ParsePermission(p.String()); err != nil || again.String() != p.String() {
			t.Errorf("%q: String %q does not read back: %v", tt.text, p.String(), err)
		}
		act := map[string]Action{"read": Read, "write": Write, "delete": Delete}
		for _, c := range tt.allow {
			if !p.Allows(act[c[0]], c[1], c[2]) {
				t.Errorf("%q does not allow %v", tt.text, c)
			}
		}
		for _, c := range tt.refus {
			if p.Allows(act[c[0]], c[1], c[2]) {
				t.Errorf("%q allows %v", tt.text, c)
			}
		}
	}
	for _, bad := range []string{"", "read", "read:", "admin:users", "read;users", "read:%zz", "read:a:%zz", "read,:b", string([]byte{'r', 'e', 'a', 'd', ':', 0xff})} {
		if _, err := ParsePermission(bad); !errors.Is(err, ErrPermission) {
			t.Errorf("ParsePermission(%q) = %v; want ErrPermission", bad, err)
		}
	}
}

// Glob matching stays linear on patterns made to backtrack.
func TestMatchDoesNotBlowUp(t *testing.T) {
	p, err := ParsePermission("read:" + repeat("*a", 200) + "b")
	if err != nil {
		t.Fatal(err)
	}
	if p.MatchesBucket(repeat("a", 2000)) {
		t.Fatal("matched")
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestNeeded(t *testing.T) {
	if got := Needed(Write, "a:b*", "k"); got != "write:a%3Ab%2A:k" {
		t.Errorf("Needed = %q", got)
	}
	if got := Needed(Read, "users", ""); got != "read:users" {
		t.Errorf("Needed = %q", got)
	}
}

// FuzzParsePermission: parsing never panics; what parses prints back to text that parses to
// the same permission, and that permission allows what the first one allows.
func FuzzParsePermission(f *testing.F) {
	for _, s := range []string{"read:users", "write:cache:sessions/", "read,delete:*", "*:tmp-*", "read:a%3Ab:%25x", "read:*a*b*", "delete:%zz"} {
		f.Add(s, "users", "sessions/1")
	}
	f.Fuzz(func(t *testing.T, text, bucket, key string) {
		p, err := ParsePermission(text)
		if err != nil {
			if !errors.Is(err, ErrPermission) {
				t.Fatalf("error %v is not ErrPermission", err)
			}
			return
		}
		q, err := ParsePermission(p.String())
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", text, p.String(), err)
		}
		if q.String() != p.String() || q.Actions != p.Actions || q.Bucket != p.Bucket || q.KeyPrefix != p.KeyPrefix {
			t.Fatalf("%q: %+v reads back as %+v", text, p, q)
		}
		for _, a := range []Action{Read, Write, Delete} {
			if p.Allows(a, bucket, key) != q.Allows(a, bucket, key) {
				t.Fatalf("%q and its printed form disagree on %v %q %q", text, a, bucket, key)
			}
		}
		// A pattern without wildcards matches exactly its bucket.
		if p.pattern.Literal() && p.MatchesBucket(bucket) != (bucket == p.Bucket) {
			t.Fatalf("literal pattern %q matches %q: %v", p.Bucket, bucket, p.MatchesBucket(bucket))
		}
	})
}
