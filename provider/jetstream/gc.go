package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// The collector of chunks nobody refers to (see chunks.go for the layout).
//
// A pass over a bucket reads every marker of its chunks, then, as fresh as a read after them
// can be, the keys they name. It removes the chunks of a committed marker whose key no longer
// holds its manifest (overwritten, deleted), and those of an uncommitted marker older than the
// grace period whose key does not hold its manifest (a write that never finished). An old
// uncommitted marker whose manifest is in place (its writer stopped just before committing) is
// committed. Any number of providers may collect the same bucket: removing chunks twice is
// harmless, and nothing a pass removes can be referred to again.
//
// A pass runs about a second after a write or delete by this Store in a bucket that has
// chunks, and every sweepInterval over every bucket that has chunks, whoever wrote them.

// Pacing of the collector.
const (
	passDelay     = time.Second     // from a write in a bucket with chunks to its pass
	sweepInterval = 2 * time.Minute // between passes over every bucket with chunks
	passTimeout   = time.Minute     // bound of one pass
	// readGrace is how long the chunks of a replaced value stay after a pass first finds
	// them replaced: a read streaming them (GetTo) has that long to finish.
	readGrace = 5 * time.Second
)

type collector struct {
	s       *Store
	mu      sync.Mutex
	due     map[string]*handle // buckets with a pass due, by encoded name
	wake    chan struct{}
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}

	sweep           time.Duration        // sweepInterval, less in tests
	replacedAt      map[string]time.Time // chunk id -> when a pass first found it replaced; under mu
	readGrace       time.Duration        // readGrace, less in tests
	passes, removed uint64               // for tests, under mu
}

func newCollector(s *Store) *collector {
	c := &collector{s: s, due: map[string]*handle{}, replacedAt: map[string]time.Time{}, readGrace: readGrace, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), sweep: sweepInterval}
	if s.opts.chunkGrace < sweepInterval {
		c.sweep = max(time.Second, s.opts.chunkGrace/2)
	}
	go c.run()
	return c
}

// noteChunks schedules a pass over h: it has chunks, or had, and has just been written.
func (c *collector) noteChunks(h *handle) {
	c.mu.Lock()
	c.due[h.encoded] = h
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// noteWrite schedules a pass over h when it has chunks a write may have orphaned.
func (c *collector) noteWrite(h *handle) {
	if h != nil && h.chunks.Load() {
		c.noteChunks(h)
	}
}

func (c *collector) close() {
	c.stopped.Do(func() { close(c.stop) })
	<-c.done
}

func (c *collector) run() {
	defer close(c.done)
	sweep := time.NewTimer(c.sweep/2 + rand.N(c.sweep/2))
	defer sweep.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
			select {
			case <-c.stop:
				return
			case <-time.After(passDelay):
			}
			c.mu.Lock()
			due := c.due
			c.due = map[string]*handle{}
			c.mu.Unlock()
			for _, h := range due {
				c.pass(h)
			}
		case <-sweep.C:
			c.sweepAll()
			sweep.Reset(c.sweep/2 + rand.N(c.sweep))
		}
		if c.s.nc.IsClosed() {
			return
		}
	}
}

// ctx is a context of one pass, canceled when the collector stops.
func (c *collector) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), passTimeout)
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// sweepAll passes over every bucket whose stream takes chunks.
func (c *collector) sweepAll() {
	ctx, cancel := c.ctx()
	defer cancel()
	names := c.s.js.StreamNames(ctx, natsjs.WithStreamListSubject("$KVC.>"))
	var streams []string
	for n := range names.Name() {
		streams = append(streams, n)
	}
	if err := names.Err(); err != nil && !errors.Is(err, natsjs.ErrEndOfData) {
		c.s.opts.log.Warn("listing the buckets that hold chunks failed", "error", err)
		return
	}
	for _, n := range streams {
		enc, ok := strings.CutPrefix(n, "KV_")
		bucket, ok2 := DecodeBucket(enc)
		if !ok || !ok2 {
			continue
		}
		h, err := c.s.resolve(ctx, bucket, false)
		if err != nil || h == nil {
			continue
		}
		c.pass(h)
	}
}

// marker is a chunk marker read by a pass.
type marker struct {
	id        string
	key       string // encoded
	committed uint64 // sequence of the manifest, 0 when not committed
	written   time.Time
}

// pass collects h's unreferenced chunks.
func (c *collector) pass(h *handle) {
	ctx, cancel := c.ctx()
	defer cancel()
	removed, err := c.collect(ctx, h)
	c.mu.Lock()
	c.passes++
	c.removed += uint64(removed)
	c.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		c.s.opts.log.Warn("collecting unused chunks failed; the next pass tries again",
			"bucket", h.bucket, "stream", h.stream, "error", err)
	}
}

func (c *collector) collect(ctx context.Context, h *handle) (removed int, err error) {
	markers, err := c.markers(ctx, h)
	if err != nil {
		return 0, err
	}
	c.forget(h, markers)
	if len(markers) == 0 {
		return 0, nil
	}
	// The keys, read after the markers and fresh from then on: a key that no longer holds
	// the manifest of a committed marker holds a newer message.
	var minSeq uint64
	if h.replicas > 1 {
		if err := attempt(ctx, "read", func(ctx context.Context) error {
			minSeq, err = c.s.lastStreamSeq(ctx, h)
			return err
		}); err != nil {
			return 0, err
		}
	}
	grace := c.s.opts.chunkGrace
	var check []string
	seen := map[string]bool{}
	for _, m := range markers {
		if (m.committed > 0 || time.Since(m.written) > grace) && !seen[m.key] {
			seen[m.key] = true
			check = append(check, h.prefix+m.key)
		}
	}
	current := map[string]*storedMsg{}
	for start := 0; start < len(check); start += getManyBatch {
		group := check[start:min(start+getManyBatch, len(check))]
		got, err := c.s.freshMultiGet(ctx, h, group, minSeq)
		if errors.Is(err, errNoBatch) || errors.Is(err, errStale) {
			got, err = map[string]*storedMsg{}, nil
			for _, subj := range group {
				m, lerr := c.s.lastMsg(ctx, h, subj)
				if lerr == nil {
					got[subj] = m
				} else if !errors.Is(lerr, errNoMessage) {
					err = lerr
					break
				}
			}
		}
		if err != nil {
			return 0, err
		}
		for subj, m := range got {
			current[subj] = m
		}
	}
	for _, m := range markers {
		if m.committed == 0 && time.Since(m.written) <= grace {
			continue // being written, perhaps
		}
		cur := current[h.prefix+m.key]
		var ref *manifest
		if cur != nil && !isDeleted(cur.header) {
			ref, _ = parseManifest(cur)
		}
		if ref != nil && ref.id == m.id {
			if m.committed == 0 {
				// In place, but its writer stopped before committing it.
				_, err := c.s.publish(ctx, h, &nats.Msg{Subject: c.s.pubSubject(h.chunkSubject(m.id, "k")), Header: nats.Header{
					chunkKeyHeader: {m.key}, committedHeader: {strconv.FormatUint(cur.seq, 10)}}})
				if err != nil {
					return removed, err
				}
			}
			continue
		}
		if m.committed > 0 && !c.replacedLongEnough(h, m.id) {
			continue
		}
		if err := attempt(ctx, "purge", func(ctx context.Context) error {
			return h.st.Purge(ctx, natsjs.WithPurgeSubject("$KVC."+h.encoded+"."+m.id+".>"))
		}); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// replacedLongEnough reports whether the committed chunks id of h were found replaced at
// least readGrace ago; the first time, it notes the moment and has h passed over again then.
func (c *collector) replacedLongEnough(h *handle, id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	id = h.encoded + "/" + id
	at, seen := c.replacedAt[id]
	if !seen {
		c.replacedAt[id] = time.Now()
		time.AfterFunc(c.readGrace+passDelay/2, func() { c.noteChunks(h) })
		return false
	}
	if time.Since(at) < c.readGrace {
		return false
	}
	delete(c.replacedAt, id)
	return true
}

// forget drops what is noted of h's chunks that have no marker any more (removed by another
// provider's collector, say).
func (c *collector) forget(h *handle, markers []marker) {
	live := make(map[string]bool, len(markers))
	for _, m := range markers {
		live[h.encoded+"/"+m.id] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.replacedAt {
		if strings.HasPrefix(id, h.encoded+"/") && !live[id] {
			delete(c.replacedAt, id)
		}
	}
}

// markers reads every chunk marker of h, in batched direct gets of markerBatch.
func (c *collector) markers(ctx context.Context, h *handle) ([]marker, error) {
	const markerBatch = 1000
	sub, err := c.s.replies.start()
	if err != nil {
		return nil, err
	}
	defer sub.close()
	var out []marker
	var last uint64
	for {
		req, err := json.Marshal(directGetRequest{Seq: last + 1, NextFor: "$KVC." + h.encoded + ".*.k", Batch: markerBatch, MaxBytes: 1 << 20})
		if err != nil {
			return nil, err
		}
		if err := c.s.nc.PublishRequest(c.s.apiPrefix+"DIRECT.GET."+h.stream, sub.subject, req); err != nil {
			return nil, err
		}
		for {
			m, err := sub.next(ctx)
			if err != nil {
				return nil, err
			}
			switch status := m.Header.Get("Status"); status {
			case "":
			case "204": // end of the batch
				if m.Header.Get(numPendingHeader) == "0" {
					return out, nil
				}
				goto next
			case "404":
				return out, nil
			default:
				return nil, fmt.Errorf("jetstream: reading chunk markers: status %s %s", status, m.Header.Get("Description"))
			}
			seq, err := strconv.ParseUint(m.Header.Get(natsjs.SequenceHeader), 10, 64)
			if err != nil || seq <= last {
				return nil, errors.New("jetstream: reading chunk markers: a reply without a valid sequence")
			}
			last = seq
			subj := m.Header.Get(natsjs.SubjectHeader)
			id, ok := strings.CutPrefix(subj, "$KVC."+h.encoded+".")
			id, ok2 := strings.CutSuffix(id, ".k")
			key := m.Header.Get(chunkKeyHeader)
			written, err := time.Parse(time.RFC3339Nano, m.Header.Get(natsjs.TimeStampHeaer))
			if !ok || !ok2 || !nuidLike(id) || key == "" || err != nil {
				continue // not ours
			}
			committed, _ := strconv.ParseUint(m.Header.Get(committedHeader), 10, 64)
			out = append(out, marker{id: id, key: key, committed: committed, written: written})
			if m.Header.Get(numPendingHeader) == "" {
				goto next // a server without batched direct gets: one message at a time
			}
		}
	next:
	}
}
