package handlers

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestBodyBudget: while one upload holds the whole body budget, another request waits
// BufferWait and gets 503 unavailable with Retry-After, storing nothing; once the upload ends
// the budget is free again, also after a request that failed.
func TestBodyBudget(t *testing.T) {
	g := newGW(t, Options{MaxValueBytes: 1000, MaxBatchBodyBytes: 5000, MaxBufferedBytes: 5000, BufferWait: 100 * time.Millisecond})

	// A batch body of the whole budget arrives slowly: the first bytes, then the rest later.
	items := `{"items": [{"key": "a", "value": "` + strings.Repeat("QUJD", 300) + `"}]}`
	items += strings.Repeat(" ", 5000-len(items))
	pr, pw := io.Pipe()
	held := make(chan *resp, 1)
	go func() {
		held <- g.do(t, req{method: http.MethodPost, target: "/buckets/b/batch/set", body: pr, length: 5000,
			header: map[string]string{"Content-Type": "application/json"}})
	}()
	// Write returns once the handler has read these bytes, so after its reservation.
	if _, err := pw.Write([]byte(items[:10])); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"waiting-1", "waiting-2"} {
		res := g.put(t, keyPath("b", key), []byte("v"))
		wantStatus(t, "PUT", key, res, http.StatusServiceUnavailable)
		if p := res.problem(t); p.Type != "/problems/unavailable" || !strings.Contains(p.Detail, "5000 bytes") || res.header.Get("Retry-After") == "" {
			t.Errorf("503 = %+v, Retry-After %q; want an unavailable problem naming the budget", p, res.header.Get("Retry-After"))
		}
		if r := g.get(t, keyPath("b", key)); r.status != http.StatusNotFound {
			t.Errorf("GET %s after its 503 = %d; want 404, nothing stored", key, r.status)
		}
	}
	// Requests without a body need no budget.
	wantStatus(t, "GET", "a", g.get(t, keyPath("b", "a")), http.StatusNotFound)

	if _, err := pw.Write([]byte(items[10:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wantStatus(t, "POST", "batch/set", <-held, http.StatusNoContent)
	if r := g.get(t, keyPath("b", "a")); !bytes.Equal(r.body, bytes.Repeat([]byte("ABC"), 300)) {
		t.Errorf("GET a = %d, %d bytes; want the 900 bytes of the slow batch", r.status, len(r.body))
	}
	wantStatus(t, "PUT", "after", g.put(t, keyPath("b", "after"), []byte("v")), http.StatusNoContent)

	// A body that ends before its Content-Length, and one that fails while read, give the
	// budget back too.
	short := g.do(t, req{method: http.MethodPut, target: keyPath("b", "short"), body: strings.NewReader("abc"), length: 1000})
	wantStatus(t, "PUT", "short", short, http.StatusBadRequest)
	broken := g.do(t, req{method: http.MethodPut, target: keyPath("b", "broken"), body: iotest.ErrReader(io.ErrClosedPipe), length: 1000})
	wantStatus(t, "PUT", "broken", broken, http.StatusBadRequest)
	// Every reservation is back: a body of the whole budget goes through at once.
	wantStatus(t, "POST", "batch/set", g.do(t, req{method: http.MethodPost, target: "/buckets/b/batch/set",
		body: strings.NewReader(items), header: map[string]string{"Content-Type": "application/json"}}), http.StatusNoContent)
}

// TestReadGrowing: the buffer follows the bytes that arrive, not the declared length.
func TestReadGrowing(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 30000)
	for _, tc := range []struct {
		name string
		r    io.Reader
		n    int64
		want []byte
		err  bool
	}{
		{"exact", bytes.NewReader(data), int64(len(data)), data, false},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:1000])), 1000, data[:1000], false},
		{"shorter than declared", bytes.NewReader(data[:10]), 1 << 30, data[:10], false},
		{"empty", bytes.NewReader(nil), 100, []byte{}, false},
		{"longer than declared", bytes.NewReader(data[:11]), 10, nil, true},
		{"read error", iotest.ErrReader(io.ErrClosedPipe), 10, nil, true},
	} {
		got, err := readGrowing(tc.r, tc.n)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes, error %v", tc.name, len(got), err, len(tc.want), tc.err)
		}
		if tc.name == "shorter than declared" && cap(got) > 64<<10 {
			t.Errorf("a 1 GiB declaration with 10 bytes sent grew the buffer to %d bytes", cap(got))
		}
	}
}
