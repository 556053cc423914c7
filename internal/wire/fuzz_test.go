package wire

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"unicode/utf8"
)

// Each target decodes arbitrary bytes and checks, for every decoder:
//   - it does not panic; on error n is 0 and the error matches exactly one sentinel;
//   - on success n is within the input, the value does not depend on bytes after n, and
//     every strict prefix of the consumed bytes is ErrTruncated, with a stated length (if
//     any) between the prefix's and the value's;
//   - a minimal encoding re-encodes to exactly the consumed bytes;
//
// and, for the typed argument, that decoding its encoding gives it back.

// checkDecode runs the common checks; dec decodes and returns a comparable form of the value.
func checkDecode[T comparable](t *testing.T, data []byte, dec func([]byte) (T, int, error)) (T, int, bool) {
	t.Helper()
	v, n, err := dec(data)
	if err != nil {
		checkSentinel(t, err)
		if n != 0 {
			t.Fatalf("error %v with n = %d; want 0", err, n)
		}
		var zero T
		return zero, 0, false
	}
	if n <= 0 || n > len(data) {
		t.Fatalf("n = %d for %d bytes of input", n, len(data))
	}
	v2, n2, err := dec(data[:n:n])
	if err != nil || v2 != v || n2 != n {
		t.Fatalf("decoding only the consumed % x = %v, %d, %v; want %v, %d, nil", data[:n], v2, n2, err, v, n)
	}
	for i := range n {
		_, _, err := dec(data[:i:i])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix % x of a valid encoding: error = %v; want ErrTruncated", data[:i], err)
		}
		// A stated length is a true bound: more than the prefix, at most the whole value.
		if te, ok := err.(*TruncatedError); ok && (te.Need <= uint64(i) || te.Need > uint64(n)) {
			t.Fatalf("prefix % x of a %d-byte encoding: need %d", data[:i], n, te.Need)
		}
	}
	return v, n, true
}

func seedLEB(f *testing.F) {
	for _, g := range u64Golden {
		f.Add(unhex(f, g.hex))
	}
	for _, h := range []string{"", "80", "80 00", "ff ff ff ff 0f", "ff ff ff ff 10", "ff ff ff ff ff 01",
		"ff ff ff ff ff ff ff ff ff 01", "ff ff ff ff ff ff ff ff ff 7f", "80 80 80 80 80 80 80 80 80 80 00"} {
		f.Add(unhex(f, h))
	}
}

func FuzzConsumeU32(f *testing.F) {
	seedLEB(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, ok := checkDecode(t, data, ConsumeU32)
		if ok && n == SizeU32(v) && !bytes.Equal(AppendU32(nil, v), data[:n]) {
			t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendU32(nil, v))
		}
		if ok && n > 5 {
			t.Fatalf("u32 took %d bytes", n)
		}
		// The input read as a number, encoded and decoded.
		var x uint32
		for i, c := range data {
			x ^= uint32(c) << (8 * (i % 4))
		}
		enc := AppendU32(nil, x)
		if got, n, err := ConsumeU32(enc); err != nil || got != x || n != len(enc) {
			t.Fatalf("round trip of %d: %d, %d, %v", x, got, n, err)
		}
	})
}

func FuzzConsumeU64(f *testing.F) {
	seedLEB(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, ok := checkDecode(t, data, ConsumeU64)
		if ok && n == SizeU64(v) && !bytes.Equal(AppendU64(nil, v), data[:n]) {
			t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendU64(nil, v))
		}
		if ok && n > 10 {
			t.Fatalf("u64 took %d bytes", n)
		}
		// Every u32 decodes as a u64 too.
		if v32, n32, err := ConsumeU32(data); err == nil {
			if v64, n64, err := ConsumeU64(data); err != nil || v64 != uint64(v32) || n64 != n32 {
				t.Fatalf("u32 %d (%d bytes) read as u64: %d, %d, %v", v32, n32, v64, n64, err)
			}
		}
		var x uint64
		for i, c := range data {
			x ^= uint64(c) << (8 * (i % 8))
		}
		enc := AppendU64(nil, x)
		if got, n, err := ConsumeU64(enc); err != nil || got != x || n != len(enc) {
			t.Fatalf("round trip of %d: %d, %d, %v", x, got, n, err)
		}
	})
}

func FuzzConsumeBool(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {1}, {2}, {0xff}, {1, 0}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, ok := checkDecode(t, data, ConsumeBool)
		if ok && !bytes.Equal(AppendBool(nil, v), data[:n]) {
			t.Fatalf("% x re-encodes to % x", data[:n], AppendBool(nil, v))
		}
		if ok != (len(data) > 0 && data[0] <= 1) {
			t.Fatalf("ConsumeBool(% x) ok = %v", data, ok)
		}
	})
}

func FuzzConsumeOptionTag(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {1}, {2}, {0x80, 0}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, ok := checkDecode(t, data, ConsumeOptionTag)
		if ok && !bytes.Equal(AppendOptionTag(nil, v), data[:n]) {
			t.Fatalf("% x re-encodes to % x", data[:n], AppendOptionTag(nil, v))
		}
	})
}

func FuzzConsumeResultTag(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {1}, {2}, {0x80, 0}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, ok := checkDecode(t, data, ConsumeResultTag)
		if ok && !bytes.Equal(AppendResultTag(nil, v), data[:n]) {
			t.Fatalf("% x re-encodes to % x", data[:n], AppendResultTag(nil, v))
		}
	})
}

func FuzzConsumeTag(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {2}, {3}, {0x80, 0}, {0xac, 2}, {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		f.Add(b, uint32(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, ncases uint32) {
		v, n, ok := checkDecode(t, data, func(b []byte) (uint32, int, error) { return ConsumeTag(b, ncases) })
		if ok && v >= ncases {
			t.Fatalf("case %d accepted for %d cases", v, ncases)
		}
		if ok && n == SizeU32(v) && !bytes.Equal(AppendTag(nil, v), data[:n]) {
			t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendTag(nil, v))
		}
		if ncases > 0 {
			tag := ncases - 1
			if got, _, err := ConsumeTag(AppendTag(nil, tag), ncases); err != nil || got != tag {
				t.Fatalf("round trip of tag %d: %d, %v", tag, got, err)
			}
		}
	})
}

func FuzzConsumeListLen(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {3, 0, 0, 0, 0, 0, 0}, {3, 0, 0}, {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		f.Add(b, uint16(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, minElem uint16) {
		// Not checkDecode: whether a count is accepted depends on the bytes after it.
		count, n, err := ConsumeListLen(data, int(minElem))
		if err != nil {
			checkSentinel(t, err)
			if n != 0 || count != 0 {
				t.Fatalf("error %v with count %d, n %d", err, count, n)
			}
			return
		}
		if n <= 0 || n > 5 || n > len(data) || count < 0 || count > math.MaxUint32 {
			t.Fatalf("count %d, n %d for % x", count, n, data)
		}
		need := n + count*int(minElem)
		if need > len(data) {
			t.Fatalf("count %d of %d-byte elements accepted with %d bytes left", count, minElem, len(data)-n)
		}
		if c2, n2, err := ConsumeListLen(data[:need:need], int(minElem)); err != nil || c2 != count || n2 != n {
			t.Fatalf("with just the elements' room: %d, %d, %v; want %d, %d, nil", c2, n2, err, count, n)
		}
		if count > 0 && minElem > 0 {
			if _, _, err := ConsumeListLen(data[:need-1], int(minElem)); !errors.Is(err, ErrTruncated) {
				t.Fatalf("one byte short of the elements' room: error = %v; want ErrTruncated", err)
			}
		}
		for i := range n {
			if _, _, err := ConsumeListLen(data[:i], 0); !errors.Is(err, ErrTruncated) {
				t.Fatalf("prefix % x: error = %v; want ErrTruncated", data[:i], err)
			}
		}
		if n == SizeU32(uint32(count)) && !bytes.Equal(AppendListLen(nil, count), data[:n]) {
			t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendListLen(nil, count))
		}
	})
}

func FuzzConsumeString(f *testing.F) {
	for _, g := range stringGolden {
		f.Add(unhex(f, g.hex), g.s)
	}
	for _, h := range []string{"", "02 c3 28", "03 ed a0 80", "05 61", "ff ff ff ff 0f", "80 00"} {
		f.Add(unhex(f, h), "x")
	}
	f.Fuzz(func(t *testing.T, data []byte, s string) {
		v, n, ok := checkDecode(t, data, ConsumeString)
		if ok {
			if !utf8.ValidString(v) {
				t.Fatalf("accepted invalid UTF-8 %q", v)
			}
			if n == SizeU32(uint32(len(v)))+len(v) && !bytes.Equal(AppendString(nil, v), data[:n]) {
				t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendString(nil, v))
			}
		}
		enc := AppendString(nil, s)
		got, n, err := ConsumeString(enc)
		if utf8.ValidString(s) {
			if err != nil || got != s || n != len(enc) {
				t.Fatalf("round trip of %q: %q, %d, %v", s, got, n, err)
			}
		} else if !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("invalid UTF-8 %q: error = %v; want ErrInvalidUTF8", s, err)
		}
	})
}

func FuzzConsumeBytes(f *testing.F) {
	for _, h := range []string{"", "00", "03 01 02 03", "05 aa bb", "ff ff ff ff 0f", "80 00"} {
		f.Add(unhex(f, h), []byte{1, 2})
	}
	f.Fuzz(func(t *testing.T, data []byte, p []byte) {
		// []byte is not comparable: compare as strings.
		v, n, ok := checkDecode(t, data, func(b []byte) (string, int, error) {
			p, n, err := ConsumeBytes(b)
			if err == nil && p == nil {
				t.Fatalf("nil slice for % x", b)
			}
			return string(p), n, err
		})
		if ok && n == SizeU32(uint32(len(v)))+len(v) && !bytes.Equal(AppendBytes(nil, []byte(v)), data[:n]) {
			t.Fatalf("minimal % x re-encodes to % x", data[:n], AppendBytes(nil, []byte(v)))
		}
		enc := AppendBytes(nil, p)
		got, n, err := ConsumeBytes(enc)
		if err != nil || !bytes.Equal(got, p) || n != len(enc) {
			t.Fatalf("round trip of % x: % x, %d, %v", p, got, n, err)
		}
	})
}
