package provider_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

func TestWithInterfaces(t *testing.T) {
	ns := natstest.Run(t)
	p, err := provider.Serve(natstest.Connect(t, ns), memory.New(), provider.WithPrefix("p"),
		provider.WithInterfaces(keyvalue.StoreInstance, keyvalue.AtomicsInstance))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("p"))
	if err != nil {
		t.Fatal(err)
	}
	for fn, err := range kvtest.CallAll(kv, "b") {
		batch := fn == "get-many" || fn == "set-many" || fn == "delete-many"
		if batch != errors.Is(err, client.ErrNoResponders) {
			t.Errorf("%s: err = %v; want no responders only for the batch interface", fn, err)
		}
	}
}
