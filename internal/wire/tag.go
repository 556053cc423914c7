package wire

import (
	"errors"
	"fmt"
)

// AppendBool appends v as one byte: 0x00 false, 0x01 true.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// ConsumeBool decodes a bool byte. Any byte other than 0x00 and 0x01 is ErrInvalidBool.
func ConsumeBool(b []byte) (bool, int, error) {
	if len(b) == 0 {
		return false, 0, ErrTruncated
	}
	switch b[0] {
	case 0:
		return false, 1, nil
	case 1:
		return true, 1, nil
	}
	return false, 0, fmt.Errorf("%w: 0x%02x", ErrInvalidBool, b[0])
}

// AppendOptionTag appends the status byte of an option<T>: 0x01 when some (the caller
// then appends the payload), 0x00 when none.
func AppendOptionTag(b []byte, some bool) []byte {
	return AppendBool(b, some)
}

// ConsumeOptionTag decodes the status byte of an option<T> and reports whether a payload
// follows. Like the Rust and Go peers it reads exactly one byte, so only 0x00 and 0x01 are
// accepted; anything else is ErrDiscriminant.
func ConsumeOptionTag(b []byte) (some bool, n int, err error) {
	return consumeStatus(b, "option")
}

// AppendResultTag appends the status byte of a result<O, E>: 0x00 for ok, 0x01 for err.
// The caller then appends the payload of that case, if it has one.
func AppendResultTag(b []byte, isErr bool) []byte {
	return AppendBool(b, isErr)
}

// ConsumeResultTag decodes the status byte of a result<O, E> and reports whether it is the
// err case. Like ConsumeOptionTag it reads exactly one byte: only 0x00 and 0x01 are accepted.
func ConsumeResultTag(b []byte) (isErr bool, n int, err error) {
	return consumeStatus(b, "result")
}

// consumeStatus reads the one-byte status of an option or result: a bool whose other bytes
// are an unknown case (ErrDiscriminant) rather than a bad bool.
func consumeStatus(b []byte, what string) (bool, int, error) {
	v, n, err := ConsumeBool(b)
	if errors.Is(err, ErrInvalidBool) {
		return false, 0, fmt.Errorf("%w: %s status 0x%02x", ErrDiscriminant, what, b[0])
	}
	return v, n, err
}

// AppendTag appends a variant or enum case index as LEB128 u32.
func AppendTag(b []byte, tag uint32) []byte {
	return AppendU32(b, tag)
}

// ConsumeTag decodes a variant or enum case index: a LEB128 u32 (as the Rust peer reads it,
// so non-minimal forms within 5 bytes are accepted) that must be below ncases, otherwise
// the error is ErrDiscriminant.
//
// ConsumeTag(b, 2) also reads option and result tags, but more leniently than the peers
// do (it takes 80 00 as 0); ConsumeOptionTag and ConsumeResultTag read them exactly.
func ConsumeTag(b []byte, ncases uint32) (uint32, int, error) {
	v, n, err := ConsumeU32(b)
	if err != nil {
		return 0, 0, err
	}
	if v >= ncases {
		return 0, 0, fmt.Errorf("%w: case %d of a type with %d cases", ErrDiscriminant, v, ncases)
	}
	return v, n, nil
}
