package wire

import "fmt"

// Unsigned integers are LEB128: seven bits per byte, low group first, high bit set on every
// byte but the last. Encoders write the minimal form.
//
// Decoders accept exactly what the Rust peer accepts (wasm-tokio's Leb128DecoderU32/U64; the
// wasmCloud keyvalue providers are Rust), no more and no less:
//   - redundant zero groups are accepted as long as the whole form stays within the type's
//     maximum length (5 bytes for u32, 10 for u64), so 80 00 decodes as 0;
//   - the last possible byte may only carry the bits that remain (at most 0x0f for the 5th
//     byte of a u32, 0x01 for the 10th byte of a u64) and so can never continue; anything
//     else is ErrOverflow, reported as soon as that byte is seen;
//   - input ending on a byte with the continuation bit set is ErrTruncated.
//
// Accepting non-minimal forms means a decoded value may re-encode shorter than the bytes it
// came from; it never re-encodes to a different value.

var (
	errOverflowU32 = fmt.Errorf("%w: u32 LEB128 longer than 5 bytes or above 2^32-1", ErrOverflow)
	errOverflowU64 = fmt.Errorf("%w: u64 LEB128 longer than 10 bytes or above 2^64-1", ErrOverflow)
)

// AppendU32 appends v as minimal LEB128 (1 to 5 bytes).
func AppendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// ConsumeU32 decodes a LEB128 u32 from the front of b.
func ConsumeU32(b []byte) (uint32, int, error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint32(b[0]), 1, nil
	}
	var v uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, 0, errOverflowU32
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	// Unreachable: a 5th byte that passed the check above has no continuation bit.
	return 0, 0, errOverflowU32
}

// SizeU32 is the length of AppendU32's encoding of v.
func SizeU32(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendU64 appends v as minimal LEB128 (1 to 10 bytes).
func AppendU64(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// ConsumeU64 decodes a LEB128 u64 from the front of b.
func ConsumeU64(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1, nil
	}
	var v uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		if i == 9 && c > 0x01 {
			return 0, 0, errOverflowU64
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	// Unreachable: a 10th byte that passed the check above has no continuation bit.
	return 0, 0, errOverflowU64
}

// SizeU64 is the length of AppendU64's encoding of v.
func SizeU64(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
