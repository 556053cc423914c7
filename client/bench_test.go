package client_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// BenchmarkGetRoundTrip compares, in one run over one embedded server, a wRPC get of a small
// value from client to provider with a plain nats.go request/reply carrying the same bytes
// (the get's encoded params out, its encoded result back). The README reports the ratio.
func BenchmarkGetRoundTrip(b *testing.B) {
	ns := natstest.Run(b)
	value := []byte("a small value of sixty-four bytes, like a session or a flag....")
	store := memory.New()
	if err := store.Set(context.Background(), "bucket", "key", value); err != nil {
		b.Fatal(err)
	}
	p, err := provider.Serve(natstest.Connect(b, ns), store, provider.WithPrefix(prefix),
		provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close(context.Background()) })

	b.Run("wrpc-get", func(b *testing.B) {
		kv, err := client.New(natstest.Connect(b, ns), client.WithPrefix(prefix))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := kv.Get(ctx, "bucket", "key"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})

	b.Run("nats-request", func(b *testing.B) {
		reply := keyvalue.AppendGetResult(nil, value, true)
		srv := natstest.Connect(b, ns)
		if _, err := srv.Subscribe("plain.get", func(m *nats.Msg) { _ = m.Respond(reply) }); err != nil {
			b.Fatal(err)
		}
		if err := srv.Flush(); err != nil {
			b.Fatal(err)
		}
		nc := natstest.Connect(b, ns)
		params := keyvalue.AppendBucketKeyParams(nil, "bucket", "key")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			m, err := nc.RequestWithContext(ctx, "plain.get", params)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, _, _, err := keyvalue.ConsumeGetResult(m.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNoResponders measures how long a call to a prefix nobody serves takes to fail with
// ErrNoResponders (the target is 100 ms); the README reports the figure.
func BenchmarkNoResponders(b *testing.B) {
	ns := natstest.Run(b)
	kv, err := client.New(natstest.Connect(b, ns), client.WithPrefix("nobody.here"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := kv.Get(ctx, "bucket", "key"); !errors.Is(err, client.ErrNoResponders) {
			b.Fatal(err)
		}
	}
}
