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
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// KeyValue calls a keyvalue provider. It is safe for concurrent use.
type KeyValue struct {
	rpc     *wrpcnats.Client
	timeout time.Duration
}

var _ keyvalue.Store = (*KeyValue)(nil)

type config struct {
	timeout time.Duration
	rpc     []wrpcnats.ClientOption
}

// An Option configures a KeyValue.
type Option func(*config) error

// WithPrefix sets the subject prefix of the provider: "<lattice>.<provider-id>" for a
// wasmCloud provider.
func WithPrefix(prefix string) Option {
	return func(c *config) error { c.rpc = append(c.rpc, wrpcnats.WithPrefix(prefix)); return nil }
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

// WithMaxResultBytes caps the size of one call's results (default 64 MiB).
func WithMaxResultBytes(n int) Option {
	return func(c *config) error { c.rpc = append(c.rpc, wrpcnats.WithMaxResultBytes(n)); return nil }
}

// New returns a client calling over nc.
func New(nc *nats.Conn, opts ...Option) (*KeyValue, error) {
	cfg := config{timeout: DefaultTimeout}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	rpc, err := wrpcnats.NewClient(nc, cfg.rpc...)
	if err != nil {
		return nil, err
	}
	return &KeyValue{rpc: rpc, timeout: cfg.timeout}, nil
}

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
func (kv *KeyValue) invoke(ctx context.Context, instance, fn string, params []byte, decode func([]byte) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, kv.timeout)
		defer cancel()
	}
	if err := kv.rpc.Invoke(ctx, instance, fn, params, decode); err != nil {
		return fmt.Errorf("keyvalue %s: %w", fn, err)
	}
	return nil
}

// Get returns the value of key. ok is false when the key is absent; an empty value is
// present (ok true, len 0).
func (kv *KeyValue) Get(ctx context.Context, bucket, key string) (value []byte, ok bool, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.StoreInstance, "get", keyvalue.AppendBucketKeyParams(nil, bucket, key), func(b []byte) (err error) {
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

// Delete removes key; removing an absent key succeeds.
func (kv *KeyValue) Delete(ctx context.Context, bucket, key string) error {
	return kv.unit(ctx, keyvalue.StoreInstance, "delete", keyvalue.AppendBucketKeyParams(nil, bucket, key))
}

// Exists reports whether key is present.
func (kv *KeyValue) Exists(ctx context.Context, bucket, key string) (exists bool, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.StoreInstance, "exists", keyvalue.AppendBucketKeyParams(nil, bucket, key), func(b []byte) (err error) {
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
	err = kv.invoke(ctx, keyvalue.StoreInstance, "list-keys", keyvalue.AppendListKeysParams(nil, bucket, cursor), func(b []byte) (err error) {
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
	err = kv.invoke(ctx, keyvalue.AtomicsInstance, "increment", keyvalue.AppendIncrementParams(nil, bucket, key, delta), func(b []byte) (err error) {
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

// GetMany returns one element per key, in order: nil where the key is absent.
func (kv *KeyValue) GetMany(ctx context.Context, bucket string, keys []string) (items []*keyvalue.KeyValue, err error) {
	var perr error
	err = kv.invoke(ctx, keyvalue.BatchInstance, "get-many", keyvalue.AppendKeysParams(nil, bucket, keys), func(b []byte) (err error) {
		items, perr, _, err = keyvalue.ConsumeGetManyResult(b)
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

// SetMany stores every item. It is not atomic: on error, some items may be stored.
func (kv *KeyValue) SetMany(ctx context.Context, bucket string, items []keyvalue.KeyValue) error {
	return kv.unit(ctx, keyvalue.BatchInstance, "set-many", keyvalue.AppendSetManyParams(nil, bucket, items))
}

// DeleteMany removes every key. It is not atomic.
func (kv *KeyValue) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	return kv.unit(ctx, keyvalue.BatchInstance, "delete-many", keyvalue.AppendKeysParams(nil, bucket, keys))
}

// unit calls a function returning result<_, error>.
func (kv *KeyValue) unit(ctx context.Context, instance, fn string, params []byte) error {
	var perr error
	err := kv.invoke(ctx, instance, fn, params, func(b []byte) (err error) {
		perr, _, err = keyvalue.ConsumeUnitResult(b)
		return err
	})
	if err != nil {
		return err
	}
	return perr
}
