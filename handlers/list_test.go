package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// allAtOnce answers list-keys with every key of the bucket in one page, in a different order
// each time, as providers that ignore the cursor do.
type allAtOnce struct{ *memory.Store }

func (s allAtOnce) ListKeys(ctx context.Context, bucket string, _ *uint64) (keyvalue.KeyResponse, error) {
	var all []string
	var cur *uint64
	for {
		resp, err := s.Store.ListKeys(ctx, bucket, cur)
		if err != nil {
			return keyvalue.KeyResponse{}, err
		}
		all = append(all, resp.Keys...)
		if resp.Cursor == nil {
			break
		}
		cur = resp.Cursor
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return keyvalue.KeyResponse{Keys: all}, nil
}

type page struct {
	Keys   []string `json:"keys"`
	Cursor *string  `json:"cursor"`
}

// listAll follows cursors from the first page to the last and returns every key listed.
func listAll(t *testing.T, g *gw, bucket string, query url.Values, limit int) []string {
	t.Helper()
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		target := "/buckets/" + url.PathEscape(bucket) + "/keys?" + q.Encode()
		res := g.get(t, target)
		if !wantStatus(t, "GET", target, res, http.StatusOK) {
			return all
		}
		var p page
		if err := json.Unmarshal(res.body, &p); err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		want := limit
		if want == 0 {
			want = defaultListLimit
		}
		if len(p.Keys) > want {
			t.Errorf("GET %s = %d keys; want at most %d", target, len(p.Keys), want)
		}
		all = append(all, p.Keys...)
		if p.Cursor == nil {
			return all
		}
		if pages > 100000 {
			t.Fatalf("GET %s: cursors never end", target)
		}
		cursor = *p.Cursor
	}
}

func fill(t *testing.T, s keyvalue.Store, bucket string, keys []string) {
	t.Helper()
	for _, k := range keys {
		if err := s.Set(context.Background(), bucket, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
}

func exactlyOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, k := range got {
		seen[k]++
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Errorf("%s: key %q listed %d times; want once", what, k, seen[k])
		}
		delete(seen, k)
	}
	for k, n := range seen {
		t.Errorf("%s: key %q listed %d times; want none", what, k, n)
	}
}

func TestListKeysPaging(t *testing.T) {
	t.Parallel()
	keys := make([]string, 2345)
	for i := range keys {
		keys[i] = fmt.Sprintf("key/%05d", i)
	}
	stores := map[string]func() keyvalue.Store{
		"provider pages of 1000": func() keyvalue.Store { return memory.New() },
		"provider pages of 7":    func() keyvalue.Store { return memory.New(memory.PageSize(7)) },
		"provider pages of 1":    func() keyvalue.Store { return memory.New(memory.PageSize(1)) },
		"everything at once":     func() keyvalue.Store { return allAtOnce{memory.New()} },
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			s := mk()
			fill(t, s, "b", keys)
			g := newGW(t, Options{Store: s})
			for _, limit := range []int{0, 1, 2, 99, 100, 999, 1000} {
				if limit == 1 && (strings.HasSuffix(name, "of 1") || strings.HasPrefix(name, "everything")) {
					continue // 2345 requests that each read every key: limit 2 covers the same paths
				}
				exactlyOnce(t, fmt.Sprintf("limit %d", limit), listAll(t, g, "b", nil, limit), keys)
			}
		})
	}
}

func TestListKeysPrefix(t *testing.T) {
	t.Parallel()
	var keys, withPrefix []string
	for i := range 500 {
		k := fmt.Sprintf("other/%03d", i)
		if i%7 == 0 {
			k = fmt.Sprintf("p/%03d", i)
			withPrefix = append(withPrefix, k)
		}
		keys = append(keys, k)
	}
	keys = append(keys, "p", "P/upper", "é/p/")
	withPrefix = append(withPrefix, "p")
	for name, s := range map[string]keyvalue.Store{
		"provider pages of 1000": memory.New(),
		"provider pages of 5":    memory.New(memory.PageSize(5)),
		"everything at once":     allAtOnce{memory.New()},
	} {
		t.Run(name, func(t *testing.T) {
			fill(t, s, "b", keys)
			// A bound of 2 provider calls per request forces short pages with cursors.
			for _, calls := range []int{0, 2} {
				g := newGW(t, Options{Store: s, MaxListCalls: calls})
				for _, limit := range []int{1, 3, 1000} {
					got := listAll(t, g, "b", url.Values{"prefix": {"p"}}, limit)
					exactlyOnce(t, fmt.Sprintf("prefix p, limit %d, calls %d", limit, calls), got, withPrefix)
				}
				got := listAll(t, g, "b", url.Values{"prefix": {"é"}}, 10)
				exactlyOnce(t, "prefix é", got, []string{"é/p/"})
				got = listAll(t, g, "b", url.Values{"prefix": {"nothing"}}, 10)
				exactlyOnce(t, "prefix nothing", got, nil)
			}
		})
	}
}

func TestListKeysShortPageBound(t *testing.T) {
	s := memory.New(memory.PageSize(2))
	fill(t, s, "b", []string{"a1", "a2", "a3", "a4", "a5", "a6", "z"})
	g := newGW(t, Options{Store: s, MaxListCalls: 2})
	res := g.get(t, "/buckets/b/keys?prefix=z&limit=10")
	var p page
	_ = json.Unmarshal(res.body, &p)
	if len(p.Keys) != 0 || p.Cursor == nil {
		t.Errorf("GET prefix=z after 2 provider calls = %s; want an empty page with a cursor", res.body)
	}
}

func TestListKeysParams(t *testing.T) {
	g := newGW(t, Options{})
	fill(t, g.opts.Store, "b", []string{"k"})
	res := g.get(t, "/buckets/empty/keys")
	if wantStatus(t, "GET", "/buckets/empty/keys", res, 200) && string(res.body) != `{"keys":[],"cursor":null}`+"\n" {
		t.Errorf("GET /buckets/empty/keys = %s; want no keys and a null cursor", res.body)
	}
	good := listCursor{offset: 3}.encode()
	p := uint64(9)
	goodProvider := listCursor{provider: &p, offset: 0}.encode()
	tests := []struct {
		query  string
		status int
		detail string
	}{
		{"limit=1", 200, ""},
		{"limit=1000", 200, ""},
		{"limit=0", 400, `"limit"`},
		{"limit=1001", 400, `"limit"`},
		{"limit=-1", 400, `"limit"`},
		{"limit=abc", 400, `"limit"`},
		{"limit=1.5", 400, `"limit"`},
		{"cursor=" + good, 200, ""},
		{"cursor=" + goodProvider, 200, ""},
		{"cursor=", 400, `"cursor"`},
		{"cursor=!!!", 400, `"cursor"`},
		{"cursor=AAAA", 400, `"cursor"`},
		{"cursor=" + good + "A", 400, `"cursor"`},
		{"cursor=AQCAAA", 400, `"cursor"`}, // non-canonical varint
		{"cursor=" + strings.Repeat("A", 65), 400, `"cursor"`},
		{"prefix=", 200, ""},
		{"prefix=%FF", 400, `"prefix"`},
		{"prefix=" + strings.Repeat("p", DefaultMaxKeyBytes+1), 400, `"prefix"`},
		{"unknown=1", 200, ""},
	}
	for _, tt := range tests {
		target := "/buckets/b/keys?" + tt.query
		res := g.get(t, target)
		if tt.status == 200 {
			wantStatus(t, "GET", target, res, 200)
			continue
		}
		wantProblem(t, "GET", target, res, tt.status, "/problems/validation", tt.detail)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []listCursor{{}, {offset: 1 << 40}, {provider: new(uint64)}, {provider: ptr(^uint64(0)), offset: 999}} {
		s := c.encode()
		got, ok := decodeCursor(s)
		if !ok || got.offset != c.offset || (got.provider == nil) != (c.provider == nil) ||
			(c.provider != nil && *got.provider != *c.provider) {
			t.Errorf("decodeCursor(encode(%+v)) = %+v, %v", c, got, ok)
		}
	}
}

func ptr[T any](v T) *T { return &v }
