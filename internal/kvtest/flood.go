package kvtest

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wire"
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Flooder is a hostile provider of store.get, written on bare NATS: a get of FloodKey
// answers a list<u8> announcing Announce bytes and then sends Chunk-byte messages as fast as
// NATS takes them, Total bytes in all, whatever the caller does; a get of any other key
// answers Value. Anyone who can run a provider can do this, and so can a buggy one.
type Flooder struct {
	FloodKey string
	Value    []byte
	Announce uint32
	Chunk    int
	Total    int64

	// Sent counts the result bytes published so far; Floods the floods finished.
	Sent   atomic.Int64
	Floods atomic.Int64
}

// Serve subscribes the flooder to store.get under prefix on nc.
func (f *Flooder) Serve(nc *nats.Conn, prefix string) error {
	subject := wrpcnats.Subject(prefix, keyvalue.StoreInstance, "get")
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) { go f.answer(nc, m) }); err != nil {
		return err
	}
	return nc.Flush()
}

func (f *Flooder) answer(nc *nats.Conn, m *nats.Msg) {
	_, key, _, err := keyvalue.ConsumeBucketKeyParams(m.Data)
	if err != nil || m.Reply == "" {
		return
	}
	// The params are complete: the caller's end-of-params marker goes to a subject nobody
	// reads.
	if err := nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: nats.NewInbox()}); err != nil {
		return
	}
	results := m.Reply + ".results"
	if key != f.FloodKey {
		_ = nc.Publish(results, keyvalue.AppendGetResult(nil, f.Value, true))
		_ = nc.Publish(results, nil)
		return
	}
	head := wire.AppendU32([]byte{0x00, 0x01}, f.Announce) // ok(some(list<u8> of Announce bytes))
	chunk := make([]byte, f.Chunk)
	first := append(head, chunk[:f.Chunk-len(head)]...)
	for sent := int64(0); sent < f.Total; {
		msg := chunk
		if sent == 0 {
			msg = first
		}
		if err := nc.Publish(results, msg); err != nil {
			break
		}
		sent += int64(len(msg))
		f.Sent.Add(int64(len(msg)))
	}
	_ = nc.Flush()
	f.Floods.Add(1)
}
