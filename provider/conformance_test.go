package provider_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/jetstream"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// TestConformance runs the same contract against each backend, and against the typed client
// calling each backend through a provider over NATS.
func TestConformance(t *testing.T) {
	backends := map[string]func(t *testing.T, ns *server.Server) keyvalue.Store{
		"memory": func(*testing.T, *server.Server) keyvalue.Store { return memory.New(memory.PageSize(10)) },
		"jetstream": func(t *testing.T, ns *server.Server) keyvalue.Store {
			js, err := natsjs.New(natstest.Connect(t, ns))
			if err != nil {
				t.Fatal(err)
			}
			s, err := jetstream.New(js, jetstream.PageSize(10))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			ns := natstest.Run(t, natstest.JetStream(t.TempDir()))
			kvtest.Conformance(t, open(t, ns))
		})
		t.Run(name+" via wRPC", func(t *testing.T) {
			ns := natstest.Run(t, natstest.JetStream(t.TempDir()))
			p, err := provider.Serve(natstest.Connect(t, ns), open(t, ns), provider.WithPrefix("conformance"),
				provider.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close(context.Background()) })
			kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("conformance"))
			if err != nil {
				t.Fatal(err)
			}
			kvtest.Conformance(t, kv)
		})
	}
}

// The JetStream backend keeps the contract on a three-server cluster with buckets of three
// replicas, read through their stream leader.
func TestConformanceReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	servers := natstest.Cluster(t, t.TempDir(), 3)
	js, err := natsjs.New(natstest.Connect(t, servers[1]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jetstream.New(js, jetstream.PageSize(10), jetstream.Replicas(3))
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Conformance(t, s)
}
