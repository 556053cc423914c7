// Package wire encodes and decodes component-model values in the byte form wRPC sends them:
// unsigned LEB128 integers, one-byte bools and option/result tags, LEB128 variant
// discriminants, and length-prefixed strings and lists.
//
// Encoders are Append functions that append a value to a slice and return the extended slice.
// Decoders are Consume functions that read one value from the front of a slice and return it
// with the number of bytes it took. A decoder never panics, never retains the input slice,
// and never allocates more than the input could hold: length prefixes are checked against
// the remaining bytes before anything is allocated.
//
// When the input ends before a complete value, decoders return an error matching
// ErrTruncated: with more bytes the same call may succeed. Where the input already says how
// long the value is (a length or count prefix was read), the error is a *TruncatedError
// stating the least number of bytes the whole value needs, so that a caller can refuse a
// value announced larger than it accepts without waiting for its bytes. Every other decode
// error matches
// exactly one of ErrOverflow, ErrInvalidBool, ErrInvalidUTF8 or ErrDiscriminant and means
// the bytes can never decode. On error the returned count is 0.
//
// The package imports only the standard library.
package wire

import (
	"errors"
	"fmt"
	"math"
)

// Decode errors. Decoders may wrap them with detail; test with errors.Is.
var (
	// ErrTruncated means the input ended before a complete value.
	ErrTruncated = errors.New("wire: truncated input")
	// ErrOverflow means a LEB128 integer is longer than its type allows or does not fit in it.
	ErrOverflow = errors.New("wire: integer overflows its type")
	// ErrInvalidBool means a bool byte is neither 0 nor 1.
	ErrInvalidBool = errors.New("wire: invalid bool byte")
	// ErrInvalidUTF8 means a string is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("wire: string is not valid UTF-8")
	// ErrDiscriminant means an option, result or variant tag names no case of the type.
	ErrDiscriminant = errors.New("wire: unknown discriminant")
)

// TruncatedError is an ErrTruncated that knows a lower bound of the input's length: the
// value being decoded needs at least Need bytes counted from the start of the input.
type TruncatedError struct {
	Need uint64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("wire: truncated input: the value needs at least %d bytes", e.Need)
}

// Is makes a *TruncatedError match ErrTruncated.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// Offset returns err as it reads from an input that starts off bytes earlier: the Need of a
// *TruncatedError is moved by off, in place (each decoder call returns a fresh one, so
// nobody else holds it); any other error is returned as is.
func Offset(err error, off int) error {
	if te, ok := err.(*TruncatedError); ok {
		te.Need += uint64(off)
	}
	return err
}

// MaxLen is the largest length a string or list can have on the wire: lengths are u32.
const MaxLen = math.MaxUint32

// checkLen panics when n cannot be written as a u32 length prefix. Such a value cannot be
// sent at all, and writing a wrapped-around prefix would make the peer read a different,
// shorter value, so the encoders treat it as a programming error. Callers that take sizes
// from outside must bound them far below MaxLen first.
func checkLen(n int) uint32 {
	if n < 0 || uint64(n) > MaxLen {
		panic("wire: length out of range for a u32 length prefix")
	}
	return uint32(n)
}
