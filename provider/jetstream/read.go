package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// Reads and read-your-writes.
//
// A bucket with one replica has one server that answers its reads, the one that stored its
// writes: a direct get (which any server holding the stream may answer) sees every write
// acknowledged before it. With replicas, a direct get may reach a follower that has not yet
// applied a write its leader acknowledged, so a read right after a write, through another
// gateway and another provider, could be stale. A replicated bucket is therefore read through
// its stream leader: a message get, which only the leader answers, and the leader stores a
// write before it acknowledges it. A batch of reads (get-many) asks the leader for the stream's
// last sequence once, then reads every key in one batched direct get, which any replica may
// answer; the answer says how far the replica that sent it had got, and is used only if that
// is at least the leader's sequence (else it is asked again, then key by key of the leader).
// So every read reflects every write acknowledged before it started, whichever provider and
// server took either.

// storedMsg is a message read from a stream.
type storedMsg struct {
	subject string
	seq     uint64
	header  nats.Header
	data    []byte
}

// msgGetRequest is the body of a message get or direct get.
type msgGetRequest struct {
	LastFor   string   `json:"last_by_subj,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
	Batch     int      `json:"batch,omitempty"`
}

// msgGetResponse is the answer of a message get.
type msgGetResponse struct {
	Message *struct {
		Subject string `json:"subject"`
		Seq     uint64 `json:"seq"`
		Header  []byte `json:"hdrs"`
		Data    []byte `json:"data"`
	} `json:"message"`
	Error *natsjs.APIError `json:"error"`
}

// errNoLeader is a replicated stream that has no leader for now; transient.
var errNoLeader = errors.New("jetstream: the stream has no leader")

// errNoMessage is a read of a subject that holds no message.
var errNoMessage = errors.New("jetstream: no message")

// lastMsg reads the last message of subj in h's stream, trying again while JetStream has no
// leader to answer: from the stream leader when the bucket is replicated (read-your-writes),
// else by direct get, as JetStream KV reads. errNoMessage when there is none.
func (s *Store) lastMsg(ctx context.Context, h *handle, subj string) (*storedMsg, error) {
	var m *storedMsg
	err := attempt(ctx, "read", func(ctx context.Context) error {
		if h.replicas > 1 {
			var err error
			m, err = s.leaderGet(ctx, h, subj)
			return s.gone(ctx, h, err)
		}
		raw, err := h.st.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			return errNoMessage
		}
		if err != nil {
			return s.gone(ctx, h, err)
		}
		m = &storedMsg{subject: raw.Subject, seq: raw.Sequence, header: raw.Header, data: raw.Data}
		return nil
	})
	return m, err
}

// leaderGet reads the last message of subj from the stream leader; errNoMessage when there
// is none.
func (s *Store) leaderGet(ctx context.Context, h *handle, subj string) (*storedMsg, error) {
	req, err := json.Marshal(msgGetRequest{LastFor: subj})
	if err != nil {
		return nil, err
	}
	m, err := s.nc.RequestWithContext(ctx, s.apiPrefix+"STREAM.MSG.GET."+h.stream, req)
	if err != nil {
		return nil, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("jetstream: message get: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == natsjs.JSErrCodeMessageNotFound {
			return nil, errNoMessage
		}
		return nil, resp.Error
	}
	if resp.Message == nil {
		return nil, errors.New("jetstream: message get: an answer without a message")
	}
	out := &storedMsg{subject: resp.Message.Subject, seq: resp.Message.Seq, data: resp.Message.Data}
	if len(resp.Message.Header) > 0 {
		if out.header, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, fmt.Errorf("jetstream: message get: headers: %w", err)
		}
	}
	return out, nil
}

// isDeleted reports whether a KV message marks its key deleted (a delete or purge marker, or
// the server's marker of an expired key).
func isDeleted(hdr nats.Header) bool {
	switch hdr.Get("KV-Operation") {
	case "DEL", "PURGE":
		return true
	}
	return hdr.Get(natsjs.MarkerReasonHeader) != ""
}

// lastStreamSeq asks the stream leader for the stream's last sequence.
func (s *Store) lastStreamSeq(ctx context.Context, h *handle) (uint64, error) {
	m, err := s.nc.RequestWithContext(ctx, s.apiPrefix+"STREAM.INFO."+h.stream, nil)
	if err != nil {
		return 0, err
	}
	var info struct {
		State struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
		Cluster *struct {
			Leader string `json:"leader"`
		} `json:"cluster"`
		Error *natsjs.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return 0, fmt.Errorf("jetstream: stream info: %w", err)
	}
	if info.Error != nil {
		return 0, info.Error
	}
	if h.replicas > 1 && (info.Cluster == nil || info.Cluster.Leader == "") {
		// A replica answering for a stream without a leader: its state may be behind.
		return 0, errNoLeader
	}
	return info.State.LastSeq, nil
}

// multiGet reads the last message of each of subjects in one batched direct get. It returns
// the messages found, by subject, and the stream sequence the server that answered had
// reached (0 when it cannot tell: no subject held a message).
func (s *Store) multiGet(ctx context.Context, h *handle, subjects []string) (map[string]*storedMsg, uint64, error) {
	req, err := json.Marshal(msgGetRequest{MultiLast: subjects, Batch: len(subjects)})
	if err != nil {
		return nil, 0, err
	}
	sub, err := s.replies.start()
	if err != nil {
		return nil, 0, err
	}
	defer sub.close()
	if err := s.nc.PublishRequest(s.apiPrefix+"DIRECT.GET."+h.stream, sub.subject, req); err != nil {
		return nil, 0, err
	}
	out := make(map[string]*storedMsg, len(subjects))
	for {
		m, err := sub.next(ctx)
		if err != nil {
			return nil, 0, err
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of the batch, with how far the server had got
			upTo, _ := strconv.ParseUint(m.Header.Get(upToSeqHeader), 10, 64)
			return out, upTo, nil
		case "404": // none of the subjects holds a message
			return out, 0, nil
		case "503":
			return nil, 0, nats.ErrNoResponders
		default:
			return nil, 0, fmt.Errorf("jetstream: batched direct get: status %s %s", status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(natsjs.SequenceHeader), 10, 64)
		subj := m.Header.Get(natsjs.SubjectHeader)
		if err != nil || subj == "" {
			return nil, 0, errors.New("jetstream: batched direct get: a message without sequence or subject")
		}
		out[subj] = &storedMsg{subject: subj, seq: seq, header: m.Header, data: m.Data}
		if m.Header.Get(numPendingHeader) == "" {
			// A server without batched direct gets answers one message and no end marker.
			return nil, 0, errNoBatch
		}
	}
}

// upToSeqHeader, on the end marker of a batched direct get, is the stream sequence the batch
// was read up to: the last the answering server had stored.
const upToSeqHeader = "Nats-UpTo-Sequence"

// errNoBatch is a server that does not answer batched direct gets (before 2.11).
var errNoBatch = errors.New("jetstream: the server does not answer batched direct gets")
