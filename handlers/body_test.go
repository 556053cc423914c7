package handlers

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestBodyIdleTimeout, over a real server: a body that stops arriving ends with 408 once
// BodyIdleTimeout passes without a byte, storing nothing and freeing its budget; a body that
// arrives slowly but steadily is stored.
func TestBodyIdleTimeout(t *testing.T) {
	g := newGW(t, Options{MaxValueBytes: 1000, MaxBatchBodyBytes: 5000, MaxBufferedBytes: 5000, BodyIdleTimeout: 2 * time.Second})
	srv := httptest.NewServer(g.h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard, not a timing check
	stalled := "PUT " + keyPath("b", "stalled") + " HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 10)
	if _, err := io.WriteString(conn, stalled); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	r := &resp{status: res.StatusCode, header: res.Header, body: body}
	if err := g.validate(httptest.NewRequest(http.MethodPut, keyPath("b", "stalled"), nil), r); err != nil {
		t.Errorf("408 does not match openapi.yaml: %v", err)
	}
	if p := r.problem(t); r.status != http.StatusRequestTimeout || p.Type != "/problems/body-timeout" {
		t.Fatalf("stalled body = %d %+v; want 408 body-timeout", r.status, p)
	}
	wantStatus(t, "GET", "stalled", g.get(t, keyPath("b", "stalled")), http.StatusNotFound)

	// Its reservation is back: a body of the whole budget goes through.
	items := `{"items": [{"key": "a", "value": "QUJD"}]}`
	items += strings.Repeat(" ", 5000-len(items))
	wantStatus(t, "POST", "batch/set", g.do(t, req{method: http.MethodPost, target: "/buckets/b/batch/set",
		body: strings.NewReader(items), header: map[string]string{"Content-Type": "application/json"}}), http.StatusNoContent)

	// 2.5 s of body, a byte every 250 ms: longer than the idle timeout in total, never idle.
	pr, pw := io.Pipe()
	go func() {
		for i := range 10 {
			time.Sleep(250 * time.Millisecond)
			_, _ = pw.Write([]byte{byte('0' + i)})
		}
		pw.Close()
	}()
	rq, err := http.NewRequest(http.MethodPut, srv.URL+keyPath("b", "steady"), pr)
	if err != nil {
		t.Fatal(err)
	}
	rq.ContentLength = 10
	sr, err := srv.Client().Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	sr.Body.Close()
	if sr.StatusCode != http.StatusNoContent {
		t.Fatalf("steady slow body = %d; want 204", sr.StatusCode)
	}
	if r := g.get(t, keyPath("b", "steady")); string(r.body) != "0123456789" {
		t.Errorf("GET steady = %q; want 0123456789", r.body)
	}
}

// TestResponseIdleTimeout, over a real server: when a client stops reading a large value, the
// handler gives up once BodyIdleTimeout passes without progress (freeing the value), short of
// the whole value, and logs why; a client that reads gets all of it.
func TestResponseIdleTimeout(t *testing.T) {
	sink := &logSink{}
	g := newGW(t, Options{BodyIdleTimeout: time.Second, Logger: slog.New(sink)})
	srv := httptest.NewServer(g.h)
	defer srv.Close()
	value := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16)
	wantStatus(t, "PUT", "big", g.put(t, keyPath("b", "big"), value), http.StatusNoContent)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer, so that the kernel cannot take the whole value off the server.
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := io.WriteString(conn, "GET "+keyPath("b", "big")+" HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The request's log record is written when its handler returns; without a deadline on
	// the writes it never would while nobody reads.
	var attrs map[string]string
	for deadline := time.Now().Add(30 * time.Second); attrs == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the handler still sends 30 s after its client stopped reading")
		}
		time.Sleep(50 * time.Millisecond)
		sink.mu.Lock()
		for _, r := range sink.records {
			a := map[string]string{}
			r.Attrs(func(x slog.Attr) bool { a[x.Key] = x.Value.String(); return true })
			if a["method"] == "GET" && a["path"] == keyPath("b", "big") {
				attrs = a
			}
		}
		sink.mu.Unlock()
	}
	if sent, _ := strconv.Atoi(attrs["bytes"]); sent >= len(value) || !strings.Contains(attrs["error"], "sending the value") {
		t.Fatalf("log of the abandoned GET: %v; want fewer than %d bytes and the send error", attrs, len(value))
	}

	r, err := srv.Client().Get(srv.URL + keyPath("b", "big"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("GET by a reading client: %d bytes, %v; want the %d-byte value", len(got), err, len(value))
	}
}
