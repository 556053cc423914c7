package keyvalue

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/wrpc-kv/gateway/internal/wire"
)

// Each fuzz target decodes arbitrary bytes with one Consume function and checks that:
//   - it does not panic; on error n is 0 and the error matches exactly one wire sentinel;
//   - an accepted input re-encodes to the consumed bytes, or (when the input used
//     non-minimal LEB128, which decoders accept) to strictly fewer bytes that decode to
//     the same value;
//   - every strict prefix of the consumed bytes is wire.ErrTruncated.

var wireSentinels = []error{wire.ErrTruncated, wire.ErrOverflow, wire.ErrInvalidBool, wire.ErrInvalidUTF8, wire.ErrDiscriminant}

func seedFromVectors(f *testing.F) {
	vf := loadVectors(f)
	for _, row := range vf.Vectors {
		b, err := hex.DecodeString(row.Hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, row := range vf.Reject {
		b, err := hex.DecodeString(row.Hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0x80, 0x00})                    // non-minimal LEB128 after an ok status
	f.Add([]byte{1, 0x82, 0x00, 0x01, 'x'})         // non-minimal case index
	f.Add([]byte{0x81, 0x00, 'b', 0x01, 'k', 0x00}) // non-minimal string length
}

func fuzzCodec(f *testing.F, c codec) {
	seedFromVectors(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := c.decode(data)
		if err != nil {
			matched := 0
			for _, s := range wireSentinels {
				if errors.Is(err, s) {
					matched++
				}
			}
			if matched != 1 || n != 0 {
				t.Fatalf("error %q (matches %d sentinels) with n = %d", err, matched, n)
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("n = %d for %d bytes", n, len(data))
		}
		re := c.encode(v)
		if !bytes.Equal(re, data[:n]) {
			if len(re) >= n {
				t.Fatalf("% x decoded to %#v, which re-encodes to % x", data[:n], v, re)
			}
			v2, n2, err := c.decode(re)
			if err != nil || n2 != len(re) || !reflect.DeepEqual(v2, v) {
				t.Fatalf("re-encoding % x of %#v decodes to %#v, %d, %v", re, v, v2, n2, err)
			}
		}
		if n <= 4096 {
			for i := range n {
				_, m, err := c.decode(data[:i:i])
				if !errors.Is(err, wire.ErrTruncated) || m != 0 {
					t.Fatalf("prefix % x of an accepted input: n %d, error %v; want ErrTruncated", data[:i], m, err)
				}
				// A stated length is a true bound, counted from the start of the value.
				var te *wire.TruncatedError
				if errors.As(err, &te) && (te.Need <= uint64(i) || te.Need > uint64(n)) {
					t.Fatalf("prefix % x of a %d-byte input: need %d", data[:i], n, te.Need)
				}
			}
		}
	})
}

func FuzzConsumeBucketKeyParams(f *testing.F) { fuzzCodec(f, bucketKeyCodec) }
func FuzzConsumeSetParams(f *testing.F)       { fuzzCodec(f, setCodec) }
func FuzzConsumeListKeysParams(f *testing.F)  { fuzzCodec(f, listKeysCodec) }
func FuzzConsumeIncrementParams(f *testing.F) { fuzzCodec(f, incrementCodec) }
func FuzzConsumeKeysParams(f *testing.F)      { fuzzCodec(f, keysCodec) }
func FuzzConsumeSetManyParams(f *testing.F)   { fuzzCodec(f, setManyCodec) }
func FuzzConsumeUnitResult(f *testing.F)      { fuzzCodec(f, unitCodec) }
func FuzzConsumeGetResult(f *testing.F)       { fuzzCodec(f, getCodec) }
func FuzzConsumeExistsResult(f *testing.F)    { fuzzCodec(f, existsCodec) }
func FuzzConsumeListKeysResult(f *testing.F)  { fuzzCodec(f, listKeysResultCodec) }
func FuzzConsumeIncrementResult(f *testing.F) { fuzzCodec(f, incrementResultCodec) }
func FuzzConsumeGetManyResult(f *testing.F)   { fuzzCodec(f, getManyCodec) }

// Random values of every shape encode and decode back to themselves.
func TestRoundTripRandomValues(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	str := func() string {
		const alphabet = "ab/:@-_.é🔑ключ"
		rs := []rune(alphabet)
		out := make([]rune, r.IntN(12))
		for i := range out {
			out[i] = rs[r.IntN(len(rs))]
		}
		return string(out)
	}
	byts := func() []byte {
		p := make([]byte, r.IntN(200))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p
	}
	u64 := func() uint64 { return r.Uint64() >> r.IntN(64) }
	optU64 := func() *uint64 {
		if r.IntN(2) == 0 {
			return nil
		}
		v := u64()
		return &v
	}
	strs := func() []string {
		ss := make([]string, r.IntN(6))
		for i := range ss {
			ss[i] = str()
		}
		return ss
	}
	perr := func() error {
		switch r.IntN(6) {
		case 0:
			return ErrNoSuchStore
		case 1:
			return ErrAccessDenied
		case 2:
			return &OtherError{Message: str()}
		}
		return nil
	}
	gens := []struct {
		c   codec
		gen func() any
	}{
		{bucketKeyCodec, func() any { return bucketKeyParams{str(), str()} }},
		{setCodec, func() any { return setParams{str(), str(), byts()} }},
		{listKeysCodec, func() any { return listKeysParams{str(), optU64()} }},
		{incrementCodec, func() any { return incrementParams{str(), str(), u64()} }},
		{keysCodec, func() any { return keysParams{str(), strs()} }},
		{setManyCodec, func() any {
			items := make([]KeyValue, r.IntN(5))
			for i := range items {
				items[i] = KeyValue{str(), byts()}
			}
			return setManyParams{str(), items}
		}},
		{unitCodec, func() any { return unitResult{perr()} }},
		{getCodec, func() any {
			if e := perr(); e != nil {
				return getResult{Perr: e}
			}
			if r.IntN(3) == 0 {
				return getResult{}
			}
			return getResult{Value: byts(), OK: true}
		}},
		{existsCodec, func() any {
			if e := perr(); e != nil {
				return existsResult{Perr: e}
			}
			return existsResult{Exists: r.IntN(2) == 1}
		}},
		{listKeysResultCodec, func() any {
			if e := perr(); e != nil {
				return listKeysResult{Perr: e}
			}
			return listKeysResult{R: KeyResponse{Keys: strs(), Cursor: optU64()}}
		}},
		{incrementResultCodec, func() any {
			if e := perr(); e != nil {
				return incrementResult{Perr: e}
			}
			return incrementResult{V: u64()}
		}},
		{getManyCodec, func() any {
			if e := perr(); e != nil {
				return getManyResult{Perr: e}
			}
			items := make([]*KeyValue, r.IntN(5))
			for i := range items {
				if r.IntN(3) > 0 {
					items[i] = &KeyValue{str(), byts()}
				}
			}
			return getManyResult{Items: items}
		}},
	}
	for gi, g := range gens {
		for range 300 {
			v := g.gen()
			enc := g.c.encode(v)
			got, n, err := g.c.decode(enc)
			if err != nil || n != len(enc) || !reflect.DeepEqual(got, v) {
				t.Fatalf("codec %d: %#v encoded to % x decodes to %#v, %d, %v", gi, v, enc, got, n, err)
			}
		}
	}
}
