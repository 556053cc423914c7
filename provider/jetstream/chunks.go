package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/wrpc-kv/gateway/keyvalue"
)

// Values larger than one message.
//
// A NATS server refuses messages over its max_payload (1 MiB unless configured otherwise), and
// a value is one message of the bucket's stream. A larger value is stored in chunks, in the
// same stream under a subject space of its own, "$KVC.<bucket>.", which the Store adds to the
// stream the first time it needs it:
//
//	$KVC.<bucket>.<id>.k    the marker: which key the chunks belong to, and once the value is
//	                        in place, the sequence of the manifest that refers to them
//	$KVC.<bucket>.<id>.<i>  chunk i of the value, max_payload bytes each but the last
//	$KV.<bucket>.<key>      the manifest: no data, a header "KV-Chunks: <id> <n> <size>"
//
// id is new for every write, so chunks never change once written. A writer stores the marker,
// then the chunks, then the manifest, on condition that the marker is still there (a
// Nats-Expected-Last-Subject-Sequence on the marker's subject): only the manifest makes the
// value visible, in one message, so a reader sees the whole old value or the whole new one.
// Last, the writer marks the chunks committed with the manifest's sequence.
//
// Chunks nobody refers to are removed by the collector (gc.go): those of a committed value
// once its key holds a newer message, those of a write that never finished (its writer was
// killed, or timed out) once their marker is older than the grace period (ChunkGrace). A
// writer that has not published its manifest within a quarter of that period gives up, so the
// collector never removes chunks a manifest is about to refer to; and were they removed
// anyway, the manifest's condition would fail rather than refer to nothing.
//
// Other JetStream KV clients reading such a key see an empty value with the KV-Chunks header.
// Values that fit in one message are stored as before, one message, no extra round trip.

// Headers of the chunked layout.
const (
	chunksHeader    = "KV-Chunks"           // on a manifest: "<id> <n> <size>"
	chunkKeyHeader  = "KV-Chunks-Key"       // on a marker: the encoded key
	committedHeader = "KV-Chunks-Committed" // on a committed marker: the manifest's sequence
)

// DefaultChunkGrace is how long the chunks of an unfinished write stay before the collector
// removes them.
const DefaultChunkGrace = 10 * time.Minute

// chunkConcurrency is how many chunks of one value are in flight at once.
const chunkConcurrency = 4

// ChunkGrace sets how old the chunks of a write that never finished must be before they are
// removed (default 10 minutes). It must exceed the clock difference between the hosts of the
// providers sharing a bucket; a write of a large value must finish within a quarter of it.
func ChunkGrace(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("jetstream: chunk grace %v, want at least 1s", d)
		}
		o.chunkGrace = d
		return nil
	}
}

// chunkSubject returns the subject of the chunk (or, for part "k", the marker) id.part of h.
func (h *handle) chunkSubject(id, part string) string {
	return "$KVC." + h.encoded + "." + id + "." + part
}

// chunkFilter is the subject filter of all of h's chunks.
func (h *handle) chunkFilter() string { return "$KVC." + h.encoded + ".>" }

// manifest is a parsed KV-Chunks header.
type manifest struct {
	id   string
	n    int
	size int
	seq  uint64 // of the manifest message
}

// parseManifest reads the KV-Chunks header of m, nil when there is none.
func parseManifest(m *storedMsg) (*manifest, error) {
	v := m.header.Get(chunksHeader)
	if v == "" {
		return nil, nil
	}
	f := strings.Fields(v)
	if len(f) == 3 {
		n, err1 := strconv.Atoi(f[1])
		size, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && n > 0 && size >= 0 && nuidLike(f[0]) {
			return &manifest{id: f[0], n: n, size: size, seq: m.seq}, nil
		}
	}
	return nil, fmt.Errorf("jetstream: key %s holds a malformed chunk manifest %q", m.subject, v)
}

// nuidLike reports whether id can be a token of a chunk subject.
func nuidLike(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// inlineMax is the largest value stored as one message.
func (s *Store) inlineMax() int {
	if s.opts.chunkSize > 0 {
		return s.opts.chunkSize
	}
	return int(s.nc.MaxPayload())
}

// setValue stores value at the encoded key k: one message when it fits, else in chunks.
func (s *Store) setValue(ctx context.Context, h *handle, k string, value []byte) error {
	if len(value) <= s.inlineMax() {
		return s.put(ctx, h, k, value)
	}
	return s.putChunked(ctx, h, k, value)
}

// errSuperseded is a chunked write whose chunks were removed because a newer write of its key
// had taken its place: the write is not lost, it was overwritten.
var errSuperseded = errors.New("jetstream: overwritten while being written")

// putChunked stores value at the encoded key k in chunks.
func (s *Store) putChunked(ctx context.Context, h *handle, k string, value []byte) error {
	if err := s.ensureChunks(ctx, h); err != nil {
		return err
	}
	size := s.inlineMax()
	n := (len(value) + size - 1) / size
	id := nuid.Next()

	// The marker, first: it names the key, so the collector can tell whether the chunks are in use.
	markerSubj := h.chunkSubject(id, "k")
	markerSeq, err := s.publish(ctx, h, &nats.Msg{Subject: s.pubSubject(markerSubj), Header: nats.Header{chunkKeyHeader: {k}}})
	if err != nil {
		return err
	}
	started := time.Now()
	s.gc.noteChunks(h)

	err = s.eachN(ctx, n, chunkConcurrency, func(ctx context.Context, i int) error {
		end := min((i+1)*size, len(value))
		_, err := s.publish(ctx, h, &nats.Msg{Subject: s.pubSubject(h.chunkSubject(id, strconv.Itoa(i))), Data: value[i*size : end]})
		return err
	})
	if err != nil {
		return err
	}

	// The manifest makes the value visible, if the chunks are still there.
	if time.Since(started) > s.opts.chunkGrace/4 {
		return fmt.Errorf("jetstream: writing the %d chunks of a value took %v, longer than a quarter of the chunk grace period (%v); the write was abandoned",
			n, time.Since(started).Round(time.Millisecond), s.opts.chunkGrace)
	}
	hdr := nats.Header{chunksHeader: {fmt.Sprintf("%s %d %d", id, n, len(value))}}
	seq, err := s.write(ctx, h, k, nil, hdr, natsjs.WithExpectLastSequenceForSubject(markerSeq, markerSubj))
	if isWrongLastSeq(err) {
		// The collector removed the chunks: they had been replaced, or had waited too long.
		cur, cerr := s.keySeq(ctx, h, k)
		if cerr == nil && cur > markerSeq {
			return nil // a newer write took this one's place
		}
		return errors.New("jetstream: the chunks of the value were removed before it was complete; the write was abandoned")
	}
	if err != nil {
		return err
	}
	// Committed: from now on the collector removes the chunks as soon as the key moves on.
	// Should this fail, the collector commits them itself once the grace period has passed.
	_, _ = s.publish(ctx, h, &nats.Msg{Subject: s.pubSubject(markerSubj), Header: nats.Header{
		chunkKeyHeader:  {k},
		committedHeader: {strconv.FormatUint(seq, 10)},
	}})
	return nil
}

// keySeq returns the sequence of the last message of the encoded key k; 0 when it has none.
func (s *Store) keySeq(ctx context.Context, h *handle, k string) (uint64, error) {
	m, err := s.lastMsg(ctx, h, h.prefix+k)
	if errors.Is(err, errNoMessage) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.seq, nil
}

// ensureChunks adds the chunk subjects to the bucket's stream when they are not there yet.
func (s *Store) ensureChunks(ctx context.Context, h *handle) error {
	if h.chunks.Load() {
		return nil
	}
	if h.mirrored {
		return &keyvalue.OtherError{Message: fmt.Sprintf(
			"a value larger than the NATS server's max_payload of %d bytes cannot be written to a mirrored bucket", s.nc.MaxPayload())}
	}
	return attempt(ctx, "write", func(ctx context.Context) error {
		st, err := s.js.Stream(ctx, h.stream)
		if err != nil {
			return err
		}
		cfg := st.CachedInfo().Config
		for _, subj := range cfg.Subjects {
			if subj == h.chunkFilter() {
				h.chunks.Store(true)
				return nil
			}
		}
		cfg.Subjects = append(cfg.Subjects, h.chunkFilter())
		if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
			return err
		}
		s.opts.log.Info("bucket stores values larger than max_payload in chunks; its stream now takes their subjects too",
			"bucket", h.bucket, "stream", h.stream, "subjects", cfg.Subjects)
		h.chunks.Store(true)
		return nil
	})
}

// readValue returns the value that the key message m holds: its data, or when m is a
// manifest, the value put together from its chunks. ok false: the chunks were removed
// because the key has moved on since m was read; read the key again.
func (s *Store) readValue(ctx context.Context, h *handle, m *storedMsg) (value []byte, ok bool, err error) {
	man, err := parseManifest(m)
	if err != nil || man == nil {
		if m.data == nil {
			m.data = []byte{}
		}
		return m.data, err == nil, err
	}
	value = make([]byte, man.size)
	ok, err = s.readChunks(ctx, h, man, func(off int, data []byte) error {
		copy(value[off:], data)
		return nil
	})
	if !ok || err != nil {
		return nil, ok, err
	}
	return value, true, nil
}

var _ keyvalue.GetStreamer = (*Store)(nil)

// GetTo is Get that writes the value to the writer open returns as it reads it: a value in
// chunks is sent a few chunks at a time, never held whole. The first chunks are read before
// open is called, so a value replaced meanwhile is read again from its key, as Get does;
// later chunks are kept by the collector for a while after their value is replaced (see
// readGrace), so that a read in progress can finish.
func (s *Store) GetTo(ctx context.Context, bucket, key string, open func(size int) (io.Writer, error)) (ok bool, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	err = s.do(ctx, "get", bucket, false, func(h *handle) error {
		ok = false
		if h == nil {
			return nil
		}
		k, err := h.key(key)
		if err != nil {
			return err
		}
		var prev uint64
		for {
			m, err := s.lastMsg(ctx, h, h.prefix+k)
			if errors.Is(err, errNoMessage) || err == nil && isDeleted(m.header) {
				return nil
			}
			if err != nil {
				return err
			}
			man, err := parseManifest(m)
			if err != nil {
				return err
			}
			if man == nil {
				w, err := open(len(m.data))
				if err == nil {
					_, err = w.Write(m.data)
				}
				ok = err == nil
				return err
			}
			if m.seq == prev {
				if err := pause(ctx); err != nil {
					return err
				}
			}
			prev = m.seq
			var w io.Writer
			whole, err := s.readChunks(ctx, h, man, func(off int, data []byte) error {
				if w == nil {
					var err error
					if w, err = open(man.size); err != nil {
						return err
					}
				}
				_, err := w.Write(data)
				return err
			})
			switch {
			case err != nil:
				return err
			case whole:
				ok = true
				return nil
			case w != nil:
				return fmt.Errorf("jetstream: the chunks of %s were removed while they were read", man.id)
			}
			// Missing before anything was sent: read the key again.
		}
	})
	return ok, err
}

// pause waits a moment before a read is tried again.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Millisecond):
		return nil
	}
}

// readChunks hands the chunks of man to fn in order, with the offset of each in the value.
// ok false: some are missing, because they have been removed (the key holds a newer message
// than man), or, in a replicated bucket, because the replica that answered has not stored
// them yet; reading the key again tells which.
func (s *Store) readChunks(ctx context.Context, h *handle, man *manifest, fn func(off int, data []byte) error) (bool, error) {
	const group = 4 // chunks per batched direct get: 4 MiB at the stock max_payload
	off := 0
	for start := 0; start < man.n; start += group {
		end := min(start+group, man.n)
		subjects := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			subjects = append(subjects, h.chunkSubject(man.id, strconv.Itoa(i)))
		}
		var got map[string]*storedMsg
		err := attempt(ctx, "read", func(ctx context.Context) error {
			var err error
			got, _, err = s.multiGet(ctx, h, subjects)
			return err
		})
		if err != nil {
			return false, err
		}
		for _, subj := range subjects {
			if got[subj] == nil {
				return false, nil // before any of the group is handed on
			}
		}
		for _, subj := range subjects {
			c := got[subj]
			if off+len(c.data) > man.size {
				return false, fmt.Errorf("jetstream: the chunks of %s hold more than the %d bytes of its manifest", man.id, man.size)
			}
			if err := fn(off, c.data); err != nil {
				return false, err
			}
			off += len(c.data)
		}
	}
	if off != man.size {
		return false, fmt.Errorf("jetstream: the chunks of %s hold %d bytes, not the %d of its manifest", man.id, off, man.size)
	}
	return true, nil
}
