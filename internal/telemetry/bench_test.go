package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/handlers"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// benchStack is one gateway (HTTP API, client, provider) on a shared NATS server, with
// metrics and tracing as asked.
func benchStack(b *testing.B, ns *server.Server, prefix string, metrics bool, tp *sdktrace.TracerProvider) string {
	store := memory.New()
	value := []byte("a small value of sixty-four bytes, like a session or a flag....")
	if err := store.Set(context.Background(), "bucket", "key", value); err != nil {
		b.Fatal(err)
	}
	var m *Metrics
	popts := []provider.Option{provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler))}
	copts := []client.Option{client.WithPrefix(prefix)}
	var hopts handlers.Options
	if metrics {
		m = New()
		popts = append(popts, provider.WithObserver(m.Provider()))
		copts = append(copts, client.WithObserver(m.Client("default")))
		hopts.Observer, hopts.Metrics = m, m.Handler()
	}
	if tp != nil {
		popts = append(popts, provider.WithTracerProvider(tp))
		copts = append(copts, client.WithTracerProvider(tp))
		hopts.TracerProvider = tp
	}
	p, err := provider.Serve(natstest.Connect(b, ns), store, popts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(b, ns), copts...)
	if err != nil {
		b.Fatal(err)
	}
	hopts.Store = client.NewFallback(kv)
	h, err := handlers.New(hopts)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv.URL + "/buckets/bucket/keys/key"
}

// BenchmarkGetObserved measures what observability costs a GET through the whole gateway:
// the same build with metrics and tracing off, with metrics on (tracing off), and with
// metrics on and every request traced (sampled at 100 %, spans batched to an exporter that
// drops them), in one run. The -parallel variants keep 64 requests in flight: their time/op
// is the inverse of throughput.
func BenchmarkGetObserved(b *testing.B) {
	ns := natstest.Run(b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	urls := map[string]string{
		"off":             benchStack(b, ns, "bench.off", false, nil),
		"metrics":         benchStack(b, ns, "bench.metrics", true, nil),
		"metrics+tracing": benchStack(b, ns, "bench.traced", true, tp),
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	for _, name := range []string{"off", "metrics", "metrics+tracing"} {
		url := urls[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := get(c, url); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(c, url); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func get(c *http.Client, url string) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return errors.New(res.Status)
	}
	return nil
}
