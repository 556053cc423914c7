package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// startServer runs an embedded JetStream server keeping its data in dir; it stops when the test
// ends. edit, when given, adjusts the options first.
func startServer(t testing.TB, dir string, edit ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	}
	for _, e := range edit {
		e(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// connect returns a JetStream context on a new connection to ns, closed when the test ends.
func connect(t testing.TB, ns *server.Server) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newStore(t testing.TB, js natsjs.JetStream, opts ...Option) *Store {
	t.Helper()
	s, err := New(js, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// testStore returns a Store on its own embedded server, and the server's JetStream context.
func testStore(t testing.TB, opts ...Option) (*Store, natsjs.JetStream) {
	t.Helper()
	js := connect(t, startServer(t, t.TempDir()))
	return newStore(t, js, opts...), js
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
