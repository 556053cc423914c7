package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/wrpc-kv/gateway/auth"
	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// BenchmarkGetValue compares, in one run over one embedded NATS server and provider, an HTTP
// GET of a small value through the gateway (router, validation, problem mapping, wRPC call)
// with the bare wRPC get that the gateway makes for it, to show what the HTTP layer adds. The
// -parallel variants keep 64 requests in flight (32 per GOMAXPROCS on 2 cores), as a loaded
// gateway does: their time/op is the inverse of throughput.
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

	b.Run("wrpc-get-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok, err := kv.Get(context.Background(), "bucket", "key"); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})

	h, err := New(Options{Store: kv})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	url := srv.URL + "/buckets/bucket/keys/key"
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 128

	b.Run("http-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := httpGet(c, url); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("http-get-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := httpGet(c, url); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func httpGet(c *http.Client, url string) error {
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

// BenchmarkGetAuth measures what authentication costs a GET through the gateway: the same
// request, carrying the same Authorization header, to a gateway without credentials
// configured (which ignores the header) and to one with API tokens (the token verified
// once, then from the cache, and its permissions checked), side by side in one run.
func BenchmarkGetAuth(b *testing.B) {
	ns := natstest.Run(b)
	store := memory.New()
	if err := store.Set(context.Background(), "bucket", "key", []byte("a small value of sixty-four bytes, like a session or a flag....")); err != nil {
		b.Fatal(err)
	}
	p, err := provider.Serve(natstest.Connect(b, ns), store, provider.WithPrefix("bench"), provider.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(b, ns), client.WithPrefix("bench"))
	if err != nil {
		b.Fatal(err)
	}
	tok, hash, err := auth.NewToken("bench")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n  - id: bench\n    hash: "+hash+"\n    permissions: [read:other, 'read:bucket:k', 'write:*']\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	a, err := auth.New(context.Background(), auth.Config{TokenFile: path})
	if err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	for _, tt := range []struct {
		name  string
		auth  *auth.Authenticator
		token string
	}{{"off", nil, tok}, {"token", a, tok}} {
		h, err := New(Options{Store: kv, Auth: tt.auth})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		r, _ := http.NewRequest(http.MethodGet, srv.URL+"/buckets/bucket/keys/key", nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		get := func() error {
			res, err := c.Do(r.Clone(context.Background()))
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode != http.StatusOK {
				return errors.New(res.Status)
			}
			return nil
		}
		if err := get(); err != nil { // the token's one hash computation, out of the timing
			b.Fatal(err)
		}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := get(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tt.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
