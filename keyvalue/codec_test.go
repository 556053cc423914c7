package keyvalue

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/wrpc-kv/gateway/internal/wire"
)

// The vectors file is the project's copy of the shared wRPC test vectors.
const vectorsPath = "testdata/vectors.json"

type vectorFile struct {
	About   string      `json:"about"`
	Vectors []vectorRow `json:"vectors"`
	Reject  []rejectRow `json:"reject"`
}

type vectorRow struct {
	Instance    string          `json:"instance"`
	Function    string          `json:"function"`
	Kind        string          `json:"kind"`
	Description string          `json:"description"`
	Value       json.RawMessage `json:"value"`
	Hex         string          `json:"hex"`
}

type rejectRow struct {
	Instance string `json:"instance"`
	Function string `json:"function"`
	Kind     string `json:"kind"`
	Hex      string `json:"hex"`
	Why      string `json:"why"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var vf vectorFile
	if err := dec.Decode(&vf); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(vf.Vectors) == 0 || len(vf.Reject) == 0 {
		t.Fatalf("%s: %d vectors, %d reject rows; want some of both", vectorsPath, len(vf.Vectors), len(vf.Reject))
	}
	return vf
}

// Decoded forms of each function's params and results, comparable with reflect.DeepEqual.
type (
	bucketKeyParams struct{ Bucket, Key string }
	setParams       struct {
		Bucket, Key string
		Value       []byte
	}
	listKeysParams struct {
		Bucket string
		Cursor *uint64
	}
	incrementParams struct {
		Bucket, Key string
		Delta       uint64
	}
	keysParams struct {
		Bucket string
		Keys   []string
	}
	setManyParams struct {
		Bucket string
		Items  []KeyValue
	}
	unitResult struct{ Perr error }
	getResult  struct {
		Value []byte
		OK    bool
		Perr  error
	}
	existsResult struct {
		Exists bool
		Perr   error
	}
	listKeysResult struct {
		R    KeyResponse
		Perr error
	}
	incrementResult struct {
		V    uint64
		Perr error
	}
	getManyResult struct {
		Items []*KeyValue
		Perr  error
	}
)

// codec ties one function's params or result to its Append and Consume functions and to the
// JSON form of its vectors.
type codec struct {
	parse  func(p *jsonParser, raw json.RawMessage) any
	encode func(v any) []byte
	decode func(b []byte) (any, int, error)
}

func paramsCodec[T any](parse func(*jsonParser, map[string]json.RawMessage) T, enc func(T) []byte,
	dec func([]byte) (T, int, error)) codec {
	return codec{
		parse: func(p *jsonParser, raw json.RawMessage) any {
			m := p.object(raw)
			v := parse(p, m)
			p.done(m)
			return v
		},
		encode: func(v any) []byte { return enc(v.(T)) },
		decode: func(b []byte) (any, int, error) { return dec(b) },
	}
}

// resultCodec builds a codec for a result<T, error>. setErr stores the provider error in a
// T; encodeOK encodes the ok case, and an err case is encoded with AppendErrorResult.
func resultCodec[T any](parseOK func(*jsonParser, json.RawMessage) T, perrOf func(T) error,
	withErr func(error) T, encodeOK func(T) []byte, dec func([]byte) (T, int, error)) codec {
	return codec{
		parse: func(p *jsonParser, raw json.RawMessage) any {
			m := p.object(raw)
			defer p.done(m)
			if ok, has := p.take(m, "ok"); has {
				return parseOK(p, ok)
			}
			if e, has := p.take(m, "err"); has {
				return withErr(p.providerError(e))
			}
			p.t.Fatalf("%s: result is neither ok nor err: %s", p.where, raw)
			return nil
		},
		encode: func(v any) []byte {
			if perr := perrOf(v.(T)); perr != nil {
				return AppendErrorResult(nil, perr)
			}
			return encodeOK(v.(T))
		},
		decode: func(b []byte) (any, int, error) { return dec(b) },
	}
}

var (
	bucketKeyCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) bucketKeyParams {
			return bucketKeyParams{p.str(p.must(m, "bucket")), p.str(p.must(m, "key"))}
		},
		func(v bucketKeyParams) []byte { return AppendBucketKeyParams(nil, v.Bucket, v.Key) },
		func(b []byte) (bucketKeyParams, int, error) {
			bucket, key, n, err := ConsumeBucketKeyParams(b)
			return bucketKeyParams{bucket, key}, n, err
		})
	setCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) setParams {
			return setParams{p.str(p.must(m, "bucket")), p.str(p.must(m, "key")), p.bytes(p.must(m, "value"))}
		},
		func(v setParams) []byte { return AppendSetParams(nil, v.Bucket, v.Key, v.Value) },
		func(b []byte) (setParams, int, error) {
			bucket, key, value, n, err := ConsumeSetParams(b)
			return setParams{bucket, key, value}, n, err
		})
	listKeysCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) listKeysParams {
			return listKeysParams{p.str(p.must(m, "bucket")), p.optionU64(p.must(m, "cursor"))}
		},
		func(v listKeysParams) []byte { return AppendListKeysParams(nil, v.Bucket, v.Cursor) },
		func(b []byte) (listKeysParams, int, error) {
			bucket, cursor, n, err := ConsumeListKeysParams(b)
			return listKeysParams{bucket, cursor}, n, err
		})
	incrementCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) incrementParams {
			return incrementParams{p.str(p.must(m, "bucket")), p.str(p.must(m, "key")), p.u64(p.must(m, "delta"))}
		},
		func(v incrementParams) []byte { return AppendIncrementParams(nil, v.Bucket, v.Key, v.Delta) },
		func(b []byte) (incrementParams, int, error) {
			bucket, key, delta, n, err := ConsumeIncrementParams(b)
			return incrementParams{bucket, key, delta}, n, err
		})
	keysCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) keysParams {
			return keysParams{p.str(p.must(m, "bucket")), p.strs(p.must(m, "keys"))}
		},
		func(v keysParams) []byte { return AppendKeysParams(nil, v.Bucket, v.Keys) },
		func(b []byte) (keysParams, int, error) {
			bucket, keys, n, err := ConsumeKeysParams(b)
			return keysParams{bucket, keys}, n, err
		})
	setManyCodec = paramsCodec(
		func(p *jsonParser, m map[string]json.RawMessage) setManyParams {
			var items []KeyValue
			for _, raw := range p.array(p.must(m, "key-values")) {
				items = append(items, *p.keyValue(raw))
			}
			if items == nil {
				items = []KeyValue{}
			}
			return setManyParams{p.str(p.must(m, "bucket")), items}
		},
		func(v setManyParams) []byte { return AppendSetManyParams(nil, v.Bucket, v.Items) },
		func(b []byte) (setManyParams, int, error) {
			bucket, items, n, err := ConsumeSetManyParams(b)
			return setManyParams{bucket, items}, n, err
		})

	unitCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) unitResult { p.null(raw); return unitResult{} },
		func(v unitResult) error { return v.Perr },
		func(e error) unitResult { return unitResult{Perr: e} },
		func(unitResult) []byte { return AppendUnitResult(nil) },
		func(b []byte) (unitResult, int, error) {
			perr, n, err := ConsumeUnitResult(b)
			return unitResult{perr}, n, err
		})
	getCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) getResult {
			v, ok := p.optionBytes(raw)
			return getResult{Value: v, OK: ok}
		},
		func(v getResult) error { return v.Perr },
		func(e error) getResult { return getResult{Perr: e} },
		func(v getResult) []byte { return AppendGetResult(nil, v.Value, v.OK) },
		func(b []byte) (getResult, int, error) {
			value, ok, perr, n, err := ConsumeGetResult(b)
			return getResult{value, ok, perr}, n, err
		})
	existsCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) existsResult { return existsResult{Exists: p.boolean(raw)} },
		func(v existsResult) error { return v.Perr },
		func(e error) existsResult { return existsResult{Perr: e} },
		func(v existsResult) []byte { return AppendExistsResult(nil, v.Exists) },
		func(b []byte) (existsResult, int, error) {
			exists, perr, n, err := ConsumeExistsResult(b)
			return existsResult{exists, perr}, n, err
		})
	listKeysResultCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) listKeysResult {
			m := p.object(raw)
			defer p.done(m)
			return listKeysResult{R: KeyResponse{Keys: p.strs(p.must(m, "keys")), Cursor: p.optionU64(p.must(m, "cursor"))}}
		},
		func(v listKeysResult) error { return v.Perr },
		func(e error) listKeysResult { return listKeysResult{Perr: e} },
		func(v listKeysResult) []byte { return AppendListKeysResult(nil, v.R) },
		func(b []byte) (listKeysResult, int, error) {
			r, perr, n, err := ConsumeListKeysResult(b)
			return listKeysResult{r, perr}, n, err
		})
	incrementResultCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) incrementResult { return incrementResult{V: p.u64(raw)} },
		func(v incrementResult) error { return v.Perr },
		func(e error) incrementResult { return incrementResult{Perr: e} },
		func(v incrementResult) []byte { return AppendIncrementResult(nil, v.V) },
		func(b []byte) (incrementResult, int, error) {
			v, perr, n, err := ConsumeIncrementResult(b)
			return incrementResult{v, perr}, n, err
		})
	getManyCodec = resultCodec(
		func(p *jsonParser, raw json.RawMessage) getManyResult {
			items := []*KeyValue{}
			for _, it := range p.array(raw) {
				if string(it) == "null" {
					items = append(items, nil)
				} else {
					items = append(items, p.keyValue(it))
				}
			}
			return getManyResult{Items: items}
		},
		func(v getManyResult) error { return v.Perr },
		func(e error) getManyResult { return getManyResult{Perr: e} },
		func(v getManyResult) []byte { return AppendGetManyResult(nil, v.Items) },
		func(b []byte) (getManyResult, int, error) {
			items, perr, n, err := ConsumeGetManyResult(b)
			return getManyResult{items, perr}, n, err
		})
)

// functionInstance is the interface of each function of the world.
var functionInstance = map[string]string{
	"get": StoreInstance, "set": StoreInstance, "delete": StoreInstance, "exists": StoreInstance,
	"list-keys": StoreInstance, "increment": AtomicsInstance,
	"get-many": BatchInstance, "set-many": BatchInstance, "delete-many": BatchInstance,
}

var paramsCodecs = map[string]codec{
	"get": bucketKeyCodec, "delete": bucketKeyCodec, "exists": bucketKeyCodec,
	"set": setCodec, "list-keys": listKeysCodec, "increment": incrementCodec,
	"get-many": keysCodec, "delete-many": keysCodec, "set-many": setManyCodec,
}

var resultCodecs = map[string]codec{
	"get": getCodec, "set": unitCodec, "delete": unitCodec, "exists": existsCodec,
	"list-keys": listKeysResultCodec, "increment": incrementResultCodec,
	"get-many": getManyCodec, "set-many": unitCodec, "delete-many": unitCodec,
}

// codecFor returns the codec of a row, failing the test for rows this package cannot check.
func codecFor(t testing.TB, where, instance, function, kind string) codec {
	t.Helper()
	if want, ok := functionInstance[function]; !ok || want != instance {
		t.Fatalf("%s: unknown function %s#%s", where, instance, function)
	}
	var c codec
	var ok bool
	switch kind {
	case "params":
		c, ok = paramsCodecs[function]
	case "results":
		c, ok = resultCodecs[function]
	}
	if !ok {
		t.Fatalf("%s: no codec for %s %s", where, function, kind)
	}
	return c
}

func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	checked := 0
	for i, row := range vf.Vectors {
		where := fmt.Sprintf("vectors[%d] %s %s %s", i, row.Function, row.Kind, row.Description)
		c := codecFor(t, where, row.Instance, row.Function, row.Kind)
		want := c.parse(&jsonParser{t: t, where: where}, row.Value)
		enc, err := hex.DecodeString(row.Hex)
		if err != nil {
			t.Fatalf("%s: hex: %v", where, err)
		}

		if got := c.encode(want); !bytes.Equal(got, enc) {
			t.Errorf("%s: encoded\n  % x\nwant\n  % x", where, got, enc)
		}

		// Decoding reads exactly the value, whatever follows it.
		for _, tail := range [][]byte{nil, {0x00}, {0xff, 0x01}} {
			in := append(append([]byte{}, enc...), tail...)
			got, n, err := c.decode(in)
			if err != nil || n != len(enc) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: decoding % x = %#v, %d, %v; want %#v, %d, nil", where, in, got, n, err, want, len(enc))
			}
			// The value does not share memory with the input, but for the two decodes of
			// a whole value (set's params, get's result), which alias it by design: a
			// large value is not copied again.
			if aliases := row.Kind == "params" && row.Function == "set" || row.Kind == "results" && row.Function == "get"; aliases {
				continue
			}
			for j := range in {
				in[j] = 0xee
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: decoded value changed with its input buffer: %#v", where, got)
			}
		}

		for j := range len(enc) {
			if got, n, err := c.decode(enc[:j:j]); !errors.Is(err, wire.ErrTruncated) || n != 0 {
				t.Errorf("%s: decoding the first %d of %d bytes = %#v, %d, %v; want ErrTruncated",
					where, j, len(enc), got, n, err)
			}
		}
		checked++
	}
	if checked != len(vf.Vectors) {
		t.Fatalf("checked %d of %d vectors", checked, len(vf.Vectors))
	}
	t.Logf("checked %d vectors", checked)
}

// rejectWant is the error each reject row must give: ErrTruncated when more bytes could
// still complete the value, else the reason it can never decode. Every row of the file must
// be listed, so that a new row is looked at.
var rejectWant = map[string]error{
	"get ":                               wire.ErrTruncated,
	"get 02":                             wire.ErrDiscriminant,
	"get 0002":                           wire.ErrDiscriminant,
	"get 000105aabb":                     wire.ErrTruncated,
	"get 0001ffffffff0f":                 wire.ErrTruncated,
	"get 0001ffffffffff01":               wire.ErrOverflow,
	"get 0103":                           wire.ErrDiscriminant,
	"get 010203ffff":                     wire.ErrTruncated, // the length (3) is checked before the bytes
	"get 010202c328":                     wire.ErrInvalidUTF8,
	"exists 0002":                        wire.ErrInvalidBool,
	"increment 00ffffffffffffffffff7f":   wire.ErrOverflow,
	"increment 00ffffffffffffffffffff01": wire.ErrOverflow,
	"increment 0080":                     wire.ErrTruncated,
	"list-keys 000201610262":             wire.ErrTruncated,
}

func TestRejectVectors(t *testing.T) {
	vf := loadVectors(t)
	checked := 0
	for i, row := range vf.Reject {
		where := fmt.Sprintf("reject[%d] %s %q (%s)", i, row.Function, row.Hex, row.Why)
		kind := row.Kind
		if kind == "" {
			kind = "results" // the file says reject rows are result payloads
		}
		c := codecFor(t, where, row.Instance, row.Function, kind)
		in, err := hex.DecodeString(row.Hex)
		if err != nil {
			t.Fatalf("%s: hex: %v", where, err)
		}
		want, listed := rejectWant[row.Function+" "+row.Hex]
		if !listed {
			t.Fatalf("%s: not listed in rejectWant", where)
		}
		got, n, err := c.decode(in)
		if !errors.Is(err, want) || n != 0 {
			t.Errorf("%s: decoded %#v, %d, %v; want error matching %v", where, got, n, err, want)
		}
		if allocated := allocBytes(func() { c.decode(in) }); allocated > 1024 {
			t.Errorf("%s: decoding allocated %d bytes", where, allocated)
		}
		checked++
	}
	if checked != len(vf.Reject) || checked != len(rejectWant) {
		t.Fatalf("checked %d reject rows; the file has %d, rejectWant lists %d", checked, len(vf.Reject), len(rejectWant))
	}
	t.Logf("checked %d reject rows", checked)
}

// allocBytes is the average number of bytes f allocates.
func allocBytes(f func()) uint64 {
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

func TestAppendErrorResult(t *testing.T) {
	for _, tt := range []struct {
		name string
		perr error
		hex  string
	}{
		{"no-such-store", ErrNoSuchStore, "0100"},
		{"wrapped no-such-store", fmt.Errorf("redis: %w", ErrNoSuchStore), "0100"},
		{"access-denied", ErrAccessDenied, "0101"},
		{"wrapped access-denied", fmt.Errorf("acl: %w", ErrAccessDenied), "0101"},
		{"other", &OtherError{Message: "boom"}, "010204626f6f6d"},
		{"wrapped other", fmt.Errorf("backend: %w", &OtherError{Message: "boom"}), "010204626f6f6d"},
		{"other with invalid UTF-8", &OtherError{Message: "a\xffb"}, "010205" + hex.EncodeToString([]byte("a\uFFFDb"))},
		{"not a provider answer", errors.New("dial tcp 10.0.0.1: refused"), "01020e" + hex.EncodeToString([]byte("internal error"))},
		{"nil", nil, "01020e" + hex.EncodeToString([]byte("internal error"))},
		{"nil *OtherError", (*OtherError)(nil), "01020e" + hex.EncodeToString([]byte("internal error"))},
	} {
		got := AppendErrorResult([]byte{0xaa}, tt.perr)
		want, _ := hex.DecodeString("aa" + tt.hex)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: AppendErrorResult = % x; want % x", tt.name, got, want)
		}
	}
}

func TestProviderErrorsDecodeToTheSentinels(t *testing.T) {
	for _, tt := range []struct {
		hex  string
		want error
	}{
		{"0100", ErrNoSuchStore},
		{"0101", ErrAccessDenied},
		{"018000", ErrNoSuchStore}, // non-minimal case index, accepted like the Rust peer does
	} {
		in, _ := hex.DecodeString(tt.hex)
		perr, n, err := ConsumeUnitResult(in)
		if err != nil || perr != tt.want || n != len(in) {
			t.Errorf("ConsumeUnitResult(%s) = %v, %d, %v; want %v, %d, nil", tt.hex, perr, n, err, tt.want, len(in))
		}
	}
	perr, _, err := ConsumeUnitResult([]byte{1, 2, 4, 'b', 'o', 'o', 'm'})
	var other *OtherError
	if err != nil || !errors.As(perr, &other) || other.Message != "boom" {
		t.Errorf("ConsumeUnitResult(other(boom)) = %v, %v; want *OtherError{boom}", perr, err)
	}
}

// Decode errors other than truncation say what was being decoded.
func TestDecodeErrorsHaveContext(t *testing.T) {
	_, _, _, err := ConsumeBucketKeyParams([]byte{1, 'b', 2, 0xc3, 0x28})
	if !errors.Is(err, wire.ErrInvalidUTF8) || !strings.Contains(err.Error(), "key") {
		t.Errorf("error = %v; want ErrInvalidUTF8 naming the key", err)
	}
	// Truncation is not wrapped: it states only how long the value is, counted from its
	// start (1+1 bytes of bucket, then the key's prefix and its 2 bytes).
	_, _, _, err = ConsumeBucketKeyParams([]byte{1, 'b', 2, 'k'})
	var te *wire.TruncatedError
	if !errors.As(err, &te) || te.Need != 5 || strings.Contains(err.Error(), "decoding") {
		t.Errorf("error = %v; want a bare *wire.TruncatedError needing 5 bytes", err)
	}
}

// Lists with huge counts fail before anything is allocated for them.
func TestHugeListCounts(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	var (
		keysIn     = cat([]byte{1, 'b'}, huge)
		setManyIn  = cat([]byte{1, 'b'}, huge, make([]byte, 64))
		listKeysIn = cat([]byte{0}, huge)
		getManyIn  = cat([]byte{0}, huge)
		getIn      = cat([]byte{0, 1}, huge)
		setIn      = cat([]byte{1, 'b', 1, 'k'}, huge)
	)
	for name, dec := range map[string]func() error{
		"keys params":      func() error { _, _, _, err := ConsumeKeysParams(keysIn); return err },
		"set-many params":  func() error { _, _, _, err := ConsumeSetManyParams(setManyIn); return err },
		"list-keys result": func() error { _, _, _, err := ConsumeListKeysResult(listKeysIn); return err },
		"get-many result":  func() error { _, _, _, err := ConsumeGetManyResult(getManyIn); return err },
		"get result":       func() error { _, _, _, _, err := ConsumeGetResult(getIn); return err },
		"set params":       func() error { _, _, _, _, err := ConsumeSetParams(setIn); return err },
	} {
		err := dec()
		var te *wire.TruncatedError
		if !errors.As(err, &te) || te.Need < 1<<32-1 {
			t.Errorf("%s: error = %v; want a *wire.TruncatedError stating the announced size", name, err)
		}
		// The error stating the size is all that is allocated.
		if allocs := testing.AllocsPerRun(50, func() { dec() }); allocs > 1 {
			t.Errorf("%s: %v allocations; want at most 1", name, allocs)
		}
	}
}

func TestNilAndEmptyEncodeAlike(t *testing.T) {
	if a, b := AppendKeysParams(nil, "b", nil), AppendKeysParams(nil, "b", []string{}); !bytes.Equal(a, b) {
		t.Errorf("nil keys % x, empty keys % x", a, b)
	}
	if a, b := AppendSetParams(nil, "b", "k", nil), AppendSetParams(nil, "b", "k", []byte{}); !bytes.Equal(a, b) {
		t.Errorf("nil value % x, empty value % x", a, b)
	}
	// An absent value ignores whatever value is passed with it.
	if got := AppendGetResult(nil, []byte{1, 2}, false); !bytes.Equal(got, []byte{0, 0}) {
		t.Errorf("AppendGetResult(_, false) = % x; want 00 00", got)
	}
	// Empty lists decode to non-nil empty slices.
	_, keys, _, err := ConsumeKeysParams([]byte{1, 'b', 0})
	if err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("ConsumeKeysParams(empty) keys = %#v, %v", keys, err)
	}
	r, _, _, err := ConsumeListKeysResult([]byte{0, 0, 0})
	if err != nil || r.Keys == nil || len(r.Keys) != 0 || r.Cursor != nil {
		t.Errorf("ConsumeListKeysResult(empty) = %#v, %v", r, err)
	}
	value, ok, _, _, err := ConsumeGetResult([]byte{0, 1, 0})
	if err != nil || !ok || value == nil || len(value) != 0 {
		t.Errorf("ConsumeGetResult(Some([])) = %#v, %v, %v; want non-nil empty, true", value, ok, err)
	}
}

// jsonParser reads the JSON forms of vectors.json strictly: an unexpected shape or an
// unknown field fails the test.
type jsonParser struct {
	t     testing.TB
	where string
}

func (p *jsonParser) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("%s: %s", p.where, fmt.Sprintf(format, args...))
}

func (p *jsonParser) unmarshal(raw json.RawMessage, v any) {
	p.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		p.fatalf("value %s: %v", raw, err)
	}
}

func (p *jsonParser) object(raw json.RawMessage) map[string]json.RawMessage {
	p.t.Helper()
	var m map[string]json.RawMessage
	p.unmarshal(raw, &m)
	if m == nil {
		p.fatalf("want an object, got %s", raw)
	}
	return m
}

func (p *jsonParser) take(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	v, ok := m[key]
	delete(m, key)
	return v, ok
}

func (p *jsonParser) must(m map[string]json.RawMessage, key string) json.RawMessage {
	p.t.Helper()
	v, ok := p.take(m, key)
	if !ok {
		p.fatalf("missing field %q", key)
	}
	return v
}

func (p *jsonParser) done(m map[string]json.RawMessage) {
	p.t.Helper()
	if len(m) != 0 {
		p.fatalf("unhandled fields %v", m)
	}
}

func (p *jsonParser) null(raw json.RawMessage) {
	p.t.Helper()
	if string(raw) != "null" {
		p.fatalf("want null, got %s", raw)
	}
}

func (p *jsonParser) str(raw json.RawMessage) string {
	p.t.Helper()
	var s *string
	p.unmarshal(raw, &s)
	if s == nil {
		p.fatalf("want a string, got %s", raw)
	}
	return *s
}

func (p *jsonParser) boolean(raw json.RawMessage) bool {
	p.t.Helper()
	var b *bool
	p.unmarshal(raw, &b)
	if b == nil {
		p.fatalf("want a bool, got %s", raw)
	}
	return *b
}

// u64 reads a u64 given as a decimal string.
func (p *jsonParser) u64(raw json.RawMessage) uint64 {
	p.t.Helper()
	v, err := strconv.ParseUint(p.str(raw), 10, 64)
	if err != nil {
		p.fatalf("u64: %v", err)
	}
	return v
}

func (p *jsonParser) optionU64(raw json.RawMessage) *uint64 {
	p.t.Helper()
	if string(raw) == "null" {
		return nil
	}
	v := p.u64(raw)
	return &v
}

func (p *jsonParser) array(raw json.RawMessage) []json.RawMessage {
	p.t.Helper()
	var a []json.RawMessage
	p.unmarshal(raw, &a)
	if a == nil {
		p.fatalf("want an array, got %s", raw)
	}
	return a
}

func (p *jsonParser) strs(raw json.RawMessage) []string {
	p.t.Helper()
	ss := []string{}
	for _, s := range p.array(raw) {
		ss = append(ss, p.str(s))
	}
	return ss
}

// bytes reads a list<u8> given as an array of numbers 0..255.
func (p *jsonParser) bytes(raw json.RawMessage) []byte {
	p.t.Helper()
	var ns []int
	p.unmarshal(raw, &ns)
	if ns == nil {
		p.fatalf("want an array of bytes, got %s", raw)
	}
	b := make([]byte, len(ns))
	for i, n := range ns {
		if n < 0 || n > 255 {
			p.fatalf("byte %d out of range", n)
		}
		b[i] = byte(n)
	}
	return b
}

// optionBytes reads an option<list<u8>>: null, {"some": [...]}, or
// {"some_repeat": {"byte": b, "count": n}} for n copies of b.
func (p *jsonParser) optionBytes(raw json.RawMessage) ([]byte, bool) {
	p.t.Helper()
	if string(raw) == "null" {
		return nil, false
	}
	m := p.object(raw)
	defer p.done(m)
	if v, ok := p.take(m, "some"); ok {
		return p.bytes(v), true
	}
	if v, ok := p.take(m, "some_repeat"); ok {
		var rep struct {
			Byte  *int `json:"byte"`
			Count *int `json:"count"`
		}
		p.unmarshal(v, &rep)
		if rep.Byte == nil || rep.Count == nil || *rep.Byte < 0 || *rep.Byte > 255 || *rep.Count < 0 {
			p.fatalf("bad some_repeat %s", v)
		}
		return bytes.Repeat([]byte{byte(*rep.Byte)}, *rep.Count), true
	}
	p.fatalf("unknown option form %s", raw)
	return nil, false
}

func (p *jsonParser) keyValue(raw json.RawMessage) *KeyValue {
	p.t.Helper()
	m := p.object(raw)
	defer p.done(m)
	return &KeyValue{Key: p.str(p.must(m, "key")), Value: p.bytes(p.must(m, "value"))}
}

// providerError reads the error variant: "no-such-store", "access-denied" or {"other": msg}.
func (p *jsonParser) providerError(raw json.RawMessage) error {
	p.t.Helper()
	if len(raw) > 0 && raw[0] == '"' {
		switch s := p.str(raw); s {
		case "no-such-store":
			return ErrNoSuchStore
		case "access-denied":
			return ErrAccessDenied
		default:
			p.fatalf("unknown error case %q", s)
		}
	}
	m := p.object(raw)
	defer p.done(m)
	return &OtherError{Message: p.str(p.must(m, "other"))}
}
