package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// fakeBuckets routes bucket "small" to a target with low limits and nothing else but "big".
type fakeBuckets struct {
	version atomic.Uint64
}

func (f *fakeBuckets) Limits(bucket string) (Limits, bool) {
	switch bucket {
	case "small":
		return Limits{MaxValueBytes: 10, MaxBatchItems: 2, MaxBatchBodyBytes: 200}, true
	case "big":
		return Limits{}, true
	}
	return Limits{}, false
}

func (f *fakeBuckets) Describe(ctx context.Context, bucket string) (BucketInfo, bool) {
	if _, ok := f.Limits(bucket); !ok {
		return BucketInfo{}, false
	}
	info := BucketInfo{Target: "t-" + bucket, ProviderBucket: "p-" + bucket,
		Interfaces: map[string]string{"store": "served", "atomics": "not-served", "batch": "fallback"}}
	info.Route.Index, info.Route.Pattern = 1, bucket
	return info, true
}

func (f *fakeBuckets) Routes() any {
	return map[string]any{"routes": []map[string]string{{"bucket": "small", "target": "t-small"}}, "version": f.version.Load()}
}

func (f *fakeBuckets) Version() uint64 { return f.version.Load() }

func TestBuckets(t *testing.T) {
	fb := &fakeBuckets{}
	g := newGW(t, Options{Buckets: fb})
	res := g.get(t, "/buckets/small")
	var info BucketInfo
	if err := json.Unmarshal(res.body, &info); err != nil || res.status != 200 {
		t.Fatalf("GET /buckets/small = %d %s", res.status, res.body)
	}
	if info.Target != "t-small" || info.ProviderBucket != "p-small" || info.Interfaces["atomics"] != "not-served" ||
		info.Limits.MaxValueBytes != 10 || info.Limits.MaxBatchItems != 2 || info.Limits.MaxBatchResultBytes != 150 {
		t.Errorf("GET /buckets/small = %+v", info)
	}
	if res := g.get(t, "/buckets/big"); !strings.Contains(string(res.body), `"maxValueBytes":16777216`) {
		t.Errorf("GET /buckets/big = %s; want the gateway's limits", res.body)
	}
	wantProblem(t, "GET", "/buckets/none", g.get(t, "/buckets/none"), 404, "/problems/no-such-store", "no route")
	wantProblem(t, "GET", "/buckets/", g.get(t, "/buckets/"), 400, "/problems/validation")

	// The target's lower limits apply to its buckets only.
	wantProblem(t, "PUT", "small/k", g.put(t, "/buckets/small/keys/k", make([]byte, 11)), 413, "/problems/body-too-large", "10 bytes")
	wantStatus(t, "PUT", "small/k", g.put(t, "/buckets/small/keys/k", make([]byte, 10)), 204)
	wantStatus(t, "PUT", "big/k", g.put(t, "/buckets/big/keys/k", make([]byte, 11)), 204)
	wantProblem(t, "POST", "small batch/get", g.postJSON(t, "/buckets/small/batch/get", `{"keys":["a","b","c"]}`), 400, "/problems/validation", "more than 2 keys")
	wantStatus(t, "POST", "big batch/get", g.postJSON(t, "/buckets/big/batch/get", `{"keys":["a","b","c"]}`), 200)
	wantProblem(t, "POST", "small batch/set", g.postJSON(t, "/buckets/small/batch/set", `{"items":[{"key":"a","value":"`+strings.Repeat("A", 200)+`"}]}`), 413, "/problems/body-too-large", "200 bytes")

	// The served document states the routes, and follows when they change.
	routes := func() any {
		doc, err := openapi3.NewLoader().LoadFromData(g.get(t, "/openapi.yaml").body)
		if err != nil {
			t.Fatal(err)
		}
		return doc.Info.Extensions["x-routes"]
	}
	if got := routes(); !strings.Contains(mustString(got), "t-small") || !strings.Contains(mustString(got), `"version":0`) {
		t.Errorf("x-routes = %v", got)
	}
	fb.version.Add(1)
	if got := routes(); !strings.Contains(mustString(got), `"version":1`) {
		t.Errorf("x-routes after a change = %v", got)
	}
	if res := g.get(t, "/openapi.json"); !strings.Contains(string(res.body), `"x-routes":{`) {
		t.Errorf("openapi.json lacks x-routes")
	}
}

func mustString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// /readyz?verbose reports the parts behind the verdict.
func TestReadyVerbose(t *testing.T) {
	report := []map[string]any{{"name": "a", "ready": true, "status": "ok", "routes": 1, "readyBucket": "readyz"}}
	var fail atomic.Bool
	verdict := func() error {
		if fail.Load() {
			return errString("target a: no provider serves this key-value interface")
		}
		return nil
	}
	g := newGW(t, Options{Ready: func(context.Context) error { return verdict() },
		ReadyVerbose: func(context.Context) (any, error) { return report, verdict() }})
	if res := g.get(t, "/readyz"); string(res.body) != `{"status":"ready"}`+"\n" {
		t.Errorf("GET /readyz = %s", res.body)
	}
	if res := g.get(t, "/readyz?verbose"); !strings.Contains(string(res.body), `"targets":[{"name":"a"`) || res.status != 200 {
		t.Errorf("GET /readyz?verbose = %d %s", res.status, res.body)
	}
	fail.Store(true)
	res := g.get(t, "/readyz?verbose")
	wantProblem(t, "GET", "/readyz?verbose", res, 503, "/problems/not-ready", "target a")
	if !strings.Contains(string(res.body), `"targets":[{"name":"a"`) {
		t.Errorf("503 /readyz?verbose = %s; want the targets", res.body)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
