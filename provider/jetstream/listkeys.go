package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Bounds of one list-keys call.
const (
	// pageKeyBytes bounds the key names of a page, keeping the encoded result well under 1 MiB.
	pageKeyBytes = 512 << 10
	// batchBytes is the max_bytes of one direct-get batch request: the server stops after the
	// message that reaches it.
	batchBytes = 1 << 20
	// scanBytes bounds what one call reads from the server; past it the call returns the keys it
	// has with a cursor, so a page costs bounded time even over large values or many deletes.
	scanBytes = 8 << 20
	// minBatch is the fewest messages a batch asks for when the page is nearly full.
	minBatch = 32
)

// ListKeys returns one page of keys in stream order. The cursor is a stream sequence: a page
// holds the live keys whose message comes after it, and its Cursor is the last sequence the page
// covered, nil when nothing follows.
//
// A page reads the bucket's messages from the cursor on with batched direct gets (no consumer,
// no state on the server), skipping delete markers, so its cost does not grow with the size of
// the bucket. Following cursors on a bucket nobody writes to yields every key exactly once. A key
// written while a walk is under way moves to the end of the stream and may be listed twice or,
// when it was rewritten before the walk reached it, once at its new place. A page may hold fewer
// keys than the page size, rarely none, and still carry a cursor: when its names or the bytes
// read reached their bounds.
func (s *Store) ListKeys(ctx context.Context, bucket string, cursor *uint64) (keyvalue.KeyResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var resp keyvalue.KeyResponse
	err := s.do(ctx, "list", bucket, false, func(h *handle) error {
		resp = keyvalue.KeyResponse{Keys: []string{}}
		if h == nil {
			return nil
		}
		var err error
		resp, err = s.listKeys(ctx, h, cursor)
		return err
	})
	return resp, err
}

func (s *Store) listKeys(ctx context.Context, h *handle, cursor *uint64) (keyvalue.KeyResponse, error) {
	resp := keyvalue.KeyResponse{Keys: []string{}}
	var last uint64 // the last sequence this page covers
	if cursor != nil {
		last = *cursor
	}
	if last == math.MaxUint64 {
		return resp, nil
	}

	sub, err := s.replies.start()
	if err != nil {
		return resp, err
	}
	defer sub.close()

	var keyBytes, read int
	for read < scanBytes {
		// Ask for one message more than the page still takes, to learn whether a key follows,
		// and for a few more when delete markers have taken the place of keys.
		req := directGetRequest{
			Seq:      last + 1,
			NextFor:  h.prefix + ">",
			Batch:    max(s.opts.pageSize-len(resp.Keys)+1, min(s.opts.pageSize, minBatch)),
			MaxBytes: batchBytes,
		}
		data, err := json.Marshal(req)
		if err != nil {
			return resp, err
		}
		if err := s.nc.PublishRequest(s.apiPrefix+"DIRECT.GET."+h.stream, sub.subject, data); err != nil {
			return resp, err
		}
		more := false
		for {
			m, err := sub.next(ctx)
			if err != nil {
				return resp, err
			}
			status := m.Header.Get("Status")
			if status == "204" { // end of batch
				more = m.Header.Get(numPendingHeader) != "0"
				break
			}
			if status == "404" { // nothing at or after the sequence
				break
			}
			if status == "503" {
				return resp, nats.ErrNoResponders
			}
			if status != "" {
				return resp, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
			}
			seq, err := strconv.ParseUint(m.Header.Get(natsjs.SequenceHeader), 10, 64)
			if err != nil || seq <= last {
				return resp, errors.New("direct get: reply without a valid sequence")
			}
			read += len(m.Data) + len(m.Subject) + 256
			key, live, err := h.liveKey(ctx, m, seq)
			if err != nil {
				return resp, err
			}
			if live {
				if len(resp.Keys) == s.opts.pageSize || keyBytes+len(key)+5 > pageKeyBytes {
					// A key follows a full page: the page ends before it.
					resp.Cursor = &last
					return resp, nil
				}
				resp.Keys = append(resp.Keys, key)
				keyBytes += len(key) + 5 // with its length prefix on the wire
			}
			last = seq
			if m.Header.Get(numPendingHeader) == "" {
				// A server without batched direct get answers one message and no end marker.
				more = true
				break
			}
		}
		if !more {
			return resp, nil
		}
	}
	resp.Cursor = &last
	return resp, nil
}

// numPendingHeader is set on each message of a batched direct get and on its end marker.
const numPendingHeader = "Nats-Num-Pending"

// directGetRequest is the body of a JetStream direct-get request.
type directGetRequest struct {
	Seq      uint64 `json:"seq"`
	NextFor  string `json:"next_by_subj"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes"`
}

// liveKey returns the wrpc key of a message read by direct get and whether it is a live key: not
// a delete or purge marker, stored under a canonical encoding, and the key's latest revision.
func (h *handle) liveKey(ctx context.Context, m *nats.Msg, seq uint64) (string, bool, error) {
	switch m.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		return "", false, nil
	}
	if m.Header.Get(natsjs.MarkerReasonHeader) != "" {
		return "", false, nil
	}
	subj := m.Header.Get(natsjs.SubjectHeader)
	enc, ok := strings.CutPrefix(subj, h.prefix)
	if !ok {
		return "", false, nil
	}
	key, ok := DecodeKey(enc)
	if !ok {
		return "", false, nil
	}
	if h.history > 1 {
		// Older revisions are kept: only the latest one of a key counts.
		e, err := h.kv.Get(ctx, enc)
		if errors.Is(err, natsjs.ErrKeyNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if e.Revision() != seq {
			return "", false, nil
		}
	}
	return key, true, nil
}
