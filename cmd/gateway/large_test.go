package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wrpc-kv/gateway/internal/natstest"
)

// Values up to --max-value-bytes through a NATS server of stock max_payload (1 MiB): the
// JetStream provider stores those over one message in chunks. With the embedded defaults as
// well as a standalone provider on an external server, the values come back byte for byte,
// overwrites and deletes answer as for small values, and the served document's
// maxValueBytes is what the provider stores.
func TestLargeValuesOnStockNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("moves tens of MiB")
	}
	ns := natstest.Run(t, natstest.JetStream(t.TempDir()))
	startGateway(t, "provider", "--nats-url", ns.ClientURL())
	external := startGateway(t, "--nats-url", ns.ClientURL())
	embedded := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")

	dir := t.TempDir()
	file := func(name string, v []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, v, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	value := func(n int, seed byte) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = seed ^ byte(i*7+i>>11)
		}
		return v
	}
	for name, gw := range map[string]*gatewayProc{"external": external, "embedded": embedded} {
		var spec struct {
			Info struct {
				Limits struct {
					MaxValueBytes int `json:"maxValueBytes"`
				} `json:"x-limits"`
			}
		}
		r := curl(t, gw.url+"/openapi.json")
		expectStatus(t, name+": GET /openapi.json", r, 200)
		if err := json.Unmarshal(r.body, &spec); err != nil || spec.Info.Limits.MaxValueBytes != 16<<20 {
			t.Fatalf("%s: x-limits.maxValueBytes = %d, %v; want 16 MiB", name, spec.Info.Limits.MaxValueBytes, err)
		}
		for i, n := range []int{1 << 20, 1<<20 + 1, 5<<20 + 3, 16 << 20} {
			key := gw.url + "/buckets/large/keys/k"
			v := value(n, byte(i))
			r := curl(t, "-X", "PUT", "--data-binary", "@"+file(name, v), "-H", "Content-Type: application/octet-stream", key)
			if r.status != 204 && r.status != 200 {
				t.Fatalf("%s: PUT of %d bytes = %d %s", name, n, r.status, r.body)
			}
			r = curl(t, key)
			expectStatus(t, name+": GET", r, 200)
			if !bytes.Equal(r.body, v) {
				t.Fatalf("%s: GET of the %d-byte value answered %d bytes, not the value", name, n, len(r.body))
			}
		}
		r = curl(t, "-X", "PUT", "--data-binary", "@"+file(name, value(16<<20+1, 9)), gw.url+"/buckets/large/keys/k")
		expectStatus(t, name+": PUT over --max-value-bytes", r, 413)
		// A large body cut short (the client went away half way) stores nothing: the
		// value before is still there.
		brokenPut(t, gw.url, "/buckets/large/keys/k", 3<<20, 3<<19)
		r = curl(t, gw.url+"/buckets/large/keys/k")
		if r.status != 200 || len(r.body) != 16<<20 {
			t.Fatalf("%s: after a PUT cut short, GET = %d, %d bytes; want the 16 MiB value before", name, r.status, len(r.body))
		}
		r = curl(t, "-X", "DELETE", gw.url+"/buckets/large/keys/k")
		expectStatus(t, name+": DELETE", r, 204)
		expectStatus(t, name+": GET after DELETE", curl(t, gw.url+"/buckets/large/keys/k"), 404)
	}
}

// brokenPut sends a PUT announcing size bytes, sends sent of them and closes the connection.
func brokenPut(t *testing.T, base, path string, size, sent int) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", path, u.Host, size)
	if _, err := conn.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the gateway is streaming what arrived to the provider
}
