package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/internal/wrpcnats"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// ReadyInterval is how often the router probes its targets by itself, so that a change of
// readiness is logged even when nothing asks /readyz.
const ReadyInterval = 5 * time.Second

// ReadyProbeKey is the key the probe asks about; its value does not matter. It is also the
// default probe bucket.
const ReadyProbeKey = "readyz"

// readiness answers /readyz: NATS is connected and the provider answers the probe, an
// exists call on --ready-bucket, with a value or no-such-store. Any other provider answer
// (access-denied, other(...)) is not ready: wasmCloud providers answer every call with
// other(...) when the gateway's source-id and link-name headers name no link, and a gateway
// whose every call fails must not receive traffic. It logs each change of readiness.
type readiness struct {
	nc      *nats.Conn
	store   keyvalue.Store
	bucket  string
	headers [][2]string
	log     *slog.Logger

	mu     sync.Mutex
	known  bool   // a probe has been made
	reason string // why the last probe was not ready; "" when it was
	status string // the last outcome, a word: ok, no-responders, provider-error, ...
}

func newReadiness(nc *nats.Conn, store keyvalue.Store, bucket string, headers [][2]string, log *slog.Logger) *readiness {
	return &readiness{nc: nc, store: store, bucket: bucket, headers: headers, log: log}
}

// last returns the outcome of the last probe: whether it was made, and its status and
// reason.
func (r *readiness) last() (known bool, status, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known, r.status, r.reason
}

// check probes once and returns why the target is not ready, or nil.
func (r *readiness) check(ctx context.Context) error {
	status, err := r.probe(ctx)
	r.record(status, err)
	return err
}

// watch probes every interval until ctx ends.
func (r *readiness) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = r.check(pctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe asks the provider once. status is a word for /readyz: ok, no-responders, timeout,
// not-connected, access-denied, unavailable, provider-error, remote-failure, ...
func (r *readiness) probe(ctx context.Context) (status string, err error) {
	if !r.nc.IsConnected() {
		return "not-connected", fmt.Errorf("NATS is %s", r.nc.Status())
	}
	if len(r.headers) > 0 { // the headers of the route the bucket comes from, over the target's
		h := nats.Header{}
		for _, kv := range r.headers {
			h.Set(kv[0], kv[1])
		}
		ctx = wrpcnats.WithCallHeader(ctx, h)
	}
	_, err = r.store.Exists(ctx, r.bucket, ReadyProbeKey)
	var other *keyvalue.OtherError
	switch {
	case err == nil, errors.Is(err, keyvalue.ErrNoSuchStore):
		return "ok", nil
	case errors.Is(err, keyvalue.ErrAccessDenied):
		return "access-denied", fmt.Errorf("the provider denies access to the probe's bucket %q (set the ready bucket to one the gateway may read)", r.bucket)
	case errors.As(err, &other) && other.IsUnavailable():
		return "unavailable", fmt.Errorf("the provider cannot serve the probe's bucket %q for now: %s", r.bucket,
			strings.TrimPrefix(other.Message, keyvalue.UnavailablePrefix))
	case errors.As(err, &other):
		return "provider-error", fmt.Errorf("the provider answers the probe of bucket %q with an error: %s%s", r.bucket, other.Message, r.hint(other.Message))
	default:
		return strings.ReplaceAll(keyvalue.ErrorKind(err), "_", "-"), fmt.Errorf("the provider does not answer the probe: %w", err)
	}
}

// hint says what to change when a provider's message is one of wasmCloud's for a call that
// names no link.
func (r *readiness) hint(msg string) string {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "missing context"):
		return "; wasmCloud providers need to know the calling component: start the gateway with " +
			"--header source-id=<component id> --header link-name=<link name> naming a link of this provider" + r.current()
	case strings.Contains(lower, "no connection found for component"), strings.Contains(lower, "no redis connection found"):
		return "; no link of this provider matches the gateway's headers: --header source-id=… --header link-name=… " +
			"must name a component linked to this provider and the link's name" + r.current()
	case strings.Contains(lower, "no nats kv store found for bucket"):
		return "; keyvalue-nats serves only buckets named after its links: set the ready bucket (--ready-bucket, or the target's ready_bucket) to a link name, such as default"
	}
	return ""
}

// current describes the headers the gateway sends now.
func (r *readiness) current() string {
	var src, link string
	for _, h := range r.headers {
		switch strings.ToLower(h[0]) {
		case "source-id":
			src = h[1]
		case "link-name":
			link = h[1]
		}
	}
	if src == "" && link == "" {
		return " (it sends neither now)"
	}
	return fmt.Sprintf(" (it sends source-id=%q link-name=%q now)", src, link)
}

// record logs the outcome of a probe when it differs from the last one.
func (r *readiness) record(status string, err error) {
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	r.mu.Lock()
	changed := !r.known || reason != r.reason
	r.known, r.reason, r.status = true, reason, status
	r.mu.Unlock()
	if !changed {
		return
	}
	if err != nil {
		r.log.Warn("not ready", "reason", reason, "status", status, "ready_bucket", r.bucket)
		return
	}
	r.log.Info("ready: the provider answers", "ready_bucket", r.bucket)
}
