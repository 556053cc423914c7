// Package keyvalue holds the Go form of the wrpc:keyvalue@0.2.0-draft world: the values its
// functions take and return, the errors a provider answers with, and the interface a provider
// serves. The client and the provider share these types, so a value read through the client
// has the same shape a backend wrote.
//
// The package imports only the standard library and the project's value codec.
package keyvalue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Interface instance names, as they appear in wRPC subjects.
const (
	StoreInstance   = "wrpc:keyvalue/store@0.2.0-draft"
	AtomicsInstance = "wrpc:keyvalue/atomics@0.2.0-draft"
	BatchInstance   = "wrpc:keyvalue/batch@0.2.0-draft"
)

// Errors of the WIT variant `error { no-such-store, access-denied, other(string) }`.
// A provider answers with one of them as a value; they are never transport failures.
var (
	// ErrNoSuchStore is the variant case no-such-store.
	ErrNoSuchStore = errors.New("keyvalue: no such store")
	// ErrAccessDenied is the variant case access-denied.
	ErrAccessDenied = errors.New("keyvalue: access denied")
)

// Failures: the call did not complete, so what the provider did is not known (a write may or
// may not have happened). A Store that reaches its provider over a network, such as the
// typed client, returns errors matching these; they never match the provider answers above.
var (
	// ErrNoResponders means nobody serves the interface the call belongs to.
	ErrNoResponders = errors.New("keyvalue: no provider serves the interface")
	// ErrTimeout means the provider did not answer in time.
	ErrTimeout = errors.New("keyvalue: the provider did not answer in time")
	// ErrRemoteFailure means the provider failed before completing its answer.
	ErrRemoteFailure = errors.New("keyvalue: the provider failed before completing its answer")
	// ErrResultTooLarge means the answer exceeds the size the caller accepts.
	ErrResultTooLarge = errors.New("keyvalue: the answer exceeds the size the caller accepts")
	// ErrProtocol means the provider's answer broke the protocol, or does not fit the call
	// (a get-many answer naming a key that was not asked for).
	ErrProtocol = errors.New("keyvalue: the provider's answer broke the protocol")
	// ErrNotConnected means the way to the provider is down for now (reconnecting).
	ErrNotConnected = errors.New("keyvalue: not connected")
	// ErrNoRoute means the gateway routes the bucket to no provider, so none was asked; it
	// matches ErrNoSuchStore too.
	ErrNoRoute = fmt.Errorf("%w: no route matches the bucket", ErrNoSuchStore)
	// ErrUnacknowledged means the provider did not acknowledge the call in time: the call
	// was lost on its way (a NATS server failing over), or the provider is too busy to take
	// it. The call may still run.
	ErrUnacknowledged = errors.New("keyvalue: the provider did not acknowledge the call")
	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("keyvalue: store closed")
	// ErrNotImplemented means the provider serves the bucket but not the interface the
	// call belongs to (a provider without atomics, say): retrying will not help.
	ErrNotImplemented = errors.New("keyvalue: the provider does not serve this interface")
)

// OtherError is the variant case other(string): a provider-specific failure with a message.
type OtherError struct {
	Message string
}

func (e *OtherError) Error() string { return "keyvalue: provider error: " + e.Message }

// UnavailablePrefix begins the message of an other(string) error that says the backend cannot
// serve the call for now (its cluster lost a leader or quorum, it is not reachable) and that
// the call may succeed if tried again later. The world has no variant for that; this project's
// providers use the convention, and the gateway answers such errors 503 unavailable with
// Retry-After instead of 502.
const UnavailablePrefix = "unavailable: "

// Unavailable returns the other(string) error of a backend that cannot serve for now.
func Unavailable(format string, args ...any) *OtherError {
	return &OtherError{Message: UnavailablePrefix + fmt.Sprintf(format, args...)}
}

// IsUnavailable reports whether e says the backend cannot serve for now: the convention of
// Unavailable, or NATS JetStream's own "temporarily unavailable" as other providers pass it on.
func (e *OtherError) IsUnavailable() bool {
	return strings.HasPrefix(e.Message, UnavailablePrefix) || strings.Contains(e.Message, "JetStream system temporarily unavailable")
}

// KeyResponse is the record key-response: one page of keys and, when more keys follow,
// the cursor to ask for the next page with.
type KeyResponse struct {
	Keys []string
	// Cursor is nil when this is the last page.
	Cursor *uint64
}

// KeyValue is the tuple<string, list<u8>> of the batch interface.
type KeyValue struct {
	Key   string
	Value []byte
}

// Store is the world's three interfaces (store, atomics, batch) as Go methods. The typed client
// implements it by calling a provider; a backend implements it to be served by the provider.
//
// Errors: ErrNoSuchStore, ErrAccessDenied and *OtherError are provider answers. Anything else
// returned by a backend is reported to the caller as a remote failure, without its text.
type Store interface {
	// Get returns the value of key; ok is false when the key is absent (an empty value is
	// present with len(value) == 0).
	Get(ctx context.Context, bucket, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, bucket, key string, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, bucket, key string) error
	Exists(ctx context.Context, bucket, key string) (bool, error)
	// ListKeys returns one page of keys. cursor is nil for the first page, then the Cursor of
	// the previous page.
	ListKeys(ctx context.Context, bucket string, cursor *uint64) (KeyResponse, error)
	// Increment adds delta to the counter at key (absent counts as 0) and returns the new value.
	Increment(ctx context.Context, bucket, key string, delta uint64) (uint64, error)
	// GetMany returns one element per key, in the order of keys; nil where the key is
	// absent. A key given twice gets the same answer twice.
	GetMany(ctx context.Context, bucket string, keys []string) ([]*KeyValue, error)
	SetMany(ctx context.Context, bucket string, items []KeyValue) error
	DeleteMany(ctx context.Context, bucket string, keys []string) error
}

// GetStreamer is a Store that can hand a value on as it reads it, without holding it whole:
// the provider sends a large value to its caller chunk by chunk.
type GetStreamer interface {
	// GetTo reads the value of key. Once it knows the value's size it calls open, and
	// writes the value's bytes, exactly size of them, to the writer open returns; then it
	// returns ok true. It returns ok false, without calling open, when the key is absent. An
	// error after open was called means the value was sent in part only.
	GetTo(ctx context.Context, bucket, key string, open func(size int) (io.Writer, error)) (ok bool, err error)
}

// SetStreamer is a Store that can take a value as it arrives, without the caller holding it
// whole: the gateway sends a large request body on to the provider as it reads it.
type SetStreamer interface {
	// SetFrom stores the size bytes read from r at key. A read error, or fewer than size
	// bytes, fails the call and stores nothing.
	SetFrom(ctx context.Context, bucket, key string, size int64, r io.Reader) error
}

// SetFrom stores the size bytes of r at key in s: streamed when s is a SetStreamer, read
// whole and set otherwise.
func SetFrom(ctx context.Context, s Store, bucket, key string, size int64, r io.Reader) error {
	if ss, ok := s.(SetStreamer); ok {
		return ss.SetFrom(ctx, bucket, key, size, r)
	}
	v := make([]byte, size)
	if _, err := io.ReadFull(r, v); err != nil {
		return err
	}
	return s.Set(ctx, bucket, key, v)
}

// Functions lists the world's functions, each with the short name of its interface (the
// part of StoreInstance between "/" and "@"). No two functions share a name.
var Functions = []struct{ Interface, Name string }{
	{"store", "get"}, {"store", "set"}, {"store", "delete"}, {"store", "exists"}, {"store", "list-keys"},
	{"atomics", "increment"},
	{"batch", "get-many"}, {"batch", "set-many"}, {"batch", "delete-many"},
}

// Outcomes lists every outcome ErrorKind returns.
var Outcomes = []string{OutcomeOK, OutcomeNoSuchStore, OutcomeAccessDenied, OutcomeOther, OutcomeNoResponders,
	OutcomeTimeout, OutcomeRemoteFailure, OutcomeResultTooLarge, OutcomeProtocol, OutcomeNotConnected,
	OutcomeClosed, OutcomeCanceled, OutcomeNotImplemented, OutcomeUnacknowledged, OutcomeError}

// Outcomes of a call, as ErrorKind names them: short, stable words for metrics labels and
// trace attributes.
const (
	OutcomeOK             = "ok"
	OutcomeNoSuchStore    = "no_such_store"
	OutcomeAccessDenied   = "access_denied"
	OutcomeOther          = "other"
	OutcomeNoResponders   = "no_responders"
	OutcomeTimeout        = "timeout"
	OutcomeRemoteFailure  = "remote_failure"
	OutcomeResultTooLarge = "result_too_large"
	OutcomeProtocol       = "protocol"
	OutcomeNotConnected   = "not_connected"
	OutcomeClosed         = "closed"
	OutcomeCanceled       = "canceled"
	OutcomeNotImplemented = "not_implemented"
	OutcomeUnacknowledged = "unacknowledged"
	OutcomeError          = "error"
)

// ErrorKind names what err says of a call: OutcomeOK for nil, the provider's answer
// (OutcomeNoSuchStore, OutcomeAccessDenied, OutcomeOther), the failure (OutcomeNoResponders,
// ...), OutcomeCanceled for a canceled context, and OutcomeError for anything else.
func ErrorKind(err error) string {
	var other *OtherError
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrNoSuchStore):
		return OutcomeNoSuchStore
	case errors.Is(err, ErrAccessDenied):
		return OutcomeAccessDenied
	case errors.As(err, &other):
		return OutcomeOther
	case errors.Is(err, ErrNotImplemented):
		return OutcomeNotImplemented
	case errors.Is(err, ErrNoResponders):
		return OutcomeNoResponders
	case errors.Is(err, ErrUnacknowledged):
		return OutcomeUnacknowledged
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, ErrRemoteFailure):
		return OutcomeRemoteFailure
	case errors.Is(err, ErrResultTooLarge):
		return OutcomeResultTooLarge
	case errors.Is(err, ErrProtocol):
		return OutcomeProtocol
	case errors.Is(err, ErrNotConnected):
		return OutcomeNotConnected
	case errors.Is(err, ErrClosed):
		return OutcomeClosed
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeError
}

// IsAnswer reports whether err is a provider's answer (the WIT error variant) rather than a
// failure.
func IsAnswer(err error) bool {
	switch ErrorKind(err) {
	case OutcomeNoSuchStore, OutcomeAccessDenied, OutcomeOther:
		return true
	}
	return false
}
