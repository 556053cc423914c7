// Package kvtest provides a keyvalue.Store for tests that answers with every kind of error a
// provider can give, chosen by bucket name, the same way the interop Rust peer does.
package kvtest

import (
	"context"
	"errors"
	"time"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Buckets with a fixed answer for every function.
const (
	NoSuchStore  = "no-such-store" // keyvalue.ErrNoSuchStore
	AccessDenied = "access-denied" // keyvalue.ErrAccessDenied
	Other        = "other"         // &keyvalue.OtherError{Message: "boom"}
	Fail         = "fail"          // an error that is no provider answer: a remote failure
	// Headers answers get(Headers, name) with the invocation's header name, absent if unset.
	Headers = "headers"
	// Slow answers get as an absent key after SlowFor, so callers with shorter deadlines
	// time out.
	Slow = "slow"
)

// SlowFor is how long the Slow bucket takes to answer.
const SlowFor = time.Second

// Answering wraps a store with the fixed answers of the buckets above.
func Answering(s keyvalue.Store) keyvalue.Store { return answering{s} }

type answering struct{ keyvalue.Store }

func answer(bucket string) error {
	switch bucket {
	case NoSuchStore:
		return keyvalue.ErrNoSuchStore
	case AccessDenied:
		return keyvalue.ErrAccessDenied
	case Other:
		return &keyvalue.OtherError{Message: "boom"}
	case Fail:
		return errors.New("backend exploded")
	}
	return nil
}

func (a answering) Get(ctx context.Context, b, k string) ([]byte, bool, error) {
	if err := answer(b); err != nil {
		return nil, false, err
	}
	if b == Slow {
		select {
		case <-time.After(SlowFor):
		case <-ctx.Done():
		}
		return nil, false, nil
	}
	if b == Headers {
		v := wrpcnats.InvocationHeader(ctx).Values(k)
		if len(v) == 0 {
			return nil, false, nil
		}
		return []byte(v[0]), true, nil
	}
	return a.Store.Get(ctx, b, k)
}

func (a answering) Set(ctx context.Context, b, k string, v []byte) error {
	if err := answer(b); err != nil {
		return err
	}
	return a.Store.Set(ctx, b, k, v)
}

func (a answering) Delete(ctx context.Context, b, k string) error {
	if err := answer(b); err != nil {
		return err
	}
	return a.Store.Delete(ctx, b, k)
}

func (a answering) Exists(ctx context.Context, b, k string) (bool, error) {
	if err := answer(b); err != nil {
		return false, err
	}
	return a.Store.Exists(ctx, b, k)
}

func (a answering) ListKeys(ctx context.Context, b string, c *uint64) (keyvalue.KeyResponse, error) {
	if err := answer(b); err != nil {
		return keyvalue.KeyResponse{}, err
	}
	return a.Store.ListKeys(ctx, b, c)
}

func (a answering) Increment(ctx context.Context, b, k string, d uint64) (uint64, error) {
	if err := answer(b); err != nil {
		return 0, err
	}
	return a.Store.Increment(ctx, b, k, d)
}

func (a answering) GetMany(ctx context.Context, b string, ks []string) ([]*keyvalue.KeyValue, error) {
	if err := answer(b); err != nil {
		return nil, err
	}
	return a.Store.GetMany(ctx, b, ks)
}

func (a answering) SetMany(ctx context.Context, b string, items []keyvalue.KeyValue) error {
	if err := answer(b); err != nil {
		return err
	}
	return a.Store.SetMany(ctx, b, items)
}

func (a answering) DeleteMany(ctx context.Context, b string, ks []string) error {
	if err := answer(b); err != nil {
		return err
	}
	return a.Store.DeleteMany(ctx, b, ks)
}

// CallAll calls every function of the world once on bucket and returns each one's error, by
// WIT function name.
func CallAll(s keyvalue.Store, bucket string) map[string]error {
	ctx := context.Background()
	out := map[string]error{}
	_, _, out["get"] = s.Get(ctx, bucket, "k")
	out["set"] = s.Set(ctx, bucket, "k", []byte("v"))
	out["delete"] = s.Delete(ctx, bucket, "k")
	_, out["exists"] = s.Exists(ctx, bucket, "k")
	_, out["list-keys"] = s.ListKeys(ctx, bucket, nil)
	_, out["increment"] = s.Increment(ctx, bucket, "k", 1)
	_, out["get-many"] = s.GetMany(ctx, bucket, []string{"k"})
	out["set-many"] = s.SetMany(ctx, bucket, []keyvalue.KeyValue{{Key: "k", Value: []byte("v")}})
	out["delete-many"] = s.DeleteMany(ctx, bucket, []string{"k"})
	return out
}
