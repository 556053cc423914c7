// Package glob matches names against patterns whose only wildcard, *, stands for any run of
// characters (none included), as bucket patterns of permissions and routes do.
package glob

// Pattern is a compiled pattern.
type Pattern struct {
	text string
	wild []bool // wild[i]: text[i] is the wildcard, not a literal *
}

// New compiles text, in which every * is the wildcard.
func New(text string) Pattern {
	wild := make([]bool, len(text))
	for i := range len(text) {
		wild[i] = text[i] == '*'
	}
	return Pattern{text: text, wild: wild}
}

// NewWithWildcards compiles text where wild says which bytes are the wildcard (so a literal
// * can be part of a name). len(wild) must be len(text).
func NewWithWildcards(text string, wild []bool) Pattern {
	return Pattern{text: text, wild: wild}
}

// Text is the pattern's text, its wildcards as *.
func (p Pattern) Text() string { return p.text }

// IsWildcard reports whether byte i of Text is the wildcard.
func (p Pattern) IsWildcard(i int) bool { return i < len(p.wild) && p.wild[i] }

// Literal reports whether the pattern has no wildcard: it matches exactly its text.
func (p Pattern) Literal() bool {
	for _, w := range p.wild {
		if w {
			return false
		}
	}
	return true
}

// Match reports whether s matches. It backtracks only to the last wildcard, so it is linear
// in practice and never recursive.
func (p Pattern) Match(s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p.text) && p.wild[pi]:
			star, mark = pi, si
			pi++
		case pi < len(p.text) && p.text[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p.text) && p.wild[pi] {
		pi++
	}
	return pi == len(p.text)
}
