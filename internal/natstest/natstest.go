// Package natstest runs embedded NATS servers for tests: each test gets its own server on a
// random loopback port, stopped when the test ends.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// An Option adjusts the server's options before it starts.
type Option func(*server.Options)

// JetStream enables JetStream with its store in dir.
func JetStream(dir string) Option {
	return func(o *server.Options) { o.JetStream = true; o.StoreDir = dir }
}

// MaxPayload sets the server's max_payload.
func MaxPayload(n int32) Option {
	return func(o *server.Options) { o.MaxPayload = n }
}

// Port sets the client port, for a server that restarts where clients find it again.
func Port(port int) Option {
	return func(o *server.Options) { o.Port = port }
}

// Run starts a server on 127.0.0.1 and a random port.
func Run(t testing.TB, opts ...Option) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	for _, opt := range opts {
		opt(o)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("natstest: server not ready for connections")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Connect opens a connection to ns, closed when the test ends.
func Connect(t testing.TB, ns *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
