package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Writes and failover.
//
// When the server leading a replicated bucket's stream goes away, the other replicas elect a
// new leader within seconds. A write sent to the old one gets no acknowledgement; a read
// sent to it no answer. So each request to JetStream is one attempt of at most attemptTimeout,
// tried again until the call's deadline: reads are safe to repeat, and every write carries a
// message id (Nats-Msg-Id) that the stream deduplicates on, so a write whose acknowledgement
// was lost is stored once, not twice, however often it is sent. A call whose attempts all
// found no leader answers "unavailable" (503 at the gateway) rather than a failure.

// Codes of JetStream API errors the nats.go client has no constants for.
const (
	errCodeNoPeers               natsjs.ErrorCode = 10005
	errCodeInsufficientResources natsjs.ErrorCode = 10023
	errCodeReplicasNotSupported  natsjs.ErrorCode = 10074
	errCodeDuplicateInProcess    natsjs.ErrorCode = 10158
)

// attemptTimeout bounds one attempt of a request to JetStream.
const attemptTimeout = 1500 * time.Millisecond

// retryWait is the pause between two attempts.
const retryWait = 100 * time.Millisecond

// transient reports whether err says JetStream had no leader to answer (yet): a lost
// acknowledgement, nobody answering, the cluster reporting itself unavailable.
func transient(err error) bool {
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeInsufficientResources, natsjs.JSErrCodeJetStreamNotEnabled, natsjs.JSErrCodeJetStreamNotEnabledForAccount:
			return false // 503 as well, but waiting will not help
		case errCodeDuplicateInProcess:
			return true // the first copy of a deduplicated write is still being agreed on
		}
		return apiErr.Code == 503 // JetStream system temporarily unavailable: no leader
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNoLeader) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse)
}

// unavailableError is a call that JetStream could not serve for now: no stream leader for as
// long as the call could wait, no quorum, not enough servers. It reaches the caller as
// keyvalue.Unavailable, which the gateway answers 503.
type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string { return e.msg }

func (e *unavailableError) Unwrap() error { return e.err }

// noLeader is the unavailableError of an operation whose attempts all failed transiently.
func noLeader(op string, err error) error {
	return &unavailableError{err: err, msg: fmt.Sprintf(
		"JetStream did not answer the %s before the deadline; the bucket's stream may have no leader or have lost its quorum (%v)", op, err)}
}

// attempt runs fn with a context of at most attemptTimeout, again after retryWait while it
// fails transiently, until ctx ends.
func attempt(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := fn(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return noLeader(op, err)
		}
		select {
		case <-ctx.Done():
			return noLeader(op, err)
		case <-time.After(retryWait):
		}
	}
}

// write publishes a message at the encoded key k of h, with the headers of the KV operation,
// and returns its stream sequence. cond are conditions on the stream's state
// (natsjs.WithExpectLastSequencePerSubject, ...): a conditional write carries a message id
// (Nats-Msg-Id), so that when its acknowledgement is lost and it is sent again, the stream
// answers with the first one's sequence instead of failing the condition the first one changed.
func (s *Store) write(ctx context.Context, h *handle, k string, data []byte, hdr nats.Header, cond ...natsjs.PublishOpt) (uint64, error) {
	if len(cond) > 0 {
		cond = append(cond, natsjs.WithMsgID(nuid.Next()))
	}
	return s.publish(ctx, h, &nats.Msg{Subject: s.pubSubject(h.prefix + k), Header: hdr, Data: data}, cond...)
}

// publish sends m to h's stream and returns its sequence, trying again while JetStream has no
// leader to answer.
func (s *Store) publish(ctx context.Context, h *handle, m *nats.Msg, opts ...natsjs.PublishOpt) (uint64, error) {
	var seq uint64
	err := attempt(ctx, "write", func(ctx context.Context) error {
		ack, err := s.js.PublishMsg(ctx, m, opts...)
		if err == nil {
			seq = ack.Sequence
		}
		if err != nil && transient(err) {
			if denied := s.denied(m.Subject); denied != nil {
				return denied
			}
		}
		return s.gone(ctx, h, err)
	})
	return seq, err
}

// denied returns the answer for a write that got no acknowledgement because the NATS server
// refused the provider's user to publish to subject (the server says so only asynchronously,
// in the connection's last error), or nil.
func (s *Store) denied(subject string) error {
	last := s.nc.LastError()
	if last == nil || !errors.Is(last, nats.ErrPermissionViolation) ||
		!strings.Contains(strings.ToLower(last.Error()), strings.ToLower(`publish to "`+subject+`"`)) {
		return nil
	}
	what := "$KV.>"
	if strings.HasPrefix(subject, "$KVC.") {
		what = "$KVC.> (where values larger than max_payload are stored in chunks)"
	}
	return &keyvalue.OtherError{Message: fmt.Sprintf(
		"the NATS server does not let the provider publish to %s: its user needs publish permission on %s", subject, what)}
}

// gone returns err, or natsjs.ErrStreamNotFound when err is nobody answering and the bucket's
// stream does not exist any more: not worth waiting for, unlike a stream without a leader.
func (s *Store) gone(ctx context.Context, h *handle, err error) error {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse) {
		if _, serr := s.js.Stream(ctx, h.stream); errors.Is(serr, natsjs.ErrStreamNotFound) {
			return natsjs.ErrStreamNotFound
		}
	}
	return err
}

// pubSubject is where a write of the stream subject subj goes: subj itself, or under the
// JetStream domain's prefix when there is one.
func (s *Store) pubSubject(subj string) string {
	if s.apiPrefix != natsjs.DefaultAPIPrefix {
		return s.apiPrefix + subj
	}
	return subj
}

// put stores value at the encoded key k.
func (s *Store) put(ctx context.Context, h *handle, k string, value []byte) error {
	_, err := s.write(ctx, h, k, value, nil)
	return err
}

// deleteKey removes the encoded key k: with history 1 a purge removes what a delete would,
// and its marker can expire (DeleteMarkerTTL).
func (s *Store) deleteKey(ctx context.Context, h *handle, k string) error {
	if h.markerTTL > 0 {
		hdr := nats.Header{"KV-Operation": {"PURGE"}, natsjs.MsgRollup: {natsjs.MsgRollupSubject},
			natsjs.MsgTTLHeader: {h.markerTTL.String()}}
		_, err := s.write(ctx, h, k, nil, hdr)
		return err
	}
	_, err := s.write(ctx, h, k, nil, nats.Header{"KV-Operation": {"DEL"}})
	return err
}

// isWrongLastSeq reports a compare-and-set that lost: the key is not at the revision expected.
func isWrongLastSeq(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant)
}
