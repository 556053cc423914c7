package client

import (
	"errors"

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

// Transport failures: the call did not complete. They are keyvalue's failure errors, so code
// written against keyvalue.Store tells them apart without knowing of wRPC, and they never
// match the provider answers above. The wRPC error stays in the chain (errors.Is with the
// wrpcnats errors works too) and in the message.
var (
	ErrNoResponders   = keyvalue.ErrNoResponders
	ErrRemoteFailure  = keyvalue.ErrRemoteFailure
	ErrTimeout        = keyvalue.ErrTimeout
	ErrResultTooLarge = keyvalue.ErrResultTooLarge
	ErrProtocol       = keyvalue.ErrProtocol
	ErrNotConnected   = keyvalue.ErrNotConnected
	ErrClosed         = keyvalue.ErrClosed
	ErrUnacknowledged = keyvalue.ErrUnacknowledged
)

// failureKinds pairs each wRPC transport error with the keyvalue failure it is.
var failureKinds = []struct{ wrpc, kind error }{
	{wrpcnats.ErrNoResponders, keyvalue.ErrNoResponders},
	{wrpcnats.ErrNoHandshake, keyvalue.ErrUnacknowledged}, // before ErrTimeout, which it matches too
	{wrpcnats.ErrTimeout, keyvalue.ErrTimeout},
	{wrpcnats.ErrRemoteFailure, keyvalue.ErrRemoteFailure},
	{wrpcnats.ErrResultTooLarge, keyvalue.ErrResultTooLarge},
	{wrpcnats.ErrProtocol, keyvalue.ErrProtocol},
	{wrpcnats.ErrNotConnected, keyvalue.ErrNotConnected},
	{wrpcnats.ErrClosed, keyvalue.ErrClosed},
}

// failure is a transport error that also matches its keyvalue failure kind.
type failure struct {
	kind error
	err  error
}

func (f *failure) Error() string        { return f.err.Error() }
func (f *failure) Unwrap() error        { return f.err }
func (f *failure) Is(target error) bool { return target == f.kind }

// classify makes a wRPC transport error match its keyvalue failure kind too; other errors
// (provider answers, context errors) are returned as they are.
func classify(err error) error {
	for _, k := range failureKinds {
		if errors.Is(err, k.wrpc) {
			return &failure{kind: k.kind, err: err}
		}
	}
	return err
}
