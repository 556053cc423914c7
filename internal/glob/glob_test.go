package glob

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"users", "users", true}, {"users", "users2", false}, {"*", "", true}, {"*", "anything", true},
		{"users/*", "users/eu", true}, {"users/*", "users", false}, {"tmp-*-eu", "tmp--eu", true},
		{"tmp-*-eu", "tmp-a-b-eu", true}, {"tmp-*-eu", "tmp-a-us", false}, {"*a*b", "xaxxb", true}, {"*a*b", "xaxxbc", false},
		{"ключ*", "ключи", true},
	} {
		if got := New(tt.pattern).Match(tt.s); got != tt.want {
			t.Errorf("%q matches %q = %v; want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	if !NewWithWildcards("a*", []bool{false, false}).Match("a*") || NewWithWildcards("a*", []bool{false, false}).Match("ab") {
		t.Error("a literal * is not a wildcard")
	}
	// Linear on patterns made to backtrack.
	if New(strings.Repeat("*a", 300) + "b").Match(strings.Repeat("a", 5000)) {
		t.Error("matched")
	}
}
