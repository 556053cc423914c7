package client

import (
	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// Provider answers: the WIT error variant. Use errors.Is for the first two and errors.As with
// *OtherError for the third.
var (
	ErrNoSuchStore  = keyvalue.ErrNoSuchStore
	ErrAccessDenied = keyvalue.ErrAccessDenied
)

// OtherError is the provider's other(message) answer.
type OtherError = keyvalue.OtherError

// Transport failures: the call did not complete. They never match the provider answers above.
var (
	ErrNoResponders   = wrpcnats.ErrNoResponders
	ErrRemoteFailure  = wrpcnats.ErrRemoteFailure
	ErrTimeout        = wrpcnats.ErrTimeout
	ErrResultTooLarge = wrpcnats.ErrResultTooLarge
	ErrProtocol       = wrpcnats.ErrProtocol
	ErrNotConnected   = wrpcnats.ErrNotConnected
	ErrClosed         = wrpcnats.ErrClosed
)
