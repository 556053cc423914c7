// Package wrpcnats speaks wRPC (protocol version wrpc.0.0.1) over NATS, byte for byte as the
// official Rust (wrpc-transport-nats) and Go (wrpc.io/go/nats) implementations do.
//
// A call is a short exchange of NATS messages. The caller publishes the invocation to
// <prefix>.wrpc.0.0.1.<instance>.<function> with a reply subject R_c and the first chunk of
// the encoded parameters. The server answers with a handshake on R_c whose reply subject R_s
// is where the rest of the parameters go (R_s.params); the results come back on R_c.results.
// An empty message ends each stream. Values are split across messages at any byte; the
// receiving side reassembles them and decodes as soon as a complete value is there.
//
// Both the Client and the Server multiplex every call over one wildcard subscription on an
// inbox of their own, so a call costs no SUB/UNSUB round trip to the NATS server.
package wrpcnats
