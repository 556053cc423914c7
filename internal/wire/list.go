package wire

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// AppendString appends s as a LEB128 u32 byte length followed by its bytes.
//
// s should be valid UTF-8: it is sent as is, and the peer rejects a string that is not.
// It panics if len(s) > MaxLen, which cannot be encoded.
func AppendString(b []byte, s string) []byte {
	b = AppendU32(b, checkLen(len(s)))
	return append(b, s...)
}

// ConsumeString decodes a length-prefixed string. The length is checked against the input
// before anything is allocated; bytes that are not valid UTF-8 are ErrInvalidUTF8. The
// result does not share memory with b.
func ConsumeString(b []byte) (string, int, error) {
	p, n, err := consumeLenPrefixed(b)
	if err != nil {
		return "", 0, err
	}
	if !utf8.Valid(p) {
		return "", 0, ErrInvalidUTF8
	}
	return string(p), n, nil
}

// AppendBytes appends p as a list<u8>: a LEB128 u32 count followed by the bytes.
// A nil p is the empty list. It panics if len(p) > MaxLen, which cannot be encoded.
func AppendBytes(b []byte, p []byte) []byte {
	b = AppendU32(b, checkLen(len(p)))
	return append(b, p...)
}

// ConsumeBytes decodes a list<u8>. The returned slice is a copy, so it stays valid after b
// is reused; the empty list decodes to a non-nil empty slice. The count is checked against
// the input before anything is allocated.
func ConsumeBytes(b []byte) ([]byte, int, error) {
	p, n, err := consumeLenPrefixed(b)
	if err != nil {
		return nil, 0, err
	}
	out := make([]byte, len(p))
	copy(out, p)
	return out, n, nil
}

// ConsumeBytesAlias is ConsumeBytes returning a slice of b instead of a copy: for a large
// value in a buffer that is not written again.
func ConsumeBytesAlias(b []byte) ([]byte, int, error) {
	p, n, err := consumeLenPrefixed(b)
	if err != nil {
		return nil, 0, err
	}
	if p == nil {
		p = []byte{}
	}
	return p, n, nil
}

// consumeLenPrefixed returns the payload of a u32-length-prefixed byte run, aliasing b.
func consumeLenPrefixed(b []byte) ([]byte, int, error) {
	l, n, err := ConsumeU32(b)
	if err != nil {
		return nil, 0, err
	}
	if uint64(l) > uint64(len(b)-n) {
		return nil, 0, &TruncatedError{Need: uint64(n) + uint64(l)}
	}
	end := n + int(l)
	return b[n:end], end, nil
}

// AppendListLen appends the element count of a list<T>; the caller then appends the n
// elements. It panics if n is negative or above MaxLen.
func AppendListLen(b []byte, n int) []byte {
	return AppendU32(b, checkLen(n))
}

// ConsumeListLen decodes the element count of a list<T> whose elements each take at least
// minElemSize bytes. If count elements cannot fit in what remains of b, it returns
// ErrTruncated at once, so a caller may allocate count elements after a successful call:
// the allocation is bounded by the input length. For zero-sized elements pass 0; the count
// is then not bounded by the input and must not be used to allocate.
func ConsumeListLen(b []byte, minElemSize int) (count int, n int, err error) {
	c, n, err := ConsumeU32(b)
	if err != nil {
		return 0, 0, err
	}
	if minElemSize > 0 && uint64(c) > uint64((len(b)-n)/minElemSize) {
		return 0, 0, &TruncatedError{Need: uint64(n) + uint64(c)*uint64(minElemSize)}
	}
	if uint64(c) > math.MaxInt { // only where int is 32 bits and minElemSize is 0
		return 0, 0, fmt.Errorf("%w: list count %d does not fit in an int", ErrOverflow, c)
	}
	return int(c), n, nil
}
