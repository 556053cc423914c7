package handlers

import (
	"context"
	"net/http"

	"github.com/wrpc-kv/gateway/auth"
)

// Buckets tells the handlers where each bucket is served (a routing table): the limits that
// apply to it and what GET /buckets/{bucket} answers. Nil serves every bucket alike, with the
// gateway's limits.
type Buckets interface {
	// Limits returns the limits bucket's target sets, each lower than the gateway's or zero
	// for the gateway's; ok is false when no route matches the bucket.
	Limits(bucket string) (l Limits, ok bool)
	// Describe says where bucket is served; ok is false when no route matches it.
	Describe(ctx context.Context, bucket string) (info BucketInfo, ok bool)
	// Routes is what the served API document states of the routing (info.x-routes), and
	// Version a number that changes whenever it does.
	Routes() any
	Version() uint64
}

// Limits are the limits of one bucket's requests.
type Limits struct {
	MaxValueBytes     int64 `json:"maxValueBytes"`
	MaxBatchItems     int   `json:"maxBatchItems"`
	MaxBatchBodyBytes int64 `json:"maxBatchBodyBytes"`
	// MaxBatchResultBytes follows from MaxBatchBodyBytes (DefaultBatchResultBytes).
	MaxBatchResultBytes int64 `json:"maxBatchResultBytes"`
}

// BucketInfo is the answer of GET /buckets/{bucket}.
type BucketInfo struct {
	Bucket string `json:"bucket"`
	// Route is the route that matched: its position in the routes file and its pattern.
	Route struct {
		Index   int    `json:"index"`
		Pattern string `json:"pattern"`
	} `json:"route"`
	Target string `json:"target"`
	// ProviderBucket is the name the provider knows the bucket by.
	ProviderBucket string `json:"providerBucket"`
	// Interfaces says, for store, atomics and batch: served, not-served, fallback (batch
	// made key by key) or unknown.
	Interfaces map[string]string `json:"interfaces"`
	Limits     Limits            `json:"limits"`
}

// limits returns the limits that apply to bucket: the gateway's, lowered by its target's.
func (h *handler) limits(bucket string) Limits {
	l := Limits{MaxValueBytes: h.opts.MaxValueBytes, MaxBatchItems: h.opts.MaxBatchItems,
		MaxBatchBodyBytes: h.opts.MaxBatchBodyBytes, MaxBatchResultBytes: h.opts.MaxBatchResultBytes}
	if h.opts.Buckets == nil {
		return l
	}
	t, ok := h.opts.Buckets.Limits(bucket)
	if !ok {
		return l
	}
	if t.MaxValueBytes > 0 && t.MaxValueBytes < l.MaxValueBytes {
		l.MaxValueBytes = t.MaxValueBytes
	}
	if t.MaxBatchItems > 0 && t.MaxBatchItems < l.MaxBatchItems {
		l.MaxBatchItems = t.MaxBatchItems
	}
	if t.MaxBatchBodyBytes > 0 && t.MaxBatchBodyBytes < l.MaxBatchBodyBytes {
		l.MaxBatchBodyBytes = t.MaxBatchBodyBytes
		l.MaxBatchResultBytes = min(l.MaxBatchResultBytes, DefaultBatchResultBytes(t.MaxBatchBodyBytes))
	}
	return l
}

// mayUse reports whether id may do anything at all in bucket, under any key.
func mayUse(id *auth.Identity, bucket string) bool {
	for _, a := range []auth.Action{auth.Read, auth.Write, auth.Delete} {
		if all, prefixes := id.Prefixes(a, bucket); all || len(prefixes) > 0 {
			return true
		}
	}
	return false
}

// getBucket answers where a bucket is served. Without a routing table every bucket is
// served by the one provider the gateway was started with, under its own name.
func (h *handler) getBucket(w http.ResponseWriter, r *http.Request, in *input) error {
	if id := auth.FromContext(r.Context()); id != nil && !mayUse(id, in.bucket) {
		return forbidden(id, auth.Read, in.bucket, "")
	}
	var info BucketInfo
	if h.opts.Buckets == nil {
		info = BucketInfo{Bucket: in.bucket, Target: "default", ProviderBucket: in.bucket,
			Interfaces: map[string]string{"store": "unknown", "atomics": "unknown", "batch": "unknown"}}
		info.Route.Pattern = "*"
	} else {
		var ok bool
		if info, ok = h.opts.Buckets.Describe(r.Context(), in.bucket); !ok {
			return newProblem(kindNoSuchStore, "no route of the gateway matches bucket %q", in.bucket)
		}
	}
	info.Bucket = in.bucket
	info.Limits = h.limits(in.bucket)
	return writeJSONValue(w, http.StatusOK, info)
}
