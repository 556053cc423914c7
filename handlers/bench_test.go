package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// BenchmarkGetValue compares, in one run over one embedded NATS server and provider, an HTTP
// GET of a small value through the gateway (router, validation, problem mapping, wRPC call)
// with the bare wRPC get that the gateway makes for it, to show what the HTTP layer adds.
func BenchmarkGetValue(b *testing.B) {
	ns := natstest.Run(b)
	store := memory.New()
	value := []byte("a small value of sixty-four bytes, like a session or a flag....")
	if err := store.Set(context.Background(), "bucket", "key", value); err != nil {
		b.Fatal(err)
	}
	p, err := provider.Serve(natstest.Connect(b, ns), store, provider.WithPrefix("bench"),
		provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(b, ns), client.WithPrefix("bench"))
	if err != nil {
		b.Fatal(err)
	}

	b.Run("wrpc-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := kv.Get(context.Background(), "bucket", "key"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})

	b.Run("http-get", func(b *testing.B) {
		h, err := New(Options{Store: kv})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		url := srv.URL + "/buckets/bucket/keys/key"
		c := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatal(res.Status)
			}
		}
	})
}
