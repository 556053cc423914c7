package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// randU64 draws values of every encoded length, not just the 10-byte ones a uniform draw
// gives almost always.
func randU64(r *rand.Rand) uint64 {
	return r.Uint64() >> r.IntN(64)
}

func randString(r *rand.Rand) string {
	n := r.IntN(40)
	var b []byte
	for range n {
		var c rune
		switch r.IntN(4) {
		case 0:
			c = rune(r.IntN(0x80))
		case 1:
			c = rune(0x80 + r.IntN(0x800-0x80))
		case 2:
			c = rune(0x800 + r.IntN(0x10000-0x800))
		default:
			c = rune(0x10000 + r.IntN(utf8.MaxRune+1-0x10000))
		}
		if !utf8.ValidRune(c) { // surrogates
			c = utf8.RuneError
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

func randBytes(r *rand.Rand) []byte {
	p := make([]byte, r.IntN(300))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// A random sequence of values appended into one buffer decodes back, value by value, and
// uses up exactly the buffer.
func TestRoundTripRandomSequences(t *testing.T) {
	r := rand.New(rand.NewPCG(0x5eed, 1))
	for iter := range 2000 {
		type item struct {
			kind int
			u    uint64
			s    string
			p    []byte
			bl   bool
		}
		items := make([]item, 1+r.IntN(12))
		var buf []byte
		for i := range items {
			it := item{kind: r.IntN(8)}
			switch it.kind {
			case 0:
				it.u = randU64(r)
				buf = AppendU64(buf, it.u)
			case 1:
				it.u = uint64(uint32(randU64(r)))
				buf = AppendU32(buf, uint32(it.u))
			case 2:
				it.s = randString(r)
				buf = AppendString(buf, it.s)
			case 3:
				it.p = randBytes(r)
				buf = AppendBytes(buf, it.p)
			case 4:
				it.bl = r.IntN(2) == 1
				buf = AppendBool(buf, it.bl)
			case 5:
				it.bl = r.IntN(2) == 1
				buf = AppendOptionTag(buf, it.bl)
			case 6:
				it.u = uint64(r.IntN(1000))
				buf = AppendTag(buf, uint32(it.u))
			case 7:
				it.u = uint64(r.IntN(1000))
				buf = AppendListLen(buf, int(it.u))
			}
			items[i] = it
		}
		rest := buf
		for i, it := range items {
			var n int
			var err error
			ok := true
			switch it.kind {
			case 0:
				var v uint64
				v, n, err = ConsumeU64(rest)
				ok = v == it.u
			case 1:
				var v uint32
				v, n, err = ConsumeU32(rest)
				ok = uint64(v) == it.u
			case 2:
				var s string
				s, n, err = ConsumeString(rest)
				ok = s == it.s
			case 3:
				var p []byte
				p, n, err = ConsumeBytes(rest)
				ok = bytes.Equal(p, it.p)
			case 4:
				var v bool
				v, n, err = ConsumeBool(rest)
				ok = v == it.bl
			case 5:
				var v bool
				v, n, err = ConsumeOptionTag(rest)
				ok = v == it.bl
			case 6:
				var v uint32
				v, n, err = ConsumeTag(rest, 1000)
				ok = uint64(v) == it.u
			case 7:
				var v int
				v, n, err = ConsumeListLen(rest, 0)
				ok = uint64(v) == it.u
			}
			if err != nil || !ok {
				t.Fatalf("iteration %d, item %d (kind %d): err %v, value mismatch %v; buffer % x",
					iter, i, it.kind, err, !ok, buf)
			}
			rest = rest[n:]
		}
		if len(rest) != 0 {
			t.Fatalf("iteration %d: %d bytes left over", iter, len(rest))
		}
	}
}

func TestRoundTripIntegersAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for shift := range 64 {
		for range 200 {
			v := r.Uint64() >> shift
			enc := AppendU64(nil, v)
			got, n, err := ConsumeU64(enc)
			if err != nil || got != v || n != len(enc) || n != SizeU64(v) {
				t.Fatalf("u64 %d: got %d, %d, %v from % x", v, got, n, err, enc)
			}
			if shift >= 32 {
				v32 := uint32(v)
				enc := AppendU32(nil, v32)
				got, n, err := ConsumeU32(enc)
				if err != nil || got != v32 || n != len(enc) || n != SizeU32(v32) {
					t.Fatalf("u32 %d: got %d, %d, %v from % x", v32, got, n, err, enc)
				}
			}
		}
	}
}
