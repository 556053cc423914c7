package keyvalue

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wrpc-kv/gateway/internal/wire"
)

// Wire form of the world's functions: the encoded parameter tuple a caller sends and the
// encoded result a provider answers with. The client uses the Append*Params and
// Consume*Result functions, the provider the Consume*Params and Append*Result ones.
//
// Encoders append to b and return the extended slice. Strings (buckets, keys) must be valid
// UTF-8: they are sent as they are and a peer refuses a message that holds invalid UTF-8.
//
// Decoders read one value from the front of b and return it with the number of bytes it
// took. They never panic, never retain b (byte values are copies) and never allocate more
// than b could hold. Empty lists decode to non-nil empty slices. Errors:
//   - an error matching wire.ErrTruncated (it is wire.ErrTruncated itself) means b ends
//     before a complete value; more bytes may complete it;
//   - any other error matches one of wire.ErrOverflow, wire.ErrInvalidBool,
//     wire.ErrInvalidUTF8 or wire.ErrDiscriminant and says what was being decoded.
//
// On a decode error the returned count is 0. A result decoder's perr is the provider's
// answer when the result is the err case (ErrNoSuchStore, ErrAccessDenied or *OtherError);
// it is nil when the result is ok or when decoding failed.

// Case indices of the WIT variant `error { no-such-store, access-denied, other(string) }`.
const (
	caseNoSuchStore  = 0
	caseAccessDenied = 1
	caseOther        = 2
	errorCases       = 3
)

// internalErrorMessage is what AppendErrorResult sends for an error that is not one of the
// variant's cases.
const internalErrorMessage = "internal error"

// Smallest encoded sizes of list elements, to bound allocations by the input length.
const (
	minStringSize   = 1 // u32 length
	minOptionSize   = 1 // status byte
	minKeyValueSize = 2 // string length + list<u8> length
)

// AppendBucketKeyParams appends the parameters (bucket, key) of get, delete and exists.
func AppendBucketKeyParams(b []byte, bucket, key string) []byte {
	b = wire.AppendString(b, bucket)
	return wire.AppendString(b, key)
}

// ConsumeBucketKeyParams decodes the parameters (bucket, key) of get, delete and exists.
func ConsumeBucketKeyParams(b []byte) (bucket, key string, n int, err error) {
	d := decoder{b: b, what: "bucket/key params"}
	bucket = d.str("bucket")
	key = d.str("key")
	if n, err = d.end(); err != nil {
		return "", "", 0, err
	}
	return bucket, key, n, nil
}

// AppendSetParams appends the parameters (bucket, key, value) of set.
func AppendSetParams(b []byte, bucket, key string, value []byte) []byte {
	b = wire.AppendString(b, bucket)
	b = wire.AppendString(b, key)
	return wire.AppendBytes(b, value)
}

// AppendSetParamsHead appends what precedes the bytes of a value of size bytes in the
// parameters of set; the value's bytes complete them.
func AppendSetParamsHead(b []byte, bucket, key string, size int) []byte {
	b = wire.AppendString(b, bucket)
	b = wire.AppendString(b, key)
	return wire.AppendListLen(b, size)
}

// ConsumeSetParams decodes the parameters (bucket, key, value) of set. The value is a slice
// of b, not a copy: b must not be written again while it is in use.
func ConsumeSetParams(b []byte) (bucket, key string, value []byte, n int, err error) {
	d := decoder{b: b, what: "set params", alias: true}
	bucket = d.str("bucket")
	key = d.str("key")
	value = d.byteList("value")
	if n, err = d.end(); err != nil {
		return "", "", nil, 0, err
	}
	return bucket, key, value, n, nil
}

// AppendListKeysParams appends the parameters (bucket, cursor) of list-keys; a nil cursor
// asks for the first page.
func AppendListKeysParams(b []byte, bucket string, cursor *uint64) []byte {
	b = wire.AppendString(b, bucket)
	return appendOptionU64(b, cursor)
}

// ConsumeListKeysParams decodes the parameters (bucket, cursor) of list-keys.
func ConsumeListKeysParams(b []byte) (bucket string, cursor *uint64, n int, err error) {
	d := decoder{b: b, what: "list-keys params"}
	bucket = d.str("bucket")
	cursor = d.optionU64("cursor")
	if n, err = d.end(); err != nil {
		return "", nil, 0, err
	}
	return bucket, cursor, n, nil
}

// AppendIncrementParams appends the parameters (bucket, key, delta) of increment.
func AppendIncrementParams(b []byte, bucket, key string, delta uint64) []byte {
	b = wire.AppendString(b, bucket)
	b = wire.AppendString(b, key)
	return wire.AppendU64(b, delta)
}

// ConsumeIncrementParams decodes the parameters (bucket, key, delta) of increment.
func ConsumeIncrementParams(b []byte) (bucket, key string, delta uint64, n int, err error) {
	d := decoder{b: b, what: "increment params"}
	bucket = d.str("bucket")
	key = d.str("key")
	delta = d.u64("delta")
	if n, err = d.end(); err != nil {
		return "", "", 0, 0, err
	}
	return bucket, key, delta, n, nil
}

// AppendKeysParams appends the parameters (bucket, keys) of get-many and delete-many.
func AppendKeysParams(b []byte, bucket string, keys []string) []byte {
	b = wire.AppendString(b, bucket)
	return appendStrings(b, keys)
}

// ConsumeKeysParams decodes the parameters (bucket, keys) of get-many and delete-many.
func ConsumeKeysParams(b []byte) (bucket string, keys []string, n int, err error) {
	d := decoder{b: b, what: "keys params"}
	bucket = d.str("bucket")
	keys = d.strList("keys")
	if n, err = d.end(); err != nil {
		return "", nil, 0, err
	}
	return bucket, keys, n, nil
}

// AppendSetManyParams appends the parameters (bucket, key-values) of set-many.
func AppendSetManyParams(b []byte, bucket string, items []KeyValue) []byte {
	b = wire.AppendString(b, bucket)
	b = wire.AppendListLen(b, len(items))
	for i := range items {
		b = wire.AppendString(b, items[i].Key)
		b = wire.AppendBytes(b, items[i].Value)
	}
	return b
}

// ConsumeSetManyParams decodes the parameters (bucket, key-values) of set-many.
func ConsumeSetManyParams(b []byte) (bucket string, items []KeyValue, n int, err error) {
	d := decoder{b: b, what: "set-many params"}
	bucket = d.str("bucket")
	count := d.listLen("key-values", minKeyValueSize)
	if d.err == nil {
		items = make([]KeyValue, count)
		for i := range items {
			items[i].Key = d.str("key-values key")
			items[i].Value = d.byteList("key-values value")
		}
	}
	if n, err = d.end(); err != nil {
		return "", nil, 0, err
	}
	return bucket, items, n, nil
}

// AppendErrorResult appends the err case of any function's result<_, error>: 01 and the
// error variant. perr should be a provider answer: an error matching ErrNoSuchStore
// (01 00) or ErrAccessDenied (01 01), or one that is an *OtherError (01 02 and its message,
// with invalid UTF-8 replaced by U+FFFD). Any other error, including nil, is sent as
// other("internal error") so that its text does not leak; callers should report such
// errors as a remote failure instead of encoding them.
func AppendErrorResult(b []byte, perr error) []byte {
	b = wire.AppendResultTag(b, true)
	switch {
	case errors.Is(perr, ErrNoSuchStore):
		return wire.AppendTag(b, caseNoSuchStore)
	case errors.Is(perr, ErrAccessDenied):
		return wire.AppendTag(b, caseAccessDenied)
	}
	msg := internalErrorMessage
	var other *OtherError
	if errors.As(perr, &other) && other != nil {
		msg = other.Message
		if !utf8.ValidString(msg) {
			msg = strings.ToValidUTF8(msg, string(utf8.RuneError))
		}
	}
	b = wire.AppendTag(b, caseOther)
	return wire.AppendString(b, msg)
}

// AppendUnitResult appends the ok case of result<_, error>, the answer of set, delete,
// set-many and delete-many: the single byte 00.
func AppendUnitResult(b []byte) []byte {
	return wire.AppendResultTag(b, false)
}

// ConsumeUnitResult decodes the result<_, error> of set, delete, set-many and delete-many.
func ConsumeUnitResult(b []byte) (perr error, n int, err error) {
	d := decoder{b: b, what: "result"}
	perr = d.result()
	if n, err = d.end(); err != nil {
		return nil, 0, err
	}
	return perr, n, nil
}

// AppendGetResult appends the ok case of get's result<option<list<u8>>, error>: the value
// when ok, none otherwise.
func AppendGetResult(b []byte, value []byte, ok bool) []byte {
	b = wire.AppendResultTag(b, false)
	b = wire.AppendOptionTag(b, ok)
	if ok {
		b = wire.AppendBytes(b, value)
	}
	return b
}

// AppendGetResultHead appends what precedes the bytes of a present value of size bytes in
// get's result; the value's bytes complete it.
func AppendGetResultHead(b []byte, size int) []byte {
	b = wire.AppendResultTag(b, false)
	b = wire.AppendOptionTag(b, true)
	return wire.AppendListLen(b, size)
}

// GetResultNeed is how long get's result that b begins with is in all, once its head says
// so; 0 before, or for a result without a value.
func GetResultNeed(b []byte) uint64 {
	if len(b) < 3 || b[0] != 0 || b[1] != 1 { // ok(some(...)) only
		return 0
	}
	l, n, err := wire.ConsumeU32(b[2:])
	if err != nil {
		return 0
	}
	return 2 + uint64(n) + uint64(l)
}

// ConsumeGetResult decodes get's result. A present empty value gives ok true and a non-nil
// empty value, which is a slice of b, not a copy: b must not be written again while it is in
// use.
func ConsumeGetResult(b []byte) (value []byte, ok bool, perr error, n int, err error) {
	d := decoder{b: b, what: "get result", alias: true}
	if perr = d.result(); perr == nil && d.err == nil {
		if ok = d.optionTag("value"); ok {
			value = d.byteList("value")
		}
	}
	if n, err = d.end(); err != nil {
		return nil, false, nil, 0, err
	}
	return value, ok, perr, n, nil
}

// AppendExistsResult appends the ok case of exists' result<bool, error>.
func AppendExistsResult(b []byte, exists bool) []byte {
	b = wire.AppendResultTag(b, false)
	return wire.AppendBool(b, exists)
}

// ConsumeExistsResult decodes exists' result.
func ConsumeExistsResult(b []byte) (exists bool, perr error, n int, err error) {
	d := decoder{b: b, what: "exists result"}
	if perr = d.result(); perr == nil && d.err == nil {
		exists = d.boolean("exists")
	}
	if n, err = d.end(); err != nil {
		return false, nil, 0, err
	}
	return exists, perr, n, nil
}

// AppendListKeysResult appends the ok case of list-keys' result<key-response, error>.
func AppendListKeysResult(b []byte, r KeyResponse) []byte {
	b = wire.AppendResultTag(b, false)
	b = appendStrings(b, r.Keys)
	return appendOptionU64(b, r.Cursor)
}

// ConsumeListKeysResult decodes list-keys' result.
func ConsumeListKeysResult(b []byte) (r KeyResponse, perr error, n int, err error) {
	d := decoder{b: b, what: "list-keys result"}
	if perr = d.result(); perr == nil && d.err == nil {
		r.Keys = d.strList("keys")
		r.Cursor = d.optionU64("cursor")
	}
	if n, err = d.end(); err != nil {
		return KeyResponse{}, nil, 0, err
	}
	return r, perr, n, nil
}

// AppendIncrementResult appends the ok case of increment's result<u64, error>.
func AppendIncrementResult(b []byte, v uint64) []byte {
	b = wire.AppendResultTag(b, false)
	return wire.AppendU64(b, v)
}

// ConsumeIncrementResult decodes increment's result.
func ConsumeIncrementResult(b []byte) (v uint64, perr error, n int, err error) {
	d := decoder{b: b, what: "increment result"}
	if perr = d.result(); perr == nil && d.err == nil {
		v = d.u64("value")
	}
	if n, err = d.end(); err != nil {
		return 0, nil, 0, err
	}
	return v, perr, n, nil
}

// AppendGetManyResult appends the ok case of get-many's
// result<list<option<tuple<string, list<u8>>>>, error>; a nil element is none.
func AppendGetManyResult(b []byte, items []*KeyValue) []byte {
	if b == nil { // room for all of it at once: 5 bytes bound each length prefix
		n := 6 + len(items)
		for _, it := range items {
			if it != nil {
				n += 10 + len(it.Key) + len(it.Value)
			}
		}
		b = make([]byte, 0, n)
	}
	b = wire.AppendResultTag(b, false)
	b = wire.AppendListLen(b, len(items))
	for _, it := range items {
		b = wire.AppendOptionTag(b, it != nil)
		if it != nil {
			b = wire.AppendString(b, it.Key)
			b = wire.AppendBytes(b, it.Value)
		}
	}
	return b
}

// ConsumeGetManyResult decodes get-many's result; absent keys are nil elements.
func ConsumeGetManyResult(b []byte) (items []*KeyValue, perr error, n int, err error) {
	d := decoder{b: b, what: "get-many result"}
	if perr = d.result(); perr == nil && d.err == nil {
		count := d.listLen("items", minOptionSize)
		if d.err == nil {
			items = make([]*KeyValue, count)
			for i := range items {
				if d.optionTag("item") {
					key := d.str("item key")
					value := d.byteList("item value")
					if d.err == nil {
						items[i] = &KeyValue{Key: key, Value: value}
					}
				}
				if d.err != nil {
					break
				}
			}
		}
	}
	if n, err = d.end(); err != nil {
		return nil, nil, 0, err
	}
	return items, perr, n, nil
}

func appendStrings(b []byte, ss []string) []byte {
	b = wire.AppendListLen(b, len(ss))
	for _, s := range ss {
		b = wire.AppendString(b, s)
	}
	return b
}

func appendOptionU64(b []byte, v *uint64) []byte {
	b = wire.AppendOptionTag(b, v != nil)
	if v != nil {
		b = wire.AppendU64(b, *v)
	}
	return b
}

// decoder reads consecutive values from b. After the first failure every read is a no-op
// returning a zero value, and end reports the failure.
type decoder struct {
	b     []byte
	n     int    // bytes consumed
	what  string // what is being decoded, for error messages
	err   error
	alias bool // byte lists are slices of b, not copies
}

func (d *decoder) fail(field string, err error) {
	if errors.Is(err, wire.ErrTruncated) {
		// Kept bare (a bound on the length only moved to count from the start of the
		// value): callers read it as "need more bytes", often several times per call, and
		// refuse a value announced larger than they accept.
		d.err = wire.Offset(err, d.n)
		return
	}
	d.err = fmt.Errorf("keyvalue: decoding %s: %s: %w", d.what, field, err)
}

func (d *decoder) end() (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	return d.n, nil
}

func (d *decoder) str(field string) string {
	if d.err != nil {
		return ""
	}
	s, n, err := wire.ConsumeString(d.b[d.n:])
	if err != nil {
		d.fail(field, err)
		return ""
	}
	d.n += n
	return s
}

func (d *decoder) byteList(field string) []byte {
	if d.err != nil {
		return nil
	}
	consume := wire.ConsumeBytes
	if d.alias {
		consume = wire.ConsumeBytesAlias
	}
	p, n, err := consume(d.b[d.n:])
	if err != nil {
		d.fail(field, err)
		return nil
	}
	d.n += n
	return p
}

func (d *decoder) u64(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := wire.ConsumeU64(d.b[d.n:])
	if err != nil {
		d.fail(field, err)
		return 0
	}
	d.n += n
	return v
}

func (d *decoder) boolean(field string) bool {
	if d.err != nil {
		return false
	}
	v, n, err := wire.ConsumeBool(d.b[d.n:])
	if err != nil {
		d.fail(field, err)
		return false
	}
	d.n += n
	return v
}

func (d *decoder) optionTag(field string) bool {
	if d.err != nil {
		return false
	}
	some, n, err := wire.ConsumeOptionTag(d.b[d.n:])
	if err != nil {
		d.fail(field, err)
		return false
	}
	d.n += n
	return some
}

func (d *decoder) optionU64(field string) *uint64 {
	if !d.optionTag(field) {
		return nil
	}
	v := d.u64(field)
	if d.err != nil {
		return nil
	}
	return &v
}

// listLen reads a list count; the count is bounded by the input (see wire.ConsumeListLen).
func (d *decoder) listLen(field string, minElemSize int) int {
	if d.err != nil {
		return 0
	}
	count, n, err := wire.ConsumeListLen(d.b[d.n:], minElemSize)
	if err != nil {
		d.fail(field, err)
		return 0
	}
	d.n += n
	return count
}

func (d *decoder) strList(field string) []string {
	count := d.listLen(field, minStringSize)
	if d.err != nil {
		return nil
	}
	ss := make([]string, count)
	for i := range ss {
		ss[i] = d.str(field)
	}
	if d.err != nil {
		return nil
	}
	return ss
}

// result reads the status of a result<T, error> and, for the err case, the error variant,
// which it returns as the provider's answer. It returns nil for the ok case: T follows.
func (d *decoder) result() error {
	if d.err != nil {
		return nil
	}
	isErr, n, err := wire.ConsumeResultTag(d.b[d.n:])
	if err != nil {
		d.fail("result status", err)
		return nil
	}
	d.n += n
	if !isErr {
		return nil
	}
	c, n, err := wire.ConsumeTag(d.b[d.n:], errorCases)
	if err != nil {
		d.fail("error case", err)
		return nil
	}
	d.n += n
	switch c {
	case caseNoSuchStore:
		return ErrNoSuchStore
	case caseAccessDenied:
		return ErrAccessDenied
	default:
		msg := d.str("error message")
		if d.err != nil {
			return nil
		}
		return &OtherError{Message: msg}
	}
}
