package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var sentinels = []error{ErrTruncated, ErrOverflow, ErrInvalidBool, ErrInvalidUTF8, ErrDiscriminant}

// checkSentinel fails unless err matches exactly one of the package's sentinels.
func checkSentinel(t testing.TB, err error) {
	t.Helper()
	matched := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched != 1 {
		t.Fatalf("error %q matches %d sentinels; want exactly 1", err, matched)
	}
}

var u64Golden = []struct {
	v   uint64
	hex string
}{
	{0, "00"},
	{1, "01"},
	{127, "7f"},
	{128, "80 01"},
	{300, "ac 02"},
	{16383, "ff 7f"},
	{16384, "80 80 01"},
	{math.MaxUint32, "ff ff ff ff 0f"},
	{1 << 32, "80 80 80 80 10"},
	{1 << 63, "80 80 80 80 80 80 80 80 80 01"},
	{math.MaxUint64, "ff ff ff ff ff ff ff ff ff 01"},
}

var u32Golden = []struct {
	v   uint32
	hex string
}{
	{0, "00"},
	{1, "01"},
	{127, "7f"},
	{128, "80 01"},
	{300, "ac 02"},
	{2500, "c4 13"},
	{1 << 21, "80 80 80 01"},
	{1 << 28, "80 80 80 80 01"},
	{math.MaxUint32, "ff ff ff ff 0f"},
}

func TestU64Golden(t *testing.T) {
	for _, tt := range u64Golden {
		want := unhex(t, tt.hex)
		if got := AppendU64(nil, tt.v); !bytes.Equal(got, want) {
			t.Errorf("AppendU64(%d) = % x; want % x", tt.v, got, want)
		}
		if got := SizeU64(tt.v); got != len(want) {
			t.Errorf("SizeU64(%d) = %d; want %d", tt.v, got, len(want))
		}
		v, n, err := ConsumeU64(append(want, 0xee))
		if err != nil || v != tt.v || n != len(want) {
			t.Errorf("ConsumeU64(% x) = %d, %d, %v; want %d, %d, nil", want, v, n, err, tt.v, len(want))
		}
	}
}

func TestU32Golden(t *testing.T) {
	for _, tt := range u32Golden {
		want := unhex(t, tt.hex)
		if got := AppendU32(nil, tt.v); !bytes.Equal(got, want) {
			t.Errorf("AppendU32(%d) = % x; want % x", tt.v, got, want)
		}
		if got := SizeU32(tt.v); got != len(want) {
			t.Errorf("SizeU32(%d) = %d; want %d", tt.v, got, len(want))
		}
		v, n, err := ConsumeU32(append(want, 0xee))
		if err != nil || v != tt.v || n != len(want) {
			t.Errorf("ConsumeU32(% x) = %d, %d, %v; want %d, %d, nil", want, v, n, err, tt.v, len(want))
		}
	}
}

// Non-minimal forms within the type's maximum length decode, as in the Rust peer.
func TestLEB128NonMinimal(t *testing.T) {
	u32s := []struct {
		hex string
		v   uint32
	}{
		{"80 00", 0},
		{"81 00", 1},
		{"80 80 80 80 00", 0},
		{"ff 80 80 80 00", 127},
		{"ff ff ff ff 0f", math.MaxUint32},
	}
	for _, tt := range u32s {
		in := unhex(t, tt.hex)
		v, n, err := ConsumeU32(in)
		if err != nil || v != tt.v || n != len(in) {
			t.Errorf("ConsumeU32(% x) = %d, %d, %v; want %d, %d, nil", in, v, n, err, tt.v, len(in))
		}
	}
	u64s := []struct {
		hex string
		v   uint64
	}{
		{"80 00", 0},
		{"80 80 80 80 80 80 80 80 80 00", 0},
		{"81 80 80 80 80 80 80 80 80 00", 1},
		{"ff ff ff ff 8f 80 80 80 80 00", math.MaxUint32},
	}
	for _, tt := range u64s {
		in := unhex(t, tt.hex)
		v, n, err := ConsumeU64(in)
		if err != nil || v != tt.v || n != len(in) {
			t.Errorf("ConsumeU64(% x) = %d, %d, %v; want %d, %d, nil", in, v, n, err, tt.v, len(in))
		}
	}
}

func TestLEB128Overflow(t *testing.T) {
	u32s := []string{
		"ff ff ff ff 10",    // 2^32
		"ff ff ff ff 1f",    // 5th byte carries bits above 32
		"ff ff ff ff 7f",    //
		"80 80 80 80 80 00", // 6 bytes: 5th byte has the continuation bit
		"ff ff ff ff ff 01", // the list length of the reject vectors
		"ff ff ff ff ff",    // overflow is seen before the missing 6th byte
	}
	for _, h := range u32s {
		in := unhex(t, h)
		if _, n, err := ConsumeU32(in); !errors.Is(err, ErrOverflow) || n != 0 {
			t.Errorf("ConsumeU32(% x) = _, %d, %v; want 0, ErrOverflow", in, n, err)
		}
		// The same bytes as a string or list length, or a discriminant.
		if _, _, err := ConsumeString(in); !errors.Is(err, ErrOverflow) {
			t.Errorf("ConsumeString(% x) error = %v; want ErrOverflow", in, err)
		}
		if _, _, err := ConsumeBytes(in); !errors.Is(err, ErrOverflow) {
			t.Errorf("ConsumeBytes(% x) error = %v; want ErrOverflow", in, err)
		}
		if _, _, err := ConsumeListLen(in, 1); !errors.Is(err, ErrOverflow) {
			t.Errorf("ConsumeListLen(% x) error = %v; want ErrOverflow", in, err)
		}
		if _, _, err := ConsumeTag(in, math.MaxUint32); !errors.Is(err, ErrOverflow) {
			t.Errorf("ConsumeTag(% x) error = %v; want ErrOverflow", in, err)
		}
	}
	u64s := []string{
		"ff ff ff ff ff ff ff ff ff 02",    // 2^64
		"ff ff ff ff ff ff ff ff ff 7f",    // the reject vector
		"80 80 80 80 80 80 80 80 80 80 00", // 11 bytes
		"ff ff ff ff ff ff ff ff ff ff 01", // 11 bytes, the reject vector
		"ff ff ff ff ff ff ff ff ff 81",    // 10th byte with continuation bit
	}
	for _, h := range u64s {
		in := unhex(t, h)
		if _, n, err := ConsumeU64(in); !errors.Is(err, ErrOverflow) || n != 0 {
			t.Errorf("ConsumeU64(% x) = _, %d, %v; want 0, ErrOverflow", in, n, err)
		}
	}
}

func TestBool(t *testing.T) {
	for _, v := range []bool{false, true} {
		enc := AppendBool(nil, v)
		got, n, err := ConsumeBool(enc)
		if err != nil || got != v || n != 1 {
			t.Errorf("ConsumeBool(% x) = %v, %d, %v; want %v, 1, nil", enc, got, n, err, v)
		}
	}
	if !bytes.Equal(AppendBool(nil, false), []byte{0}) || !bytes.Equal(AppendBool(nil, true), []byte{1}) {
		t.Errorf("AppendBool: want 00 / 01")
	}
	for _, c := range []byte{2, 0x7f, 0x80, 0xff} {
		if _, n, err := ConsumeBool([]byte{c}); !errors.Is(err, ErrInvalidBool) || n != 0 {
			t.Errorf("ConsumeBool(%02x) = _, %d, %v; want 0, ErrInvalidBool", c, n, err)
		}
	}
}

func TestOptionAndResultTags(t *testing.T) {
	if got := AppendOptionTag(nil, false); !bytes.Equal(got, []byte{0}) {
		t.Errorf("AppendOptionTag(false) = % x; want 00", got)
	}
	if got := AppendOptionTag(nil, true); !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendOptionTag(true) = % x; want 01", got)
	}
	if got := AppendResultTag(nil, false); !bytes.Equal(got, []byte{0}) {
		t.Errorf("AppendResultTag(ok) = % x; want 00", got)
	}
	if got := AppendResultTag(nil, true); !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendResultTag(err) = % x; want 01", got)
	}
	for _, tt := range []struct {
		in   []byte
		want bool
	}{{[]byte{0}, false}, {[]byte{1, 9}, true}} {
		if v, n, err := ConsumeOptionTag(tt.in); err != nil || v != tt.want || n != 1 {
			t.Errorf("ConsumeOptionTag(% x) = %v, %d, %v; want %v, 1, nil", tt.in, v, n, err, tt.want)
		}
		if v, n, err := ConsumeResultTag(tt.in); err != nil || v != tt.want || n != 1 {
			t.Errorf("ConsumeResultTag(% x) = %v, %d, %v; want %v, 1, nil", tt.in, v, n, err, tt.want)
		}
	}
	// One byte exactly: 80 00 is not a non-minimal 0 here.
	for _, in := range [][]byte{{2}, {0x80, 0}, {0x81, 0}, {0xff}} {
		if _, n, err := ConsumeOptionTag(in); !errors.Is(err, ErrDiscriminant) || n != 0 {
			t.Errorf("ConsumeOptionTag(% x) = _, %d, %v; want 0, ErrDiscriminant", in, n, err)
		}
		if _, n, err := ConsumeResultTag(in); !errors.Is(err, ErrDiscriminant) || n != 0 {
			t.Errorf("ConsumeResultTag(% x) = _, %d, %v; want 0, ErrDiscriminant", in, n, err)
		}
	}
}

func TestTag(t *testing.T) {
	for _, tt := range []struct {
		hex    string
		ncases uint32
		want   uint32
		n      int
	}{
		{"00", 3, 0, 1},
		{"01", 3, 1, 1},
		{"02 04", 3, 2, 1},
		{"80 00", 3, 0, 2}, // non-minimal LEB128, as the Rust peer accepts
		{"ac 02", 301, 300, 2},
	} {
		in := unhex(t, tt.hex)
		v, n, err := ConsumeTag(in, tt.ncases)
		if err != nil || v != tt.want || n != tt.n {
			t.Errorf("ConsumeTag(% x, %d) = %d, %d, %v; want %d, %d, nil", in, tt.ncases, v, n, err, tt.want, tt.n)
		}
	}
	for _, tt := range []struct {
		hex    string
		ncases uint32
	}{
		{"03", 3},
		{"00", 0},
		{"ac 02", 300},
		{"ff ff ff ff 0f", math.MaxUint32},
	} {
		in := unhex(t, tt.hex)
		if _, n, err := ConsumeTag(in, tt.ncases); !errors.Is(err, ErrDiscriminant) || n != 0 {
			t.Errorf("ConsumeTag(% x, %d) = _, %d, %v; want 0, ErrDiscriminant", in, tt.ncases, n, err)
		}
	}
	if got := AppendTag(nil, 2); !bytes.Equal(got, []byte{2}) {
		t.Errorf("AppendTag(2) = % x; want 02", got)
	}
	if got := AppendTag(nil, 300); !bytes.Equal(got, []byte{0xac, 0x02}) {
		t.Errorf("AppendTag(300) = % x; want ac 02", got)
	}
}

var stringGolden = []struct {
	s   string
	hex string
}{
	{"", "00"},
	{"b", "01 62"},
	{"test", "04 74 65 73 74"},
	{"é", "02 c3 a9"},
	{"a\x00b", "03 61 00 62"},
	{"ключ 🔑", "0d d0 ba d0 bb d1 8e d1 87 20 f0 9f 94 91"},
	{strings.Repeat("a", 200), "c8 01" + strings.Repeat("61", 200)},
}

func TestStringGolden(t *testing.T) {
	for _, tt := range stringGolden {
		want := unhex(t, tt.hex)
		if got := AppendString(nil, tt.s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = % x; want % x", tt.s, got, want)
		}
		s, n, err := ConsumeString(append(want, 0xff))
		if err != nil || s != tt.s || n != len(want) {
			t.Errorf("ConsumeString(% x) = %q, %d, %v; want %q, %d, nil", want, s, n, err, tt.s, len(want))
		}
	}
}

func TestStringInvalidUTF8(t *testing.T) {
	for _, h := range []string{
		"02 c3 28",       // bad continuation
		"01 ff",          // never valid
		"01 80",          // lone continuation byte
		"02 c0 80",       // overlong NUL
		"03 ed a0 80",    // UTF-16 surrogate
		"04 f4 90 80 80", // above U+10FFFF
		"01 c3",          // sequence cut by the length
	} {
		in := unhex(t, h)
		if _, n, err := ConsumeString(in); !errors.Is(err, ErrInvalidUTF8) || n != 0 {
			t.Errorf("ConsumeString(% x) = _, %d, %v; want 0, ErrInvalidUTF8", in, n, err)
		}
	}
	// A short payload is truncation, whatever the bytes that did arrive look like.
	in := unhex(t, "03 ff ff")
	if _, _, err := ConsumeString(in); !errors.Is(err, ErrTruncated) {
		t.Errorf("ConsumeString(% x) error = %v; want ErrTruncated", in, err)
	}
}

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		p   []byte
		hex string
	}{
		{nil, "00"},
		{[]byte{}, "00"},
		{[]byte{1, 2, 3}, "03 01 02 03"},
		{[]byte{0xff, 0x00}, "02 ff 00"},
		{bytes.Repeat([]byte{0xab}, 300), "ac 02" + strings.Repeat("ab", 300)},
	} {
		want := unhex(t, tt.hex)
		if got := AppendBytes(nil, tt.p); !bytes.Equal(got, want) {
			t.Errorf("AppendBytes(% x) = % x; want % x", tt.p, got, want)
		}
		p, n, err := ConsumeBytes(append(want, 0xee))
		if err != nil || !bytes.Equal(p, tt.p) || n != len(want) {
			t.Errorf("ConsumeBytes(% x) = % x, %d, %v; want % x, %d, nil", want, p, n, err, tt.p, len(want))
		}
		if p == nil {
			t.Errorf("ConsumeBytes(% x) returned a nil slice; want non-nil", want)
		}
	}
}

func TestConsumeBytesCopies(t *testing.T) {
	in := []byte{3, 1, 2, 3}
	p, _, err := ConsumeBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0xee
	}
	if !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Errorf("ConsumeBytes result changed with its input: % x", p)
	}
	if cap(p) != len(p) {
		// Appending to the result must not write into anything else.
		t.Errorf("cap = %d; want %d", cap(p), len(p))
	}
}

func TestListLen(t *testing.T) {
	if got := AppendListLen(nil, 0); !bytes.Equal(got, []byte{0}) {
		t.Errorf("AppendListLen(0) = % x; want 00", got)
	}
	if got := AppendListLen(nil, 300); !bytes.Equal(got, []byte{0xac, 0x02}) {
		t.Errorf("AppendListLen(300) = % x; want ac 02", got)
	}
	for _, tt := range []struct {
		in      []byte
		minElem int
		count   int
		n       int
		wantErr error
	}{
		{[]byte{0}, 1, 0, 1, nil},
		{[]byte{0}, 1 << 40, 0, 1, nil},
		{[]byte{3, 0, 0, 0, 0, 0}, 2, 0, 0, ErrTruncated}, // 3 elements of >=2 bytes need 6 bytes
		{[]byte{3, 0, 0, 0, 0, 0, 0}, 2, 3, 1, nil},
		{[]byte{2, 1, 1}, 1, 2, 1, nil},
		{[]byte{2, 1}, 1, 0, 0, ErrTruncated},
		{[]byte{5}, 0, 5, 1, nil}, // zero-sized elements are not bounded
		{[]byte{1, 0}, math.MaxInt, 0, 0, ErrTruncated},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1, 0, 0, ErrTruncated},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0, math.MaxUint32, 5, nil},
	} {
		count, n, err := ConsumeListLen(tt.in, tt.minElem)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || count != tt.count || n != tt.n {
			t.Errorf("ConsumeListLen(% x, %d) = %d, %d, %v; want %d, %d, %v",
				tt.in, tt.minElem, count, n, err, tt.count, tt.n, tt.wantErr)
		}
	}
}

// Length prefixes far beyond the input fail at once, allocating only the error that states
// the announced length.
func TestHugeLengthsDoNotAllocate(t *testing.T) {
	inputs := [][]byte{
		unhex(t, "ff ff ff ff 0f"),
		unhex(t, "ff ff ff ff 0f 01 02 03 04 05 06 07 08 09"),
		unhex(t, "80 80 80 80 08 61"), // 2^31
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := ConsumeBytes(in); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ConsumeBytes(% x) error = %v; want ErrTruncated", in, err)
			}
			if _, _, err := ConsumeString(in); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ConsumeString(% x) error = %v; want ErrTruncated", in, err)
			}
			if _, _, err := ConsumeListLen(in, 1); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ConsumeListLen(% x) error = %v; want ErrTruncated", in, err)
			}
		})
		if allocs > 3 {
			t.Errorf("decoding % x three times allocated %v times; want 3 (the errors)", in, allocs)
		}
		l, n, _ := ConsumeU32(in)
		_, _, err := ConsumeBytes(in)
		var te *TruncatedError
		if !errors.As(err, &te) || te.Need != uint64(n)+uint64(l) {
			t.Errorf("ConsumeBytes(% x) error = %v; want a *TruncatedError needing %d bytes", in, err, uint64(n)+uint64(l))
		}
	}
}

// Every strict prefix of every encoding is ErrTruncated, never another error or a value.
func TestEveryTruncationPoint(t *testing.T) {
	type consumer func([]byte) error
	u32 := func(b []byte) error { _, _, err := ConsumeU32(b); return err }
	u64 := func(b []byte) error { _, _, err := ConsumeU64(b); return err }
	str := func(b []byte) error { _, _, err := ConsumeString(b); return err }
	byt := func(b []byte) error { _, _, err := ConsumeBytes(b); return err }
	lst := func(b []byte) error { _, _, err := ConsumeListLen(b, 0); return err }
	tag := func(b []byte) error { _, _, err := ConsumeTag(b, math.MaxUint32); return err }
	boo := func(b []byte) error { _, _, err := ConsumeBool(b); return err }
	opt := func(b []byte) error { _, _, err := ConsumeOptionTag(b); return err }
	res := func(b []byte) error { _, _, err := ConsumeResultTag(b); return err }

	type tcase struct {
		name string
		enc  []byte
		dec  consumer
	}
	var cases []tcase
	for _, g := range u64Golden {
		cases = append(cases, tcase{"u64", AppendU64(nil, g.v), u64})
	}
	for _, g := range u32Golden {
		enc := AppendU32(nil, g.v)
		cases = append(cases,
			tcase{"u32", enc, u32},
			tcase{"list len", enc, lst},
			tcase{"bytes", AppendBytes(nil, make([]byte, min(g.v, 1<<16))), byt},
		)
		if g.v < math.MaxUint32 { // the largest tag of a type with MaxUint32 cases
			cases = append(cases, tcase{"tag", enc, tag})
		}
	}
	for _, g := range stringGolden {
		cases = append(cases, tcase{"string", AppendString(nil, g.s), str})
	}
	cases = append(cases,
		tcase{"bool", AppendBool(nil, true), boo},
		tcase{"option", AppendOptionTag(nil, true), opt},
		tcase{"result", AppendResultTag(nil, true), res},
	)
	for _, c := range cases {
		if err := c.dec(c.enc); err != nil {
			t.Fatalf("%s: decoding the full encoding % x: %v", c.name, c.enc, err)
		}
		for i := range len(c.enc) {
			if err := c.dec(c.enc[:i]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: decoding % x (%d of %d bytes): error = %v; want ErrTruncated",
					c.name, c.enc[:i], i, len(c.enc), err)
			}
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	b := []byte{0xaa}
	b = AppendU64(b, 300)
	b = AppendString(b, "hi")
	b = AppendBytes(b, []byte{7})
	b = AppendBool(b, true)
	b = AppendTag(b, 2)
	want := unhex(t, "aa ac 02 02 68 69 01 07 01 02")
	if !bytes.Equal(b, want) {
		t.Errorf("appended = % x; want % x", b, want)
	}
}

func TestLengthOutOfRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("AppendListLen(-1) did not panic")
		}
	}()
	AppendListLen(nil, -1)
}
