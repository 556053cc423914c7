package wrpcnats

import "errors"

// Transport errors. They say that a call did not complete, never what a provider answered.
var (
	// ErrNoResponders means nobody serves the invocation subject: NATS answered the
	// invocation with status 503. It is returned as soon as NATS says so.
	ErrNoResponders = errors.New("wrpc: no responders for subject")
	// ErrRemoteFailure means the peer closed the results stream before a complete value:
	// the handler failed, or the peer could not decode the parameters.
	ErrRemoteFailure = errors.New("wrpc: remote failure: results ended before a complete value")
	// ErrTimeout means the call did not complete in time: its context's deadline passed (the
	// error then also matches context.DeadlineExceeded), the handshake did not come within the
	// handshake timeout, or NATS answered with status 408.
	ErrTimeout = errors.New("wrpc: call timed out")
	// ErrNoHandshake means the server did not acknowledge the invocation within the handshake
	// timeout: the invocation was lost (its server went away as it passed), or the server is
	// too busy to take it. The function may still run. It matches ErrTimeout too.
	ErrNoHandshake = errors.New("wrpc: invocation not acknowledged")
	// ErrResultTooLarge means the peer sent more result bytes than the client accepts.
	ErrResultTooLarge = errors.New("wrpc: result exceeds the size limit")
	// ErrProtocol means the peer broke the protocol: a handshake without a reply subject, or
	// result bytes that do not decode.
	ErrProtocol = errors.New("wrpc: protocol violation")
	// ErrNotConnected means the NATS connection is down (reconnecting, or closed): the call
	// was not sent. It is returned at once rather than after the call's deadline.
	ErrNotConnected = errors.New("wrpc: not connected to NATS")
	// ErrClosed means the client was closed.
	ErrClosed = errors.New("wrpc: client closed")
)
