package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startRustPeer runs interop/rustpeer serving prefix on natsURL until the test ends.
func startRustPeer(t *testing.T, natsURL, prefix string) {
	t.Helper()
	cmd := exec.Command(cargoBinary(t, "rustpeer", "RUSTPEER_BIN"), "serve", "--nats", natsURL, "--prefix", prefix)
	startChild(t, "rustpeer", cmd, "")
}

const routesFile = `
targets:
  local: {embedded: true}
  mem:
    prefix: mem.kv
    limits: {max_value_bytes: 100}
  rust: {prefix: rust.kv}
  wc:
    prefix: lat.kvwc
    headers: {source-id: comp}
routes:
  - {bucket: users, target: wc, as: data, headers: {link-name: link-a}}
  - {bucket: orders, target: wc, as: data, headers: {link-name: link-b}}
  - {bucket: "mem-*", target: mem}
  - {bucket: "rust-*", target: rust}
  - {bucket: "local-*", target: local}
`

// One gateway in front of four providers: its embedded JetStream one, a standalone memory one
// without atomics and batch, the official Rust implementation, and one built on
// wasmcloud-provider-sdk with two links, each reached through its own link-name header under
// one provider bucket. The routes file reloads under load without a failed request.
func TestRoutesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(routesFile), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0", "--routes", path)
	startGateway(t, "provider", "--nats-url", gw.nats, "--backend", "memory", "--prefix", "mem.kv", "--interfaces", "store")
	startRustPeer(t, gw.nats, "rust.kv")
	startWCProvider(t, gw.nats, "lat", "kvwc",
		wcLink{"comp", "link-a", map[string]string{"NAME": "A"}},
		wcLink{"comp", "link-b", map[string]string{"NAME": "B"}})

	put := func(path, value string) response {
		return curl(t, "-X", "PUT", "--data-binary", value, gw.url+path)
	}
	for _, b := range []string{"local-1", "mem-1", "rust-1", "users", "orders"} {
		expectStatus(t, "PUT "+b, put("/buckets/"+b+"/keys/k", "v-"+b), 204)
	}
	for _, b := range []string{"local-1", "mem-1", "rust-1", "users", "orders"} {
		if r := curl(t, gw.url+"/buckets/"+b+"/keys/k"); r.status != 200 || string(r.body) != "v-"+b {
			t.Errorf("GET %s/k = %d %s; want its own value", b, r.status, r.body)
		}
	}
	// users and orders are one provider bucket ("data") through two links.
	for b, want := range map[string]string{"users": "A", "orders": "B"} {
		if r := curl(t, gw.url+"/buckets/"+b+"/keys/__link"); string(r.body) != want {
			t.Errorf("GET %s/__link = %s; want link %s", b, r.body, want)
		}
	}
	r := curl(t, gw.url+"/buckets/nowhere/keys/k")
	expectStatus(t, "GET a bucket no route matches", r, 404)
	if !bytes.Contains(r.body, []byte("/problems/no-such-store")) {
		t.Errorf("no route: %s", r.body)
	}
	// The memory provider has neither atomics nor batch.
	r = curl(t, "-X", "POST", gw.url+"/buckets/mem-1/keys/n/increment")
	expectStatus(t, "increment without atomics", r, 501)
	if r.header.Get("Retry-After") != "" || !bytes.Contains(r.body, []byte("/problems/not-implemented")) {
		t.Errorf("501 = %s %v", r.body, r.header)
	}
	expectStatus(t, "increment on local", curl(t, "-X", "POST", gw.url+"/buckets/local-1/keys/n/increment"), 200)
	r = curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", `{"keys":["k","x"]}`, gw.url+"/buckets/mem-1/batch/get?encoding=utf8")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`{"key":"k","value":"v-mem-1"}`)) {
		t.Errorf("batch/get through the fallback = %d %s", r.status, r.body)
	}
	var info struct {
		Target, ProviderBucket string
		Interfaces             map[string]string
		Limits                 struct{ MaxValueBytes int64 }
	}
	r = curl(t, gw.url+"/buckets/mem-1")
	if err := json.Unmarshal(r.body, &info); err != nil || info.Target != "mem" || info.Interfaces["atomics"] != "not-served" ||
		info.Interfaces["batch"] != "fallback" || info.Interfaces["store"] != "served" || info.Limits.MaxValueBytes != 100 {
		t.Errorf("GET /buckets/mem-1 = %s", r.body)
	}
	r = curl(t, gw.url+"/buckets/users")
	if err := json.Unmarshal(r.body, &info); err != nil || info.Target != "wc" || info.ProviderBucket != "data" || info.Interfaces["batch"] != "served" {
		t.Errorf("GET /buckets/users = %s", r.body)
	}
	expectStatus(t, "PUT over the mem target's limit", put("/buckets/mem-1/keys/big", strings.Repeat("x", 101)), 413)
	expectStatus(t, "PUT of that size elsewhere", put("/buckets/local-1/keys/big", strings.Repeat("x", 101)), 204)
	r = curl(t, gw.url+"/readyz?verbose")
	if r.status != 200 || strings.Count(string(r.body), `"ready":true`) != 4 {
		t.Errorf("GET /readyz?verbose = %d %s", r.status, r.body)
	}
	if r := curl(t, gw.url+"/openapi.yaml"); !bytes.Contains(r.body, []byte("x-routes:")) || !bytes.Contains(r.body, []byte("target: wc")) {
		t.Error("the served document does not state the routes")
	}

	// Reload under load: the routes change (a new route, a new target) and go back, with
	// SIGHUP and by the file changing; no request fails.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 10 * time.Second}
	for _, b := range []string{"local-1", "users", "rust-1", "mem-1"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Get(gw.url + "/buckets/" + b + "/keys/k")
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
				}
				if res != nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				done.Add(1)
			}
		})
	}
	more := routesFile + "  - {bucket: \"extra-*\", target: extra}\n"
	more = strings.Replace(more, "targets:\n", "targets:\n  extra: {embedded: true}\n", 1)
	for i := range 6 {
		text := routesFile
		if i%2 == 0 {
			text = more
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = gw.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
	}
	if err := os.WriteFile(path, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for put("/buckets/extra-1/keys/k", "e").status != 204 {
		if time.Now().After(deadline) {
			t.Fatal("the new route does not work 10 s after the reload")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A broken file keeps the routes in force, and the log says why.
	if err := os.WriteFile(path, []byte("routes: [{bucket: x, target: missing}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(gw.logs.String(), "routes not reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no log line says the broken routes file was not loaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectStatus(t, "GET extra-1 after a broken routes file", curl(t, gw.url+"/buckets/extra-1/keys/k"), 200)
	close(stop)
	wg.Wait()
	t.Logf("%d requests during 8 reloads, %d failed", done.Load(), failed.Load())
	if failed.Load() != 0 || done.Load() == 0 {
		t.Errorf("%d of %d requests failed while the routes reloaded", failed.Load(), done.Load())
	}
}
