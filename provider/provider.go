// Package provider serves the wrpc:keyvalue@0.2.0-draft world (interfaces store, atomics and
// batch) over wRPC on NATS from any keyvalue.Store, such as the backends in provider/memory
// and provider/jetstream.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wrpc-kv/gateway/internal/gcpace"
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Provider serves a keyvalue.Store.
type Provider struct {
	srv *wrpcnats.Server
}

type config struct {
	rpc        []wrpcnats.ServerOption
	interfaces []string
	observer   Observer
	tracer     trace.Tracer
	log        *slog.Logger
}

// Invocation describes one served call, for an Observer.
type Invocation struct {
	// Interface is the interface's short name: "store", "atomics" or "batch".
	Interface string
	// Function is the WIT function: "get", "get-many", ...
	Function string
	Duration time.Duration
	// Err is the store's answer (keyvalue.ErrNoSuchStore, ...), or the backend failure the
	// caller saw as a remote failure; nil for a success. keyvalue.ErrorKind names it.
	Err error
}

// An Observer learns of every invocation the provider serves (metrics). Its methods must not
// block.
type Observer interface {
	InvocationStarted(iface, function string)
	InvocationDone(inv Invocation)
}

// WithObserver has o learn of every invocation.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observer = o }
}

// WithTracerProvider makes a server span of every invocation with tp's tracer, continuing
// the trace whose context the invocation carries (traceparent, tracestate headers), with the
// RPC semantic conventions (rpc.system wrpc, rpc.service the interface, rpc.method the
// function). The backend's context is the span's, so its own spans are children of it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracer = tp.Tracer(instrumentation) }
}

// instrumentation names this package to OpenTelemetry.
const instrumentation = "github.com/wrpc-kv/gateway/provider"

// traceContext is the W3C trace-context propagator.
var traceContext = propagation.TraceContext{}

// instrument wraps the handler of f: the store's answers become error results, and each
// invocation is traced and observed.
func (c *config) instrument(f function) wrpcnats.Handler {
	_, iface, _ := strings.Cut(f.instance, "/")
	iface, _, _ = strings.Cut(iface, "@")
	subject := f.instance + "/" + f.name
	return func(p []byte) (wrpcnats.Call, error) {
		call, err := f.handler(p)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) ([]byte, error) {
			// The caller's trace context: the parent of the span, and the trace id of the
			// log lines, with or without a tracer.
			if h := wrpcnats.InvocationHeader(ctx); len(h) > 0 {
				ctx = traceContext.Extract(ctx, wrpcnats.HeaderCarrier(h))
			}
			var span trace.Span
			if c.tracer != nil {
				ctx, span = c.tracer.Start(ctx, subject, trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(
						attribute.String("rpc.system", "wrpc"),
						attribute.String("rpc.service", f.instance),
						attribute.String("rpc.method", f.name),
						attribute.String("messaging.system", "nats"),
					))
			}
			if c.observer != nil {
				c.observer.InvocationStarted(iface, f.name)
			}
			start := time.Now()
			out, err := call(ctx)
			outcome := err
			if err != nil && keyvalue.IsAnswer(err) {
				out, err = keyvalue.AppendErrorResult(nil, err), nil
			}
			if err != nil {
				attrs := []slog.Attr{slog.String("function", subject), slog.String("err", err.Error())}
				if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
					attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
				}
				c.log.LogAttrs(ctx, slog.LevelWarn, "call failed: the caller sees a remote failure", attrs...)
			}
			if span != nil {
				if outcome != nil {
					kind := keyvalue.ErrorKind(outcome)
					span.SetAttributes(attribute.String("error.type", kind))
					span.SetStatus(codes.Error, kind)
				}
				span.End()
			}
			if c.observer != nil {
				c.observer.InvocationDone(Invocation{Interface: iface, Function: f.name, Duration: time.Since(start), Err: outcome})
			}
			// Any other error fails the call: the caller sees a remote failure and the
			// error stays in the provider's log, where its text may safely go.
			return out, err
		}, nil
	}
}

// An Option configures a Provider.
type Option func(*config)

// WithPrefix sets the subject prefix the provider answers under; unless WithQueueGroup says
// otherwise, it is also the queue group, so that providers sharing a prefix share the calls.
func WithPrefix(prefix string) Option {
	return func(c *config) { c.rpc = append(c.rpc, wrpcnats.ServePrefix(prefix)) }
}

// WithQueueGroup sets the NATS queue group.
func WithQueueGroup(group string) Option {
	return func(c *config) { c.rpc = append(c.rpc, wrpcnats.QueueGroup(group)) }
}

// WithMaxConcurrency bounds the calls served at once.
func WithMaxConcurrency(n int) Option {
	return func(c *config) { c.rpc = append(c.rpc, wrpcnats.MaxConcurrency(n)) }
}

// WithMaxParamBytes bounds the size of one call's params (and so of the values it sets).
func WithMaxParamBytes(n int) Option {
	return func(c *config) { c.rpc = append(c.rpc, wrpcnats.MaxParamBytes(n)) }
}

// WithInterfaces limits the provider to some of the world's interfaces, named by instance
// (keyvalue.StoreInstance, AtomicsInstance, BatchInstance), as providers that export only the
// world's "server" part (store and atomics) do. By default it serves all three.
func WithInterfaces(instances ...string) Option {
	return func(c *config) { c.interfaces = instances }
}

// WithLogger sets the logger for failed calls (slog.Default() otherwise). A call whose
// backend failed is logged at Warn with the error and the trace id of the invocation.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l; c.rpc = append(c.rpc, wrpcnats.Logger(l)) }
}

// InvocationHeader returns the NATS headers of the call being served (for example source-id,
// link-name, traceparent), or nil. Backends receive it in their ctx.
func InvocationHeader(ctx context.Context) nats.Header { return wrpcnats.InvocationHeader(ctx) }

// Serve subscribes the nine functions of the world on nc and serves them from store until
// Close. It returns once the NATS server has every subscription.
func Serve(nc *nats.Conn, store keyvalue.Store, opts ...Option) (*Provider, error) {
	cfg := config{log: slog.Default()}
	for _, opt := range opts {
		opt(&cfg)
	}
	srv, err := wrpcnats.NewServer(nc, cfg.rpc...)
	if err != nil {
		return nil, err
	}
	p := &Provider{srv: srv}
	for _, f := range functions(store) {
		if cfg.interfaces != nil && !slices.Contains(cfg.interfaces, f.instance) {
			continue
		}
		if err := srv.Handle(f.instance, f.name, cfg.instrument(f)); err != nil {
			_ = srv.Close(context.Background())
			return nil, err
		}
	}
	return p, nil
}

// Close stops taking calls and waits for those in flight until ctx is done.
func (p *Provider) Close(ctx context.Context) error { return p.srv.Close(ctx) }

type function struct {
	instance, name string
	// handler decodes the params; its Call returns the encoded results of a success, or the
	// store's error as it is.
	handler wrpcnats.Handler
}

func functions(s keyvalue.Store) []function {
	return []function{
		{keyvalue.StoreInstance, "get", func(p []byte) (wrpcnats.Call, error) {
			bucket, key, _, err := keyvalue.ConsumeBucketKeyParams(p)
			if gs, ok := s.(keyvalue.GetStreamer); ok {
				return func(ctx context.Context) ([]byte, error) { return streamGet(ctx, gs, bucket, key) }, err
			}
			return func(ctx context.Context) ([]byte, error) {
				v, ok, err := s.Get(ctx, bucket, key)
				if err != nil {
					return nil, err
				}
				return keyvalue.AppendGetResult(nil, v, ok), nil
			}, err
		}},
		{keyvalue.StoreInstance, "set", func(p []byte) (wrpcnats.Call, error) {
			bucket, key, value, _, err := keyvalue.ConsumeSetParams(p)
			return func(ctx context.Context) ([]byte, error) {
				return unitResult(s.Set(ctx, bucket, key, value))
			}, err
		}},
		{keyvalue.StoreInstance, "delete", func(p []byte) (wrpcnats.Call, error) {
			bucket, key, _, err := keyvalue.ConsumeBucketKeyParams(p)
			return func(ctx context.Context) ([]byte, error) {
				return unitResult(s.Delete(ctx, bucket, key))
			}, err
		}},
		{keyvalue.StoreInstance, "exists", func(p []byte) (wrpcnats.Call, error) {
			bucket, key, _, err := keyvalue.ConsumeBucketKeyParams(p)
			return func(ctx context.Context) ([]byte, error) {
				ok, err := s.Exists(ctx, bucket, key)
				if err != nil {
					return nil, err
				}
				return keyvalue.AppendExistsResult(nil, ok), nil
			}, err
		}},
		{keyvalue.StoreInstance, "list-keys", func(p []byte) (wrpcnats.Call, error) {
			bucket, cursor, _, err := keyvalue.ConsumeListKeysParams(p)
			return func(ctx context.Context) ([]byte, error) {
				r, err := s.ListKeys(ctx, bucket, cursor)
				if err != nil {
					return nil, err
				}
				return keyvalue.AppendListKeysResult(nil, r), nil
			}, err
		}},
		{keyvalue.AtomicsInstance, "increment", func(p []byte) (wrpcnats.Call, error) {
			bucket, key, delta, _, err := keyvalue.ConsumeIncrementParams(p)
			return func(ctx context.Context) ([]byte, error) {
				v, err := s.Increment(ctx, bucket, key, delta)
				if err != nil {
					return nil, err
				}
				return keyvalue.AppendIncrementResult(nil, v), nil
			}, err
		}},
		{keyvalue.BatchInstance, "get-many", func(p []byte) (wrpcnats.Call, error) {
			bucket, keys, _, err := keyvalue.ConsumeKeysParams(p)
			return func(ctx context.Context) ([]byte, error) {
				items, err := s.GetMany(ctx, bucket, keys)
				if err != nil {
					return nil, err
				}
				return keyvalue.AppendGetManyResult(nil, items), nil
			}, err
		}},
		{keyvalue.BatchInstance, "set-many", func(p []byte) (wrpcnats.Call, error) {
			bucket, items, _, err := keyvalue.ConsumeSetManyParams(p)
			return func(ctx context.Context) ([]byte, error) {
				return unitResult(s.SetMany(ctx, bucket, items))
			}, err
		}},
		{keyvalue.BatchInstance, "delete-many", func(p []byte) (wrpcnats.Call, error) {
			bucket, keys, _, err := keyvalue.ConsumeKeysParams(p)
			return func(ctx context.Context) ([]byte, error) {
				return unitResult(s.DeleteMany(ctx, bucket, keys))
			}, err
		}},
	}
}

func unitResult(err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return keyvalue.AppendUnitResult(nil), nil
}

// streamGet sends the value of key as the store reads it: the result's head, then the value's
// bytes, each message as soon as it is full.
func streamGet(ctx context.Context, gs keyvalue.GetStreamer, bucket, key string) ([]byte, error) {
	w := wrpcnats.ResultWriter(ctx)
	if w == nil {
		return nil, errors.New("provider: no result writer in the call's context")
	}
	opened := false
	paced := func() {}
	defer func() { paced() }()
	ok, err := gs.GetTo(ctx, bucket, key, func(size int) (io.Writer, error) {
		opened = true
		paced = gcpace.Begin(size)
		if _, err := w.Write(keyvalue.AppendGetResultHead(nil, size)); err != nil {
			return nil, err
		}
		return w, nil
	})
	switch {
	case err != nil && opened:
		// Part of the value is out: only failing the call tells the caller it is not whole.
		return nil, fmt.Errorf("get of %q in %q failed after part of the value was sent: %v", key, bucket, err)
	case err != nil:
		return nil, err
	case !ok:
		return keyvalue.AppendGetResult(nil, nil, false), nil
	}
	return nil, nil
}
