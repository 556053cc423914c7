// Package jetstream is a keyvalue.Store on NATS JetStream key-value buckets: the backend of
// the gateway's embedded provider, usable against any JetStream-enabled NATS server.
//
// Each wrpc:keyvalue bucket is a JetStream KV bucket with history 1, file storage by default,
// created on first write unless CreateBuckets(false) says otherwise. Bucket names and keys are
// stored through reversible encodings (see EncodeBucket and EncodeKey) because JetStream
// restricts both. Counters are decimal ASCII text, as Redis-backed providers store them.
//
// Durability: a write is acknowledged after the server has stored it in its file store, which
// writes to the operating system before it acknowledges, so an acknowledged write survives the
// server process being killed (kill -9). Surviving a crash of the machine as well needs the
// server's sync_interval set to always, at a cost in write speed.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wrpc-kv/gateway/keyvalue"
)

var _ keyvalue.Store = (*Store)(nil)

// Defaults of the options.
const (
	DefaultPageSize    = 1000
	DefaultConcurrency = 16
	DefaultTimeout     = 5 * time.Second
	DefaultMarkerTTL   = 15 * time.Minute
)

// Option configures a Store.
type Option func(*options) error

type options struct {
	onBackendError func(op string, err error)
	tracer         trace.TracerProvider
	log            *slog.Logger
	createBuckets  bool
	pageSize       int
	concurrency    int
	replicas       int
	storage        natsjs.StorageType
	timeout        time.Duration
	markerTTL      time.Duration
	chunkGrace     time.Duration
	chunkSize      int // of the chunks of large values; 0: the server's max_payload (tests set less)
}

// CreateBuckets sets whether a bucket comes into being on its first write (the default). With
// false, every call on a bucket that does not exist answers keyvalue.ErrNoSuchStore. With true,
// reads of a bucket that does not exist answer as an empty bucket would, without creating it.
func CreateBuckets(create bool) Option {
	return func(o *options) error { o.createBuckets = create; return nil }
}

// PageSize sets the most keys one list-keys page holds (default 1000). A page is also kept
// under 512 KiB of key names, so it may hold fewer.
func PageSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jetstream: page size %d, want at least 1", n)
		}
		o.pageSize = n
		return nil
	}
}

// Concurrency sets how many requests one get-many, set-many or delete-many call keeps in flight
// (default 16); JetStream KV has no batch operations, so these run one request per key.
func Concurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jetstream: concurrency %d, want at least 1", n)
		}
		o.concurrency = n
		return nil
	}
}

// Replicas sets the number of replicas of the buckets the Store creates (default 1); more than
// one needs a JetStream cluster.
func Replicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("jetstream: %d replicas, want 1 to 5", n)
		}
		o.replicas = n
		return nil
	}
}

// Storage sets where the buckets the Store creates keep their data: natsjs.FileStorage (the
// default, durable) or natsjs.MemoryStorage.
func Storage(t natsjs.StorageType) Option {
	return func(o *options) error { o.storage = t; return nil }
}

// Timeout sets the time a call may take when its context has no deadline (default 5s).
func Timeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("jetstream: timeout %v, want a positive duration", d)
		}
		o.timeout = d
		return nil
	}
}

// DeleteMarkerTTL sets how long a deleted key's marker stays in the buckets the Store creates
// (default 15 minutes), so that deleting many keys does not grow a bucket for ever. The
// marker tells watchers of the bucket about the delete; once it expires the key leaves no
// trace. 0 keeps markers for ever, as a plain JetStream KV delete does. It needs NATS server
// 2.11 or later; on older servers, and on buckets created without it, markers are kept.
func DeleteMarkerTTL(d time.Duration) Option {
	return func(o *options) error {
		if d != 0 && d < time.Second {
			return fmt.Errorf("jetstream: delete marker TTL %v, want 0 or at least 1s", d)
		}
		o.markerTTL = d
		return nil
	}
}

// Logger sets where the Store tells what an operator should know: a bucket found with
// another number of replicas than it would create. Default: slog.Default().
func Logger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// OnBackendError has f called with each error of JetStream itself, as opposed to an answer
// such as a bucket that does not exist: the server refusing a request, a timeout, a lost
// connection. op names the operation ("get", "put", "bucket" for looking a bucket up or
// creating it, ...). f must not block.
func OnBackendError(f func(op string, err error)) Option {
	return func(o *options) error { o.onBackendError = f; return nil }
}

// WithTracerProvider makes a client span of each operation on JetStream with tp's tracer,
// as a child of the span in the call's context (the provider's invocation span).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error { o.tracer = tp; return nil }
}

// Store is a keyvalue.Store on JetStream KV. It is safe for concurrent use.
type Store struct {
	js        natsjs.JetStream
	nc        *nats.Conn
	apiPrefix string // "$JS.API." or the prefix of the JetStream's domain, with a trailing dot
	opts      options

	tracer  trace.Tracer // nil: no spans
	handles sync.Map     // encoded bucket name -> *handle
	locks   keyLocks
	gc      *collector
	replies replies
	warned  sync.Map // bucket -> time.Time of the last warning that it is unavailable

	conflicts atomic.Uint64 // increment attempts that lost a compare-and-set race
}

// handle is a resolved bucket: the KV handle, cached so a call costs no lookup round trip.
type handle struct {
	names
	kv         natsjs.KeyValue
	st         natsjs.Stream // the bucket's stream, for direct gets
	mirrored   bool          // the stream is a mirror: it takes no subjects of its own
	chunks     atomic.Bool   // the stream takes the subjects of chunks (chunks.go)
	history    int64         // revisions kept per key; list-keys checks for latest revisions above 1
	replicas   int           // of the bucket's stream
	maxMsgSize int32         // the stream's limit per message, or <= 0 for none
	// markerTTL is how long a delete marker stays, or 0 for a bucket that keeps them: one
	// without per-message TTLs, or one keeping history, which a purge would erase.
	markerTTL time.Duration
}

// New returns a Store that keeps its buckets in js.
func New(js natsjs.JetStream, opts ...Option) (*Store, error) {
	if js == nil || js.Conn() == nil {
		return nil, errors.New("jetstream: New needs a JetStream context on a connection")
	}
	s := &Store{
		js: js,
		nc: js.Conn(),
		opts: options{
			createBuckets: true,
			pageSize:      DefaultPageSize,
			concurrency:   DefaultConcurrency,
			replicas:      1,
			storage:       natsjs.FileStorage,
			timeout:       DefaultTimeout,
			markerTTL:     DefaultMarkerTTL,
			chunkGrace:    DefaultChunkGrace,
			log:           slog.Default(),
		},
	}
	for _, o := range opts {
		if err := o(&s.opts); err != nil {
			return nil, err
		}
	}
	s.replies.nc = s.nc
	s.gc = newCollector(s)
	if s.opts.tracer != nil {
		s.tracer = s.opts.tracer.Tracer("github.com/wrpc-kv/gateway/provider/jetstream")
	}
	jo := js.Options()
	switch {
	case jo.APIPrefix != "":
		s.apiPrefix = jo.APIPrefix
		if s.apiPrefix[len(s.apiPrefix)-1] != '.' {
			s.apiPrefix += "."
		}
	case jo.Domain != "":
		s.apiPrefix = "$JS." + jo.Domain + ".API."
	default:
		s.apiPrefix = natsjs.DefaultAPIPrefix
	}
	return s, nil
}

// Close stops the Store's collector of unused chunks and its subscription for replies. The
// Store must not be used after it; the connection stays open.
func (s *Store) Close() {
	s.gc.close()
	s.replies.stop()
}

// withTimeout applies the default timeout to a context without a deadline.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opts.timeout)
}

// resolve returns the handle of bucket. With write true and auto-create on, a missing bucket is
// created; otherwise a missing bucket is (nil, nil) with auto-create on, ErrNoSuchStore without.
func (s *Store) resolve(ctx context.Context, bucket string, write bool) (*handle, error) {
	n, err := bucketNames(bucket)
	if err != nil {
		return nil, err
	}
	if h, ok := s.handles.Load(n.encoded); ok {
		return h.(*handle), nil
	}
	var st natsjs.Stream
	kv, err := s.js.KeyValue(ctx, n.encoded)
	if errors.Is(err, natsjs.ErrBucketNotFound) {
		if !s.opts.createBuckets {
			return nil, keyvalue.ErrNoSuchStore
		}
		if !write {
			return nil, nil
		}
		cfg := natsjs.KeyValueConfig{
			Bucket:         n.encoded,
			History:        1,
			Storage:        s.opts.storage,
			Replicas:       s.opts.replicas,
			LimitMarkerTTL: s.opts.markerTTL,
		}
		kv, err = s.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, natsjs.ErrLimitMarkerTTLNotSupported) {
			cfg.LimitMarkerTTL = 0 // a server before 2.11: markers are kept
			kv, err = s.js.CreateKeyValue(ctx, cfg)
		}
		if errors.Is(err, natsjs.ErrBucketExists) {
			// Made meanwhile by someone else, with another configuration.
			kv, err = s.js.KeyValue(ctx, n.encoded)
		}
	}
	if err == nil {
		st, err = s.js.Stream(ctx, n.stream)
	}
	if err != nil {
		return nil, s.mapErr("bucket", lookupErr(n.bucket, s.opts.replicas, err))
	}
	cfg := st.CachedInfo().Config
	h := &handle{names: n, kv: kv, st: st, mirrored: cfg.Mirror != nil}
	h.history = max(1, cfg.MaxMsgsPerSubject)
	h.maxMsgSize = cfg.MaxMsgSize
	h.replicas = max(1, cfg.Replicas)
	if h.history == 1 && cfg.AllowMsgTTL {
		h.markerTTL = cfg.SubjectDeleteMarkerTTL
	}
	for _, subj := range cfg.Subjects {
		if subj == h.chunkFilter() {
			h.chunks.Store(true)
		}
	}
	actual, loaded := s.handles.LoadOrStore(n.encoded, h)
	if !loaded && h.replicas != s.opts.replicas {
		s.opts.log.Warn("bucket has another number of replicas than the provider creates; using it as it is",
			"bucket", bucket, "stream", h.stream, "replicas", h.replicas, "provider_replicas", s.opts.replicas)
	}
	return actual.(*handle), nil
}

// do runs fn with the handle of bucket (nil for a missing bucket read with auto-create on).
// When fn fails because the bucket's stream has gone since its handle was cached, the handle is
// dropped and fn runs once more on a fresh lookup; such failures mean nothing was written.
// op names the operation in its span and in reports of backend errors.
func (s *Store) do(ctx context.Context, op, bucket string, write bool, fn func(*handle) error) (err error) {
	if s.tracer != nil {
		_, span := s.tracer.Start(ctx, "jetstream "+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("db.system.name", "nats"),
				attribute.String("db.operation.name", op),
				attribute.String("db.collection.name", bucket),
			))
		defer func() {
			if err != nil {
				kind := keyvalue.ErrorKind(err)
				span.SetAttributes(attribute.String("error.type", kind))
				span.SetStatus(codes.Error, kind)
			}
			span.End()
		}()
	}
	for attempt := 0; ; attempt++ {
		h, err := s.resolve(ctx, bucket, write)
		if err != nil {
			return err
		}
		err = fn(h)
		if h == nil || attempt > 0 || !streamGone(err) {
			err = s.mapErr(op, err)
			if oe := (*keyvalue.OtherError)(nil); errors.As(err, &oe) && oe.IsUnavailable() {
				s.warnUnavailable(bucket, op, oe.Message)
			}
			return err
		}
		s.handles.CompareAndDelete(h.encoded, h)
	}
}

// lookupErr says why looking up or creating bucket failed, when JetStream cannot serve it
// for now or at all as configured; other errors pass through.
func lookupErr(bucket string, replicas int, err error) error {
	var apiErr *natsjs.APIError
	errors.As(err, &apiErr)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, natsjs.ErrJetStreamNotEnabled),
		errors.Is(err, natsjs.ErrJetStreamNotEnabledForAccount):
		return &unavailableError{err: err, msg: "JetStream does not answer: it is not enabled on the NATS servers, or not for this account (" + err.Error() + ")"}
	case apiErr != nil && apiErr.ErrorCode == errCodeReplicasNotSupported:
		return &unavailableError{err: err, msg: fmt.Sprintf(
			"bucket %q cannot be created with %d replicas: the NATS server is not part of a JetStream cluster; run a cluster of at least %d servers, or the provider with --replicas 1", bucket, replicas, replicas)}
	case apiErr != nil && (apiErr.ErrorCode == errCodeInsufficientResources || apiErr.ErrorCode == errCodeNoPeers):
		return &unavailableError{err: err, msg: fmt.Sprintf(
			"bucket %q cannot be created with %d replicas: fewer than %d JetStream servers of the cluster are up with room for it (%s)", bucket, replicas, replicas, apiErr.Description)}
	case transient(err):
		return noLeader("bucket lookup", err)
	}
	return err
}

// warnUnavailable logs that bucket cannot be served, at most once every 10 seconds a bucket.
func (s *Store) warnUnavailable(bucket, op, msg string) {
	now := time.Now()
	if last, ok := s.warned.Load(bucket); ok && now.Sub(last.(time.Time)) < 10*time.Second {
		return
	}
	s.warned.Store(bucket, now)
	s.opts.log.Warn("JetStream cannot serve the bucket for now; calls answer unavailable",
		"bucket", bucket, "op", op, "error", strings.TrimPrefix(msg, keyvalue.UnavailablePrefix))
}

func streamGone(err error) bool {
	var u *unavailableError
	if errors.As(err, &u) {
		return false
	}
	return errors.Is(err, natsjs.ErrStreamNotFound) || errors.Is(err, natsjs.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrBucketNotFound)
}

// mapErr turns JetStream's answers into the world's errors. A bucket that vanished is
// no-such-store; the server's refusals (limits, resources) are other(message); transport
// failures and context errors pass through and reach the caller as failures.
//
// Errors of JetStream itself (not a vanished bucket) are reported to OnBackendError under op.
func (s *Store) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *keyvalue.OtherError
	if errors.Is(err, keyvalue.ErrNoSuchStore) || errors.As(err, &oe) {
		return err
	}
	var u *unavailableError
	if errors.As(err, &u) {
		if s.opts.onBackendError != nil {
			s.opts.onBackendError(op, err)
		}
		return keyvalue.Unavailable("%s", u.msg)
	}
	if streamGone(err) {
		return keyvalue.ErrNoSuchStore
	}
	if s.opts.onBackendError != nil && !errors.Is(err, context.Canceled) {
		s.opts.onBackendError(op, err)
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return &keyvalue.OtherError{Message: fmt.Sprintf(
			"value too large for the NATS server's max_payload of %d bytes", s.nc.MaxPayload())}
	}
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) {
		return &keyvalue.OtherError{Message: "jetstream: " + apiErr.Description}
	}
	return fmt.Errorf("jetstream: %w", err)
}

// checkValue reports a value that the bucket would refuse, naming the limit. Values over the
// server's max_payload are stored in chunks (chunks.go).
func (s *Store) checkValue(h *handle, v []byte) error {
	if h.maxMsgSize > 0 && len(v) > int(h.maxMsgSize) {
		return &keyvalue.OtherError{Message: fmt.Sprintf(
			"value of %d bytes exceeds the bucket's maximum value size of %d bytes", len(v), h.maxMsgSize)}
	}
	return nil
}

// Get returns the value at key; an empty value is a non-nil empty slice.
func (s *Store) Get(ctx context.Context, bucket, key string) (value []byte, ok bool, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	err = s.do(ctx, "get", bucket, false, func(h *handle) error {
		value, ok = nil, false
		if h == nil {
			return nil
		}
		k, err := h.key(key)
		if err != nil {
			return err
		}
		value, ok, err = s.get(ctx, h, k)
		return err
	})
	return value, ok, err
}

// get reads the encoded key k; a deleted key is absent. A replicated bucket is read through
// its stream leader (read.go); a value in chunks is put together (chunks.go).
func (s *Store) get(ctx context.Context, h *handle, k string) ([]byte, bool, error) {
	var prev uint64
	for {
		m, err := s.lastMsg(ctx, h, h.prefix+k)
		if err == nil && m.seq == prev {
			// The same manifest, its chunks missing: a replica that has not caught up.
			select {
			case <-ctx.Done():
				return nil, false, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		if errors.Is(err, errNoMessage) || err == nil && isDeleted(m.header) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		v, ok, err := s.readValue(ctx, h, m)
		if ok || err != nil {
			return v, ok, err
		}
		// Chunks missing: the value was replaced while they were read, or a replica is
		// behind. The key again tells which.
		prev = m.seq
	}
}

// Set stores value at key; the value is written out before Set returns, so the caller may
// reuse it.
func (s *Store) Set(ctx context.Context, bucket, key string, value []byte) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.do(ctx, "put", bucket, true, func(h *handle) error {
		k, err := h.key(key)
		if err != nil {
			return err
		}
		if err := s.checkValue(h, value); err != nil {
			return err
		}
		if err := s.setValue(ctx, h, k, value); err != nil {
			return err
		}
		s.gc.noteWrite(h)
		return nil
	})
}

// Delete removes key; an absent key, or a bucket that does not exist with auto-create on, is
// not an error. JetStream keeps a small delete marker for the key, for DeleteMarkerTTL in the
// buckets the Store creates.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.do(ctx, "delete", bucket, false, func(h *handle) error {
		if h == nil {
			return nil
		}
		k, err := h.key(key)
		if err != nil {
			return err
		}
		if err := s.deleteKey(ctx, h, k); err != nil {
			return err
		}
		s.gc.noteWrite(h)
		return nil
	})
}

// Exists reports whether key is present. JetStream has no way to read a key's presence without
// its message, so a value of one message travels from the server to the Store (not to the
// caller); of a value in chunks, only its manifest does.
func (s *Store) Exists(ctx context.Context, bucket, key string) (ok bool, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	err = s.do(ctx, "exists", bucket, false, func(h *handle) error {
		ok = false
		if h == nil {
			return nil
		}
		k, err := h.key(key)
		if err != nil {
			return err
		}
		m, err := s.lastMsg(ctx, h, h.prefix+k)
		if errors.Is(err, errNoMessage) {
			return nil
		}
		ok = err == nil && !isDeleted(m.header)
		return err
	})
	return ok, err
}
