package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

type batchItem struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func decodeItems(t *testing.T, res *resp) []batchItem {
	t.Helper()
	var body struct{ Items []batchItem }
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatalf("batch/get body %q: %v", res.body, err)
	}
	return body.Items
}

func TestBatchRoundTrip(t *testing.T) {
	binary := string([]byte{0, 1, 0xfe, 0xff, 'a'})
	values := map[string]string{"a/b": "hello", "emoji": "😀 text", "empty": "", "bin": binary}
	for name, s := range map[string]keyvalue.Store{
		"batch interface": memory.New(),
		"fallback":        &noBatch{Store: memory.New()},
		// get-many answered in an order of the provider's own, as keyvalue-nats does
		"answers out of order": kvtest.Shuffled(memory.New(), 7),
	} {
		t.Run(name, func(t *testing.T) {
			g := newGW(t, Options{Store: s})
			var items []map[string]string
			for k, v := range values {
				items = append(items, map[string]string{"key": k, "value": base64.StdEncoding.EncodeToString([]byte(v))})
			}
			res := g.postJSON(t, "/buckets/b/batch/set", string(mustJSON(t, map[string]any{"items": items})))
			wantStatus(t, "POST", "batch/set", res, http.StatusNoContent)
			for k, v := range values {
				if got := g.get(t, keyPath("b", k)); string(got.body) != v {
					t.Errorf("GET %q after batch/set = %q; want %q", k, got.body, v)
				}
			}

			keys := []string{"a/b", "missing", "bin", "empty", "a/b"}
			res = g.postJSON(t, "/buckets/b/batch/get", string(mustJSON(t, map[string]any{"keys": keys})))
			if wantStatus(t, "POST", "batch/get", res, http.StatusOK) {
				got := decodeItems(t, res)
				if len(got) != len(keys) {
					t.Fatalf("batch/get = %d items; want %d", len(got), len(keys))
				}
				for i, it := range got {
					if it.Key != keys[i] {
						t.Errorf("batch/get item %d key %q; want %q (request order)", i, it.Key, keys[i])
					}
					want, ok := values[keys[i]]
					switch {
					case !ok && it.Value != nil:
						t.Errorf("batch/get %q = %q; want null", it.Key, *it.Value)
					case ok && (it.Value == nil || *it.Value != base64.StdEncoding.EncodeToString([]byte(want))):
						t.Errorf("batch/get %q = %v; want base64 of %q", it.Key, it.Value, want)
					}
				}
			}

			// utf8: text as is; a binary value is an error, never mangled.
			res = g.postJSON(t, "/buckets/b/batch/get?encoding=utf8", `{"keys":["emoji","empty","missing"]}`)
			if wantStatus(t, "POST", "batch/get?encoding=utf8", res, http.StatusOK) {
				got := decodeItems(t, res)
				if *got[0].Value != "😀 text" || *got[1].Value != "" || got[2].Value != nil {
					t.Errorf("batch/get?encoding=utf8 = %s", res.body)
				}
			}
			res = g.postJSON(t, "/buckets/b/batch/get?encoding=utf8", `{"keys":["emoji","bin"]}`)
			wantProblem(t, "POST", "batch/get?encoding=utf8", res, http.StatusConflict, "/problems/not-utf8", `"bin"`)

			res = g.postJSON(t, "/buckets/b/batch/set?encoding=utf8", `{"items":[{"key":"t","value":"café ☕"},{"key":"t2","value":"\u00e9\ud83d\ude00"}]}`)
			wantStatus(t, "POST", "batch/set?encoding=utf8", res, http.StatusNoContent)
			if got := g.get(t, "/buckets/b/keys/t"); string(got.body) != "café ☕" {
				t.Errorf("GET t = %q; want the UTF-8 text", got.body)
			}
			if got := g.get(t, "/buckets/b/keys/t2"); string(got.body) != "é😀" {
				t.Errorf("GET t2 = %q; want the escaped text decoded", got.body)
			}

			res = g.postJSON(t, "/buckets/b/batch/delete", `{"keys":["a/b","emoji","never-existed"]}`)
			wantStatus(t, "POST", "batch/delete", res, http.StatusNoContent)
			for _, k := range []string{"a/b", "emoji"} {
				wantStatus(t, "GET", keyPath("b", k), g.get(t, keyPath("b", k)), http.StatusNotFound)
			}
			wantStatus(t, "GET", keyPath("b", "bin"), g.get(t, keyPath("b", "bin")), http.StatusOK)

			// Empty lists are fine.
			res = g.postJSON(t, "/buckets/b/batch/get", `{"keys":[]}`)
			if wantStatus(t, "POST", "batch/get []", res, 200) && len(decodeItems(t, res)) != 0 {
				t.Errorf("batch/get [] = %s", res.body)
			}
			wantStatus(t, "POST", "batch/set []", g.postJSON(t, "/buckets/b/batch/set", `{"items":[]}`), 204)
			wantStatus(t, "POST", "batch/delete []", g.postJSON(t, "/buckets/b/batch/delete", `{"keys":[]}`), 204)

			// A key given twice ends with its last value.
			res = g.postJSON(t, "/buckets/b/batch/set?encoding=utf8", `{"items":[{"key":"d","value":"1"},{"key":"d","value":"2"},{"key":"d","value":"3"}]}`)
			wantStatus(t, "POST", "batch/set duplicates", res, 204)
			if got := g.get(t, "/buckets/b/keys/d"); string(got.body) != "3" {
				t.Errorf("GET d after duplicate batch/set = %q; want 3", got.body)
			}
		})
	}
}

func TestBatchInvalid(t *testing.T) {
	g := newGW(t, Options{MaxBatchItems: 3, MaxBatchBodyBytes: 2000, MaxValueBytes: 4})
	long := strings.Repeat("k", DefaultMaxKeyBytes+1)
	tests := []struct {
		target, body, ct string
		status           int
		typ, detail      string
	}{
		{"get", `{"keys":["1","2","3","4"]}`, "application/json", 400, "validation", "/keys"},
		{"delete", `{"keys":["1","2","3","4"]}`, "application/json", 400, "validation", "/keys"},
		{"set", `{"items":[{"key":"1","value":""},{"key":"2","value":""},{"key":"3","value":""},{"key":"4","value":""}]}`, "application/json", 400, "validation", "/items"},
		{"get", `{"keys":[""]}`, "application/json", 400, "validation", "/keys/0"},
		{"get", `{"keys":["ok",1]}`, "application/json", 400, "validation", "/keys/1"},
		{"get", `{"keys":["` + long + `"]}`, "application/json", 400, "validation", "/keys/0"},
		{"get", `{"keys":["\ud800"]}`, "application/json", 400, "validation", "/keys/0"},
		{"get", `{"keys":["\udc00\ud800"]}`, "application/json", 400, "validation", "/keys/0"},
		{"get", `{"keys":"a"}`, "application/json", 400, "validation", "/keys"},
		{"get", `{"kees":["a"]}`, "application/json", 400, "validation", "request body"},
		{"get", `{"keys":["a"]`, "application/json", 400, "validation", "request body"},
		{"get", "", "application/json", 400, "validation", "request body is required"},
		{"get", "\"\xff\"", "application/json", 400, "validation", "UTF-8"},
		{"get", `{"keys":["a"]}`, "text/plain", 415, "unsupported-media-type", "application/json"},
		{"get", `{"keys":["a"]}`, "", 415, "unsupported-media-type", "application/json"},
		{"set", `{"items":[{"key":"a","value":"%%%"}]}`, "application/json", 400, "validation", "/items/0/value"},
		{"set", `{"items":[{"key":"a","value":"aGVsbG8="}]}`, "application/json", 413, "body-too-large", "/items/0/value"},
		{"set?encoding=utf8", `{"items":[{"key":"a","value":"hello"}]}`, "application/json", 413, "body-too-large", "4 bytes"},
		{"set?encoding=utf8", `{"items":[{"key":"a","value":"\ud83d"}]}`, "application/json", 400, "validation", "/items/0/value"},
		{"set?encoding=utf8", `{"items":[{"key":"a","value":"x\ude00"}]}`, "application/json", 400, "validation", "/items/0/value"},
		{"set", `{"items":[{"key":"a"}]}`, "application/json", 400, "validation", "value"},
		{"set", `{"items":[{"key":"a","value":null}]}`, "application/json", 400, "validation", "/items/0/value"},
		{"set?encoding=latin1", `{"items":[]}`, "application/json", 400, "validation", `"encoding"`},
		{"get", `{"keys":["` + strings.Repeat("x", 2000) + `"]}`, "application/json", 413, "body-too-large", "2000 bytes"},
	}
	for _, tt := range tests {
		target := "/buckets/b/batch/" + tt.target
		h := map[string]string{}
		if tt.ct != "" {
			h["Content-Type"] = tt.ct
		}
		res := g.do(t, req{method: http.MethodPost, target: target, body: strings.NewReader(tt.body), header: h})
		wantProblem(t, "POST", target+" "+tt.body[:min(40, len(tt.body))], res, tt.status, "/problems/"+tt.typ, tt.detail)
	}
}

// noBatch is a store whose provider does not serve the batch interface, and which records
// how many single-key calls run at once.
type noBatch struct {
	*memory.Store
	inFlight, maxInFlight atomic.Int64
	delay                 time.Duration
	concurrency           int // of the fallback; 0 for the default
}

func (s *noBatch) fallbackConcurrency() int {
	if s.concurrency == 0 {
		return client.DefaultFallbackConcurrency
	}
	return s.concurrency
}

func (s *noBatch) enter() func() {
	n := s.inFlight.Add(1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(s.delay)
	return func() { s.inFlight.Add(-1) }
}

// providerOptions leaves the batch interface unserved, so NATS answers its calls with no
// responders, as for a provider that exports only store and atomics.
func (s *noBatch) providerOptions() []provider.Option {
	return []provider.Option{provider.WithInterfaces(keyvalue.StoreInstance, keyvalue.AtomicsInstance)}
}

func (s *noBatch) Get(ctx context.Context, b, k string) ([]byte, bool, error) {
	defer s.enter()()
	return s.Store.Get(ctx, b, k)
}
func (s *noBatch) Set(ctx context.Context, b, k string, v []byte) error {
	defer s.enter()()
	return s.Store.Set(ctx, b, k, v)
}
func (s *noBatch) Delete(ctx context.Context, b, k string) error {
	defer s.enter()()
	return s.Store.Delete(ctx, b, k)
}

func TestBatchFallbackConcurrency(t *testing.T) {
	s := &noBatch{Store: memory.New(), delay: 2 * time.Millisecond, concurrency: 4}
	g := newGW(t, Options{Store: s})
	var keys []string
	var items []map[string]string
	for i := range 60 {
		k := fmt.Sprintf("k%02d", i)
		keys = append(keys, k)
		items = append(items, map[string]string{"key": k, "value": k})
	}
	res := g.postJSON(t, "/buckets/b/batch/set?encoding=utf8", string(mustJSON(t, map[string]any{"items": items})))
	wantStatus(t, "POST", "batch/set (fallback)", res, 204)
	res = g.postJSON(t, "/buckets/b/batch/get?encoding=utf8", string(mustJSON(t, map[string]any{"keys": keys})))
	if wantStatus(t, "POST", "batch/get (fallback)", res, 200) {
		for i, it := range decodeItems(t, res) {
			if it.Key != keys[i] || it.Value == nil || *it.Value != keys[i] {
				t.Errorf("batch/get (fallback) item %d = %+v; want %s", i, it, keys[i])
			}
		}
	}
	res = g.postJSON(t, "/buckets/b/batch/delete", string(mustJSON(t, map[string]any{"keys": keys})))
	wantStatus(t, "POST", "batch/delete (fallback)", res, 204)
	if n, _ := s.Store.ListKeys(context.Background(), "b", nil); len(n.Keys) != 0 {
		t.Errorf("after batch/delete (fallback) %d keys remain", len(n.Keys))
	}
	if m := s.maxInFlight.Load(); m > 4 || m < 2 {
		t.Errorf("fallback ran %d single-key calls at once; want 2..4 (the fallback's concurrency)", m)
	}
}

// When the single-key calls fail too, the first failure is answered.
func TestBatchFallbackErrors(t *testing.T) {
	s := &noBatch{Store: memory.New(memory.CreateBuckets(false))}
	g := newGW(t, Options{Store: s})
	res := g.postJSON(t, "/buckets/nope/batch/get", `{"keys":["a","b"]}`)
	wantProblem(t, "POST", "batch/get (fallback, no store)", res, 404, "/problems/no-such-store", `"nope"`)
	g = newGW(t, Options{Store: nobodyServes(t, natstest.Run(t), "nobody")})
	res = g.postJSON(t, "/buckets/b/batch/set", `{"items":[{"key":"a","value":""}]}`)
	wantProblem(t, "POST", "batch/set (nobody at all)", res, 503, "/problems/no-responders")
	if !slices.Contains(res.header.Values("Retry-After"), "1") {
		t.Errorf("503 without Retry-After: %v", res.header)
	}
}

// keyvalue-nats answers get-many in completion order once a batch is large: each value still
// reaches the key it belongs to, absent keys are null, a key asked twice is answered twice.
func TestBatchGetPairsByKey(t *testing.T) {
	backend := memory.New()
	g := newGW(t, Options{Store: kvtest.Shuffled(backend, 3)})
	ctx := context.Background()
	var keys []string
	for i := range 300 {
		k := fmt.Sprintf("bk-%d", i)
		keys = append(keys, k)
		if i%4 != 1 {
			if err := backend.Set(ctx, "default", k, []byte(fmt.Sprintf("v%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys = append(keys, "bk-0", "bk-1")
	res := g.postJSON(t, "/buckets/default/batch/get?encoding=utf8", string(mustJSON(t, map[string]any{"keys": keys})))
	if !wantStatus(t, "POST", "batch/get", res, 200) {
		return
	}
	items := decodeItems(t, res)
	if len(items) != len(keys) {
		t.Fatalf("%d items for %d keys", len(items), len(keys))
	}
	for i, it := range items {
		var n int
		fmt.Sscanf(keys[i], "bk-%d", &n)
		want := fmt.Sprintf("v%d", n)
		switch {
		case it.Key != keys[i]:
			t.Fatalf("item %d names %q; want %q", i, it.Key, keys[i])
		case n%4 == 1 && it.Value != nil:
			t.Fatalf("item %d (%s) = %q; want null", i, it.Key, *it.Value)
		case n%4 != 1 && (it.Value == nil || *it.Value != want):
			t.Fatalf("item %d (%s) = %v; want %q", i, it.Key, it.Value, want)
		}
	}
}

// An answer that does not fit the keys asked for is 502 protocol-error, never a guess.
func TestBatchGetAnswerNotFittingTheKeys(t *testing.T) {
	backend := memory.New()
	g := newGW(t, Options{Store: kvtest.Misanswering(backend, func(keys []string, items []*keyvalue.KeyValue) []*keyvalue.KeyValue {
		return append(items, &keyvalue.KeyValue{Key: "stranger"})
	})})
	res := g.postJSON(t, "/buckets/b/batch/get", `{"keys":["a"]}`)
	wantProblem(t, "POST", "batch/get", res, 502, "/problems/protocol-error")
}

// refusingEmpty fails empty batches as keyvalue-redis does (an MGET without arguments).
type refusingEmpty struct {
	*memory.Store
	calls atomic.Int64
}

func (s *refusingEmpty) GetMany(ctx context.Context, b string, keys []string) ([]*keyvalue.KeyValue, error) {
	s.calls.Add(1)
	if len(keys) == 0 {
		return nil, &keyvalue.OtherError{Message: "ERR wrong number of arguments for 'mget' command"}
	}
	return s.Store.GetMany(ctx, b, keys)
}

func (s *refusingEmpty) SetMany(ctx context.Context, b string, items []keyvalue.KeyValue) error {
	s.calls.Add(1)
	if len(items) == 0 {
		return &keyvalue.OtherError{Message: "ERR wrong number of arguments for 'mset' command"}
	}
	return s.Store.SetMany(ctx, b, items)
}

func (s *refusingEmpty) DeleteMany(ctx context.Context, b string, keys []string) error {
	s.calls.Add(1)
	if len(keys) == 0 {
		return &keyvalue.OtherError{Message: "ERR wrong number of arguments for 'del' command"}
	}
	return s.Store.DeleteMany(ctx, b, keys)
}

// Empty batches are answered by the gateway and never reach the provider.
func TestEmptyBatchesNeverReachTheProvider(t *testing.T) {
	s := &refusingEmpty{Store: memory.New()}
	g := newGW(t, Options{Store: s})
	res := g.postJSON(t, "/buckets/b/batch/get", `{"keys":[]}`)
	if wantStatus(t, "POST", "batch/get []", res, 200) && string(res.body) != `{"items":[]}`+"\n" {
		t.Errorf("batch/get [] = %s; want {\"items\":[]}", res.body)
	}
	wantStatus(t, "POST", "batch/set []", g.postJSON(t, "/buckets/b/batch/set", `{"items":[]}`), 204)
	wantStatus(t, "POST", "batch/delete []", g.postJSON(t, "/buckets/b/batch/delete", `{"keys":[]}`), 204)
	if n := s.calls.Load(); n != 0 {
		t.Errorf("the provider got %d empty batch calls; want none", n)
	}
	// Non-empty batches still reach it.
	wantStatus(t, "POST", "batch/delete [a]", g.postJSON(t, "/buckets/b/batch/delete", `{"keys":["a"]}`), 204)
	if n := s.calls.Load(); n != 1 {
		t.Errorf("the provider got %d calls for one batch; want 1", n)
	}
}

// A batch/get whose values exceed the batch result limit is refused with a hint to ask for
// fewer keys.
func TestBatchGetOverTheResultLimit(t *testing.T) {
	backend := memory.New()
	ns := natstest.Run(t)
	p, err := provider.Serve(natstest.Connect(t, ns), backend, provider.WithPrefix("test.kv"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	kv, err := client.New(natstest.Connect(t, ns), client.WithPrefix("test.kv"), client.WithMaxResultBytes(3000))
	if err != nil {
		t.Fatal(err)
	}
	g := newGW(t, Options{Store: kv, MaxBatchResultBytes: 3000})
	for _, k := range []string{"a", "b"} {
		_ = backend.Set(context.Background(), "b", k, make([]byte, 2000))
	}
	wantStatus(t, "POST", "batch/get [a]", g.postJSON(t, "/buckets/b/batch/get", `{"keys":["a"]}`), 200)
	res := g.postJSON(t, "/buckets/b/batch/get", `{"keys":["a","b"]}`)
	wantProblem(t, "POST", "batch/get [a b]", res, 502, "/problems/result-too-large", "fewer keys")
}
