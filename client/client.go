// Package client is the typed client of the wrpc:keyvalue@0.2.0-draft world: the nine
// functions of its store, atomics and batch interfaces, called over wRPC on NATS on any
// provider that serves them.
//
//	kv, err := client.New(nc, client.WithPrefix("default.kvredis"),
//		client.WithHeader("source-id", "my-component"), client.WithHeader("link-name", "default"))
//	value, ok, err := kv.Get(ctx, "bucket", "key")
//
// A provider's answers are errors matching ErrNoSuchStore or ErrAccessDenied, or an
// *OtherError. Transport failures (ErrNoResponders, ErrTimeout, ErrRemoteFailure, ...) never
// match those.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// KeyValue calls a keyvalue provider. It is safe for concurrent use.
type KeyValue struct {
	rpc     *wrpcnats.Client
	prefix  string
	timeout time.Duration
	// maxResult caps the results of every call but get; maxGet those of get.
	maxResult, maxGet int
	observer          CallObserver
	tracer            trace.Tracer
}

var _ keyvalue.Store = (*KeyValue)(nil)

type config struct {
	prefix    string
	timeout   time.Duration
	maxResult int
	maxValue  int
	observer  CallObserver
	tracer    trace.Tracer
	rpc       []wrpcnats.ClientOption
}

// getResultOverhead is what a get's results hold besides the value: the result and option
// tags and the length prefix, or an error with its message, which may be this long.
const getResultOverhead = 64 << 10

// An Option configures a KeyValue.
type Option func(*config) error

// WithPrefix sets the subject prefix of the provider: "<lattice>.<provider-id>" for a
// wasmCloud provider.
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		c.prefix = prefix
		c.rpc = append(c.rpc, wrpcnats.WithPrefix(prefix))
		return nil
	}
}

// WithHeader adds a header to every invocation. wasmCloud providers need source-id (a
// component linked to them) and link-name.
func WithHeader(key, value string) Option {
	return func(c *config) error {
		if key == "" {
			return fmt.Errorf("client: empty header name")
		}
		c.rpc = append(c.rpc, wrpcnats.WithHeader(nats.Header{key: {value}}))
		return nil
	}
}

// WithTimeout sets the deadline given to calls whose context has none (DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("client: timeout must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithHandshakeTimeout bounds the wait for the provider's acknowledgement of a call
// (wrpcnats.DefaultHandshakeTimeout, 3 s). A call not acknowledged in time fails with
// ErrUnacknowledged; a read is sent once more first.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("client: handshake timeout must be positive, got %v", d)
		}
		c.rpc = append(c.rpc, wrpcnats.WithHandshakeTimeout(d))
		return nil
	}
}

// WithMaxResultBytes caps the size of one call's results (default 64 MiB): a get-many whose
// values add up to more fails with ErrResultTooLarge. WithMaxValueBytes sets get's own cap.
func WithMaxResultBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("client: max result bytes must be positive, got %d", n)
		}
		c.maxResult = n
		return nil
	}
}

// WithMaxValueBytes sets the largest value Get accepts (default: as WithMaxResultBytes). A
// provider announcing a larger value fails the call with ErrResultTooLarge at once, before
// its bytes are buffered.
func WithMaxValueBytes(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("client: max value bytes must not be negative, got %d", n)
		}
		c.maxValue = n
		return nil
	}
}

// New returns a client calling over nc.
func New(nc *nats.Conn, opts ...Option) (*KeyValue, error) {
	cfg := config{timeout: DefaultTimeout, maxResult: wrpcnats.DefaultMaxResultBytes, tracer: noopTracer}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	rpc, err := wrpcnats.NewClient(nc, cfg.rpc...)
	if err != nil {
		return nil, err
	}
	kv := &KeyValue{rpc: rpc, prefix: cfg.prefix, timeout: cfg.timeout, maxResult: cfg.maxResult, maxGet: cfg.maxResult,
		observer: cfg.observer, tracer: cfg.tracer}
	if cfg.maxValue > 0 {
		kv.maxGet = cfg.maxValue + getResultOverhead
	}
	return kv, nil
}

// InboxRotations counts the times the client moved its calls to a fresh NATS inbox because a
// provider went on sending to a call that had ended (a flood): the NATS server then stops
// forwarding it.
func (kv *KeyValue) InboxRotations() int64 { return kv.rpc.InboxRotations() }

// Close releases the client's inbox subscription. Calls in flight fail.
func (kv *KeyValue) Close() error { return kv.rpc.Close() }

// WithCallHeader returns a context whose calls carry the header key: value, for example a
// W3C traceparent.
func WithCallHeader(ctx context.Context, key, value string) context.Context {
	h := nats.Header{}
	if prev := wrpcnats.CallHeader(ctx); prev != nil {
		for k, v := range prev {
			h[k] = v
		}
	}
	h[key] = []string{value}
	return wrpcnats.WithCallHeader(ctx, h)
}

// invoke calls fn with params under the client's default deadline; decode consumes the
// result and returns an error matching wire.ErrTruncated until it is complete.
//
// The error it returns is the call's failure; a provider's answer comes back through decode,
// and perr, when not nil, points at it so that observers and spans see it.
func (kv *KeyValue) invoke(ctx context.Context, instance, fn string, params []byte, perr *error, decode func([]byte) error) (err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, kv.timeout)
		defer cancel()
	}
	return kv.observed(ctx, instance, fn, len(params), perr, decode, func(ctx context.Context, limit int, decode func([]byte) error) error {
		return kv.rpc.InvokeLimit(ctx, instance, fn, params, limit, decode)
	})
}

// observed makes the call rpc with a span and an observation around it.
func (kv *KeyValue) observed(ctx context.Context, instance, fn string, sent int, perr *error, decode func([]byte) error,
	rpc func(ctx context.Context, limit int, decode func([]byte) error) error) (err error) {
	ctx, span := kv.startSpan(ctx, instance, fn)
	start := time.Now()
	received := 0
	defer func() {
		outcome := err
		if outcome == nil && perr != nil {
			outcome = *perr
		}
		endSpan(span, outcome)
		if kv.observer != nil {
			kv.observer.CallDone(Call{Interface: shortInterface(instance), Function: fn, Duration: time.Since(start),
				SentBytes: sent, ReceivedBytes: received, Err: outcome})
		}
	}()
	limit := kv.maxResult
	if fn == "get" {
		limit = kv.maxGet
	}
	counted := func(b []byte) error {
		received = len(b)
		return decode(b)
	}
	err = rpc(ctx, limit, counted)
	if errors.Is(err, wrpcnats.ErrNoHandshake) && readOnly[fn] && ctx.Err() == nil {
		// The invocation was most likely lost on its way (a NATS server failing over). A read
		// may run twice without harm, so it is sent once more; a write is not, since it may
		// only be late, and running it late could undo a newer write.
		err = rpc(ctx, limit, counted)
	}
	if err != nil {
		return classify(fmt.Errorf("keyvalue %s: %w", fn, err))
	}
	return nil
}

// readOnly names the functions that change nothing.
var readOnly = map[string]bool{"get": true, "exists": true, "list-keys": true, "get-many": true}

// Get returns the value of key. ok is false when the key is absent; an empty value is
// present (ok true, len 0).
func (kv *KeyValue) Get(ctx context.Context, bucket, key string) (value []byte, ok bool, err error) {
	var perr error
	ctx = wrpcnats.WithResultSizer(ctx, keyvalue.GetResultNeed)
	err = kv.invoke(ctx, keyvalue.StoreInstance, "get", keyvalue.AppendBucketKeyParams(nil, bucket, key), &perr, func(b []byte) (err error) {
		value, ok, perr, _, err = keyvalue.ConsumeGetResult(b)
		return err
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, false, err
	}
	return value, ok, nil
}

// Set stores value at key.
func (kv *KeyValue) Set(ctx context.Context, bucket, key string, value []byte) error {
	return kv.unit(ctx, keyvalue.StoreInstance, "set", keyvalue.AppendSetParams(nil, bucket, key, value))
}

var _ keyvalue.SetStreamer = (*KeyValue)(nil)

// SetFrom stores the size bytes read from r at key, sending them to the provider as they are
// read: the value is never held whole. The timeout (WithTimeout) runs from the moment the last
// byte is sent. A read that fails or ends early fails the call, the provider stores nothing,
// and SetFrom returns the read's error.
func (kv *KeyValue) SetFrom(ctx context.Context, bucket, key string, size int64, r io.Reader) error {
	if size < 0 || size > math.MaxUint32 {
		return fmt.Errorf("client: value of %d bytes cannot be sent", size)
	}
	head := keyvalue.AppendSetParamsHead(nil, bucket, key, int(size))
	var perr error
	err := kv.observed(ctx, keyvalue.StoreInstance, "set", len(head)+int(size), &perr, func(b []byte) (err error) {
		perr, _, err = keyvalue.ConsumeUnitResult(b)
		return err
	}, func(ctx context.Context, limit int, decode func([]byte) error) error {
		return kv.rpc.InvokeFrom(ctx, keyvalue.StoreInstance, "set", head, r, size, kv.timeout, limit, decode)
	})
	if err != nil {
		return err
	}
	return perr
}

// Delete removes key; removing an absent key succeeds.
func (kv *KeyValue) Delete(ctx context.Context, bucket, key string) error {
	return kv.unit(ctx, keyvalue.StoreInstance, "delete", keyvalue.AppendBucketKeyParams(nil, bucket, key))
}

// Exists reports whether key is present.
func (kv *KeyValue) Exists(ctx context.Context, bucket, key string) (exists bool, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.StoreInstance, "exists", keyvalue.AppendBucketKeyParams(nil, bucket, key), &perr, func(b []byte) (err error) {
		exists, perr, _, err = keyvalue.ConsumeExistsResult(b)
		return err
	})
	if err == nil {
		err = perr
	}
	return exists && err == nil, err
}

// ListKeys returns one page of the bucket's keys: cursor nil for the first page, then the
// previous page's Cursor until it is nil. The provider chooses the page size.
func (kv *KeyValue) ListKeys(ctx context.Context, bucket string, cursor *uint64) (r keyvalue.KeyResponse, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.StoreInstance, "list-keys", keyvalue.AppendListKeysParams(nil, bucket, cursor), &perr, func(b []byte) (err error) {
		r, perr, _, err = keyvalue.ConsumeListKeysResult(b)
		return err
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return keyvalue.KeyResponse{}, err
	}
	return r, nil
}

// Increment adds delta to the counter at key and returns the new value.
func (kv *KeyValue) Increment(ctx context.Context, bucket, key string, delta uint64) (v uint64, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.AtomicsInstance, "increment", keyvalue.AppendIncrementParams(nil, bucket, key, delta), &perr, func(b []byte) (err error) {
		v, perr, _, err = keyvalue.ConsumeIncrementResult(b)
		return err
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return 0, err
	}
	return v, nil
}

// GetMany returns one element per key, in the order of keys: nil where the key is absent.
// An empty keys makes no call.
//
// Providers answer in any order (keyvalue-nats answers in completion order), so each entry
// the provider answers is paired with the requested key it names, never by its position. A
// key no entry names is absent; a key asked for twice gets the same answer twice. An answer
// naming a key that was not asked for, or naming a key more often than it was asked for, is
// ErrProtocol: the gateway does not guess.
func (kv *KeyValue) GetMany(ctx context.Context, bucket string, keys []string) (items []*keyvalue.KeyValue, err error) {
	if len(keys) == 0 {
		return []*keyvalue.KeyValue{}, nil
	}
	var perr error
	err = kv.invoke(ctx, keyvalue.BatchInstance, "get-many", keyvalue.AppendKeysParams(nil, bucket, keys), &perr, func(b []byte) (err error) {
		items, perr, _, err = keyvalue.ConsumeGetManyResult(b)
		if err == nil && perr == nil {
			// An answer that does not fit the keys is a broken answer, reported as one.
			items, err = pairByKey(keys, items)
		}
		return err
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	return items, nil
}

// pairByKey orders a get-many answer by the keys asked for (see GetMany).
func pairByKey(keys []string, entries []*keyvalue.KeyValue) ([]*keyvalue.KeyValue, error) {
	if len(entries) > len(keys) {
		return nil, fmt.Errorf("get-many answered %d entries for %d keys", len(entries), len(keys))
	}
	asked := make(map[string]int, len(keys)) // times each key was asked for
	for _, k := range keys {
		asked[k]++
	}
	found := make(map[string]*keyvalue.KeyValue, len(entries))
	named := make(map[string]int, len(entries))
	for _, e := range entries {
		if e == nil {
			continue
		}
		n, ok := asked[e.Key]
		if !ok {
			return nil, fmt.Errorf("get-many answered key %q, which was not asked for", e.Key)
		}
		if named[e.Key]++; named[e.Key] > n {
			return nil, fmt.Errorf("get-many answered key %q %d times; it was asked for %d", e.Key, named[e.Key], n)
		}
		if _, dup := found[e.Key]; !dup {
			found[e.Key] = e
		}
	}
	out := make([]*keyvalue.KeyValue, len(keys))
	for i, k := range keys {
		e := found[k]
		if e == nil {
			continue
		}
		if asked[k] > 1 {
			// Each position gets its own element, sharing the value's bytes.
			e = &keyvalue.KeyValue{Key: e.Key, Value: e.Value}
		}
		out[i] = e
	}
	return out, nil
}

// SetMany stores every item. It is not atomic: on error, some items may be stored. Empty
// items make no call.
func (kv *KeyValue) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	if len(items) == 0 {
		return nil
	}
	return kv.unit(ctx, keyvalue.BatchInstance, "set-many", keyvalue.AppendSetManyParams(nil, bucket, items))
}

// DeleteMany removes every key. It is not atomic. Empty keys make no call.
func (kv *KeyValue) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return kv.unit(ctx, keyvalue.BatchInstance, "delete-many", keyvalue.AppendKeysParams(nil, bucket, keys))
}

// unit calls a function returning result<_, error>.
func (kv *KeyValue) unit(ctx context.Context, instance, fn string, params []byte) error {
	var perr error
	err := kv.invoke(ctx, instance, fn, params, &perr, func(b []byte) (err error) {
		perr, _, err = keyvalue.ConsumeUnitResult(b)
		return err
	})
	if err != nil {
		return err
	}
	return perr
}

// Serves reports which of the world's interfaces the provider serves, by name ("store",
// "atomics", "batch"): each is asked with an invocation that carries no params, so nothing
// runs (see wrpcnats.Client.Serves). An interface whose probe failed otherwise (timeout, no
// connection) is missing from the map, and err says why.
func (kv *KeyValue) Serves(ctx context.Context) (map[string]bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, kv.timeout)
		defer cancel()
	}
	out := make(map[string]bool, 3)
	var errs []error
	for _, p := range []struct{ name, instance, fn string }{
		{"store", keyvalue.StoreInstance, "exists"},
		{"atomics", keyvalue.AtomicsInstance, "increment"},
		{"batch", keyvalue.BatchInstance, "get-many"},
	} {
		ok, err := kv.rpc.Serves(ctx, p.instance, p.fn)
		if err != nil {
			errs = append(errs, classify(fmt.Errorf("probe of %s: %w", p.name, err)))
			continue
		}
		out[p.name] = ok
	}
	return out, errors.Join(errs...)
}
