package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/wrpc-kv/gateway/internal/natstest"
)

// The end-to-end tests run the built binary the way a user does and talk to it with curl.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// gatewayBinary builds the command once per test run, or uses $GATEWAY_BIN.
func gatewayBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("GATEWAY_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "gateway-e2e-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type gatewayProc struct {
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port, without a trailing slash
	nats string // the embedded NATS server's client URL, if any
	// metrics is the URL of /metrics with --metrics-addr, logged before the process listens.
	metrics string
	logs    *syncBuffer
	done    chan error
}

// startGateway runs the binary with JSON logs on random loopback ports and waits until it
// listens. The process is killed when the test ends if it is still running.
func startGateway(t *testing.T, args ...string) *gatewayProc {
	t.Helper()
	return startGatewayEnv(t, nil, args...)
}

// startGatewayEnv is startGateway with more environment variables.
func startGatewayEnv(t *testing.T, env []string, args ...string) *gatewayProc {
	t.Helper()
	if len(args) > 0 && args[0] == "provider" {
		args = append([]string{"provider", "--log-format", "json"}, args[1:]...)
	} else {
		args = append([]string{"--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	}
	cmd := exec.Command(gatewayBinary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	logs := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd, logs: logs, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("gateway %v logs:\n%s", args, logs.String())
		}
	})
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			var line struct{ Msg, URL, NATS, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "embedded NATS server ready":
				p.nats = "nats://" + line.Addr
			case "metrics listening":
				p.metrics = line.URL
				continue
			case "gateway listening":
				p.url = strings.TrimSuffix(line.URL, "/")
			case "provider serving":
				if args[0] != "provider" {
					continue
				}
				p.url = "provider"
			default:
				continue
			}
			if p.url != "" && !closed {
				closed = true
				close(found)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-found:
	case err := <-p.done:
		p.done <- err // for the cleanup
		t.Fatalf("gateway exited before listening: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway not listening after 60 s\n%s", logs.String())
	}
	return p
}

// cleanEnv keeps GATEWAY_* settings of the machine running the tests out of the gateway,
// except the credentials a test sets itself.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) || strings.HasPrefix(kv, envPrefix+"NATS_USER=") ||
			strings.HasPrefix(kv, envPrefix+"NATS_PASSWORD=") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends sig and waits for the process to exit.
func (p *gatewayProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not exit 60 s after %v", sig)
		return nil
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// curl runs curl with args against the gateway and returns what it answered.
func curl(t *testing.T, args ...string) response {
	t.Helper()
	dir := t.TempDir()
	body, headers := filepath.Join(dir, "body"), filepath.Join(dir, "headers")
	all := append([]string{"-sS", "--max-time", "30", "-o", body, "-D", headers, "-w", "%{http_code}"}, args...)
	out, err := exec.Command("curl", all...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", strings.Join(args, " "), err)
	}
	var r response
	if _, err := fmt.Sscan(string(out), &r.status); err != nil {
		t.Fatalf("curl %s: status %q", strings.Join(args, " "), out)
	}
	r.body, _ = os.ReadFile(body)
	raw, _ := os.ReadFile(headers)
	r.header = http.Header{}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			r.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return r
}

func expectStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s = %d; want %d\n%s", what, r.status, want, r.body)
	}
}

func TestBinaryEndToEnd(t *testing.T) {
	data := t.TempDir()
	gw := startGateway(t, "--data-dir", data, "--nats-listen", "127.0.0.1:0")
	key := gw.url + "/buckets/e2e%20b%C3%BCcket/keys/dir%2Ffile%20%F0%9F%94%91"

	binary := make([]byte, 256*1024)
	for i := range binary {
		binary[i] = byte(i)
	}
	file := filepath.Join(t.TempDir(), "value.bin")
	if err := os.WriteFile(file, binary, 0o600); err != nil {
		t.Fatal(err)
	}

	expectStatus(t, "GET healthz", curl(t, gw.url+"/healthz"), 200)
	expectStatus(t, "GET readyz", curl(t, gw.url+"/readyz"), 200)
	expectStatus(t, "GET missing", curl(t, key), 404)
	expectStatus(t, "HEAD missing", curl(t, "-I", key), 404)
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "-H", "Content-Type: image/png", "--data-binary", "@"+file, key), 204)

	r := curl(t, key)
	expectStatus(t, "GET", r, 200)
	if !bytes.Equal(r.body, binary) {
		t.Fatalf("GET returned %d bytes; want the %d bytes put", len(r.body), len(binary))
	}
	for h, want := range map[string]string{"Content-Type": "application/octet-stream", "X-Content-Type-Options": "nosniff",
		"Content-Length": fmt.Sprint(len(binary))} {
		if got := r.header.Get(h); got != want {
			t.Errorf("GET %s: %q; want %q", h, got, want)
		}
	}
	if !strings.Contains(r.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("GET Content-Security-Policy = %q; want a sandbox", r.header.Get("Content-Security-Policy"))
	}
	etag := r.header.Get("ETag")
	expectStatus(t, "GET If-None-Match", curl(t, "-H", "If-None-Match: "+etag, key), 304)
	expectStatus(t, "HEAD", curl(t, "-I", key), 200)

	list := curl(t, gw.url+"/buckets/e2e%20b%C3%BCcket/keys?limit=10")
	expectStatus(t, "GET keys", list, 200)
	if !strings.Contains(string(list.body), `"dir/file 🔑"`) {
		t.Errorf("list = %s; want the key", list.body)
	}

	counter := gw.url + "/buckets/e2e/keys/hits/increment"
	expectStatus(t, "POST increment", curl(t, "-X", "POST", counter), 200)
	r = curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"delta": 5}`, counter)
	expectStatus(t, "POST increment 5", r, 200)
	if !strings.Contains(string(r.body), `"value":6`) {
		t.Errorf("increment = %s; want value 6", r.body)
	}

	batch := gw.url + "/buckets/e2e/batch"
	expectStatus(t, "POST batch/set", curl(t, "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"items":[{"key":"a","value":"aGVsbG8="},{"key":"b","value":""}]}`, batch+"/set"), 204)
	r = curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"keys":["a","nope","b"]}`, batch+"/get?encoding=utf8")
	expectStatus(t, "POST batch/get", r, 200)
	var got struct {
		Items []struct {
			Key   string
			Value *string
		}
	}
	if err := json.Unmarshal(r.body, &got); err != nil || len(got.Items) != 3 || got.Items[0].Value == nil ||
		*got.Items[0].Value != "hello" || got.Items[1].Value != nil || got.Items[2].Value == nil || *got.Items[2].Value != "" {
		t.Fatalf("batch/get = %s", r.body)
	}
	expectStatus(t, "POST batch/delete", curl(t, "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"keys":["b"]}`, batch+"/delete"), 204)
	expectStatus(t, "GET openapi.yaml", curl(t, gw.url+"/openapi.yaml"), 200)
	expectStatus(t, "GET openapi.json", curl(t, gw.url+"/openapi.json"), 200)
	expectStatus(t, "GET /", curl(t, gw.url+"/"), 200)

	// kill -9 loses no acknowledged write.
	if err := gw.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("gateway exited cleanly after SIGKILL")
	}
	gw = startGateway(t, "--data-dir", data, "--nats-listen", "127.0.0.1:0")
	key = gw.url + "/buckets/e2e%20b%C3%BCcket/keys/dir%2Ffile%20%F0%9F%94%91"
	r = curl(t, key)
	expectStatus(t, "GET after kill -9 and restart", r, 200)
	if !bytes.Equal(r.body, binary) {
		t.Fatalf("after restart GET returned %d bytes; want the %d bytes put before", len(r.body), len(binary))
	}
	r = curl(t, "-X", "POST", gw.url+"/buckets/e2e/keys/hits/increment")
	if !strings.Contains(string(r.body), `"value":7`) {
		t.Errorf("increment after restart = %s; want value 7", r.body)
	}
	expectStatus(t, "deleted key after restart", curl(t, gw.url+"/buckets/e2e/keys/b"), 404)
	r = curl(t, gw.url+"/buckets/e2e/keys/a")
	if string(r.body) != "hello" {
		t.Errorf("batch-set key after restart = %q; want hello", r.body)
	}

	// SIGTERM shuts down cleanly.
	if err := gw.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for _, want := range []string{"shutting down", "embedded NATS server stopped"} {
		if !strings.Contains(gw.logs.String(), want) {
			t.Errorf("shutdown logs lack %q", want)
		}
	}
}

// TestSharedCluster runs the pieces apart, as at scale: one gateway embeds NATS, a standalone
// provider and a second gateway join it with --nats-url.
func TestSharedCluster(t *testing.T) {
	first := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	startGateway(t, "provider", "--nats-url", first.nats, "--backend", "memory", "--prefix", "lattice.shared")
	second := startGateway(t, "--nats-url", first.nats, "--prefix", "lattice.shared")

	key := second.url + "/buckets/b/keys/k"
	expectStatus(t, "PUT via second gateway", curl(t, "-X", "PUT", "--data-binary", "shared", key), 204)
	if r := curl(t, key); string(r.body) != "shared" {
		t.Fatalf("GET via second gateway = %q", r.body)
	}
	// The first gateway talks to its own embedded provider under another prefix.
	expectStatus(t, "GET via first gateway", curl(t, first.url+"/buckets/b/keys/k"), 404)

	nobody := startGateway(t, "--nats-url", first.nats, "--prefix", "lattice.nobody")
	start := time.Now()
	r := curl(t, nobody.url+"/buckets/b/keys/k")
	expectStatus(t, "GET with nobody serving", r, 503)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// 503 and not 504 shows the gateway did not wait for its timeout; the time is reported.
	t.Logf("503 no-responders answered in %v (curl process included)", time.Since(start))
	expectStatus(t, "readyz with nobody serving", curl(t, nobody.url+"/readyz"), 503)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"provider", "--help"}} {
		out, err := exec.Command(gatewayBinary(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"--nats-url", "GATEWAY_NATS_URL", "--prefix"} {
			if !strings.Contains(string(out), strings.TrimPrefix(want, "-")) {
				t.Errorf("%v output lacks %q:\n%s", args, want, out)
			}
		}
	}
	out, err := exec.Command(gatewayBinary(t), "--provider", "bogus").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "--provider") {
		t.Errorf("--provider bogus: exit %d, %s", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestBinaryLimitsAndConcurrency: the largest value round-trips through the embedded
// JetStream provider and one byte more is refused; concurrent increments lose nothing.
func TestBinaryLimitsAndConcurrency(t *testing.T) {
	gw := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
	dir := t.TempDir()
	big := bytes.Repeat([]byte{0x00, 0xff, 0x7f}, (16<<20)/3+1)[:16<<20]
	file := filepath.Join(dir, "16MiB")
	if err := os.WriteFile(file, big, 0o600); err != nil {
		t.Fatal(err)
	}
	key := gw.url + "/buckets/big/keys/v"
	expectStatus(t, "PUT 16 MiB", curl(t, "-X", "PUT", "--data-binary", "@"+file, key), 204)
	r := curl(t, key)
	if r.status != 200 || !bytes.Equal(r.body, big) {
		t.Fatalf("GET 16 MiB = %d, %d bytes; want the same 16 MiB", r.status, len(r.body))
	}
	if err := os.WriteFile(file, append(big, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r = curl(t, "-X", "PUT", "--data-binary", "@"+file, key)
	expectStatus(t, "PUT 16 MiB + 1", r, 413)
	if !strings.Contains(string(r.body), "16777216") {
		t.Errorf("413 body does not state the limit: %s", r.body)
	}

	const workers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				resp, err := http.Post(gw.url+"/buckets/c/keys/n/increment", "application/json", strings.NewReader(`{"delta":3}`))
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("increment = %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if r := curl(t, gw.url+"/buckets/c/keys/n"); string(r.body) != fmt.Sprint(workers*each*3) {
		t.Fatalf("counter after %d concurrent increments of 3 = %q; want %d", workers*each, r.body, workers*each*3)
	}
}

// TestExternalNATSCredentials joins NATS servers that require a token or a user and password,
// given by flag or by environment variable; wrong credentials stop the gateway with an error.
func TestExternalNATSCredentials(t *testing.T) {
	tokenNATS := natstest.Run(t, natstest.Token("s3cret"))
	gw := startGateway(t, "--nats-url", tokenNATS.ClientURL(), "--nats-token", "s3cret", "--provider", "memory")
	expectStatus(t, "PUT with token auth", curl(t, "-X", "PUT", "--data-binary", "x", gw.url+"/buckets/b/keys/k"), 204)

	userNATS := natstest.Run(t, natstest.UserPassword("gw", "pa55"))
	t.Setenv("GATEWAY_NATS_USER", "gw")
	t.Setenv("GATEWAY_NATS_PASSWORD", "pa55")
	gw = startGateway(t, "--nats-url", userNATS.ClientURL(), "--provider", "memory")
	expectStatus(t, "readyz with user/password from the environment", curl(t, gw.url+"/readyz"), 200)

	cmd := exec.Command(gatewayBinary(t), "--http-addr", "127.0.0.1:0", "--nats-url", tokenNATS.ClientURL(), "--nats-token", "wrong")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(strings.ToLower(string(out)), "authorization") {
		t.Fatalf("wrong token: exit %d\n%s", exitCode(err), out)
	}
}

// TestExternalNATSTLS joins NATS servers that require TLS, trusting their CA by --nats-tls-ca,
// and one that also requires a client certificate (--nats-tls-cert and --nats-tls-key).
func TestExternalNATSTLS(t *testing.T) {
	tlsOpt, files := natstest.TLS(t, t.TempDir(), false)
	ns := natstest.Run(t, tlsOpt)
	url := "tls://" + ns.Addr().String()
	gw := startGateway(t, "--nats-url", url, "--nats-tls-ca", files.CA, "--provider", "memory")
	expectStatus(t, "PUT over NATS with TLS", curl(t, "-X", "PUT", "--data-binary", "x", gw.url+"/buckets/b/keys/k"), 204)

	cmd := exec.Command(gatewayBinary(t), "--http-addr", "127.0.0.1:0", "--nats-url", url)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "certificate") {
		t.Fatalf("TLS without the CA: exit %d\n%s", exitCode(err), out)
	}

	mtlsOpt, mfiles := natstest.TLS(t, t.TempDir(), true)
	mns := natstest.Run(t, mtlsOpt)
	murl := "tls://" + mns.Addr().String()
	gw = startGateway(t, "--nats-url", murl, "--nats-tls-ca", mfiles.CA,
		"--nats-tls-cert", mfiles.ClientCert, "--nats-tls-key", mfiles.ClientKey, "--provider", "memory")
	expectStatus(t, "PUT over NATS with mutual TLS", curl(t, "-X", "PUT", "--data-binary", "x", gw.url+"/buckets/b/keys/k"), 204)

	cmd = exec.Command(gatewayBinary(t), "--http-addr", "127.0.0.1:0", "--nats-url", murl, "--nats-tls-ca", mfiles.CA)
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); exitCode(err) != 1 {
		t.Fatalf("mutual TLS without a client certificate: exit %d\n%s", exitCode(err), out)
	}
}

// TestGracefulShutdown sends SIGTERM while a slow upload is in flight: the upload completes,
// the gateway exits cleanly, and the value is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	data := t.TempDir()
	gw := startGateway(t, "--data-dir", data, "--nats-listen", "127.0.0.1:0")
	value := bytes.Repeat([]byte("graceful"), (2<<20)/8)
	body := &slowReader{data: value, started: make(chan struct{})}
	req, err := http.NewRequest(http.MethodPut, gw.url+"/buckets/b/keys/slow", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(value))
	// With "Expect: 100-continue" the client sends no body until the handler asks for it, so
	// the first read of the body proves the server is serving the request. Without it, the
	// signal could arrive before the server had even accepted the connection: that request
	// was never in flight, and a shutdown rightly drops it.
	req.Header.Set("Expect", "100-continue")
	httpClient := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer httpClient.CloseIdleConnections()
	done := make(chan error, 1)
	go func() {
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	<-body.started // the connection is up and the body is on its way
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("PUT in flight during SIGTERM: %v", err)
	}
	if err := gw.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	gw = startGateway(t, "--data-dir", data, "--nats-listen", "127.0.0.1:0")
	if r := curl(t, gw.url+"/buckets/b/keys/slow"); !bytes.Equal(r.body, value) {
		t.Fatalf("after restart the upload is %d bytes; want %d", len(r.body), len(value))
	}
}

// slowReader hands out its data 64 KiB at a time, 50 ms apart (about 1.6 s for 2 MiB), and
// closes started on the first read.
type slowReader struct {
	data    []byte
	started chan struct{}
	reads   int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.reads == 0 {
		close(r.started)
	} else {
		time.Sleep(50 * time.Millisecond)
	}
	r.reads++
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestExternalNATSNKey joins a NATS server that requires an nkey user, with the seed file
// given by --nats-nkey.
func TestExternalNATSNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natstest.Run(t, natstest.NKeyUser(pub))
	gw := startGateway(t, "--nats-url", ns.ClientURL(), "--nats-nkey", seedFile, "--provider", "memory")
	expectStatus(t, "PUT with nkey auth", curl(t, "-X", "PUT", "--data-binary", "x", gw.url+"/buckets/b/keys/k"), 204)

	cmd := exec.Command(gatewayBinary(t), "--http-addr", "127.0.0.1:0", "--nats-url", ns.ClientURL())
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(strings.ToLower(string(out)), "authorization") {
		t.Fatalf("no nkey: exit %d\n%s", exitCode(err), out)
	}
}

// TestExternalNATSCredsFile joins a NATS server in operator mode with a credentials file.
func TestExternalNATSCredsFile(t *testing.T) {
	opt, creds := natstest.Operator(t, t.TempDir())
	ns := natstest.Run(t, opt)
	gw := startGateway(t, "--nats-url", ns.ClientURL(), "--nats-creds", creds, "--provider", "memory")
	expectStatus(t, "PUT with a creds file", curl(t, "-X", "PUT", "--data-binary", "x", gw.url+"/buckets/b/keys/k"), 204)
	if r := curl(t, gw.url+"/buckets/b/keys/k"); string(r.body) != "x" {
		t.Fatalf("GET = %q", r.body)
	}
}

// TestDeleteMarkerTTL: with --delete-marker-ttl the marker of a deleted key leaves the
// embedded JetStream bucket after that time, so deleting keys does not grow the data.
func TestDeleteMarkerTTL(t *testing.T) {
	gw := startGateway(t, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0", "--delete-marker-ttl", "1s")
	key := gw.url + "/buckets/markers/keys/k"
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "--data-binary", "v", key), 204)
	expectStatus(t, "DELETE", curl(t, "-X", "DELETE", key), 204)
	expectStatus(t, "GET after DELETE", curl(t, key), 404)

	nc, err := nats.Connect(gw.nats)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "markers")
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Values() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the bucket still holds %d messages; want none once the delete marker expires", st.Values())
		case <-time.After(100 * time.Millisecond):
		}
	}
	expectStatus(t, "GET after the marker expired", curl(t, key), 404)
}

// TestFaultsUnderGateway runs a gateway and a standalone JetStream provider on an external NATS
// server, then takes each away: with the provider killed, requests get 503 no-responders at
// once and work again when a provider is back; with NATS down, they get 503 unavailable and
// work again, data intact, once NATS is back on its address.
func TestFaultsUnderGateway(t *testing.T) {
	store := t.TempDir()
	ns := natstest.Run(t, natstest.JetStream(store))
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	prov := startGateway(t, "provider", "--nats-url", url)
	gw := startGateway(t, "--nats-url", url)
	key := gw.url + "/buckets/faults/keys/k"
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "--data-binary", "kept", key), 204)

	unavailable := func(what, problemType string) {
		t.Helper()
		r := curl(t, key)
		expectStatus(t, what, r, 503)
		if r.header.Get("Retry-After") == "" || !bytes.Contains(r.body, []byte(problemType)) {
			t.Fatalf("%s: Retry-After %q, body %s; want Retry-After and a %s problem",
				what, r.header.Get("Retry-After"), r.body, problemType)
		}
		expectStatus(t, what+": readyz", curl(t, gw.url+"/readyz"), 503)
	}
	// back polls until the value reads again: reconnecting takes the clients a moment.
	back := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := curl(t, key)
			if r.status == 200 && string(r.body) == "kept" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: GET = %d %s 30 s later; want 200 kept", what, r.status, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		expectStatus(t, what+": readyz", curl(t, gw.url+"/readyz"), 200)
	}

	_ = prov.stop(t, syscall.SIGKILL)
	unavailable("GET with the provider killed", "no-responders")
	startGateway(t, "provider", "--nats-url", url)
	back("after a new provider started")

	ns.Shutdown()
	ns.WaitForShutdown()
	unavailable("GET with NATS down", "unavailable")
	natstest.Run(t, natstest.JetStream(store), natstest.Port(port))
	back("after NATS restarted")
	expectStatus(t, "PUT after NATS restarted", curl(t, "-X", "PUT", "--data-binary", "new", gw.url+"/buckets/faults/keys/k2"), 204)
}

// TestLeastPrivilegeNATS runs a gateway and a standalone JetStream provider as NATS users
// holding exactly the permissions the README lists for them, and uses every kind of route.
func TestLeastPrivilegeNATS(t *testing.T) {
	const prefix = "lattice.kv"
	ns := natstest.Run(t, natstest.JetStream(t.TempDir()), natstest.Users(
		&server.User{Username: "gateway", Password: "gw-pass", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{prefix + ".wrpc.>", "_INBOX.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}},
		&server.User{Username: "provider", Password: "prov-pass", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"_INBOX.>", "$JS.API.>", "$KV.>", "$KVC.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{prefix + ".wrpc.>", "_INBOX.>"}},
		}},
	))
	startGateway(t, "provider", "--nats-url", ns.ClientURL(), "--nats-user", "provider", "--nats-password", "prov-pass", "--prefix", prefix)
	gw := startGateway(t, "--nats-url", ns.ClientURL(), "--nats-user", "gateway", "--nats-password", "gw-pass", "--prefix", prefix)

	b := gw.url + "/buckets/Least%20privilege"
	expectStatus(t, "readyz", curl(t, gw.url+"/readyz"), 200)
	expectStatus(t, "PUT", curl(t, "-X", "PUT", "--data-binary", "v", b+"/keys/k"), 204)
	if r := curl(t, b+"/keys/k"); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("GET = %d %q", r.status, r.body)
	}
	expectStatus(t, "HEAD", curl(t, "-I", b+"/keys/k"), 200)
	expectStatus(t, "increment", curl(t, "-X", "POST", b+"/keys/n/increment"), 200)
	expectStatus(t, "list", curl(t, b+"/keys?limit=1"), 200)
	expectStatus(t, "batch get", curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"keys":["k","n"]}`, b+"/batch/get"), 200)
	expectStatus(t, "batch set", curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"items":[{"key":"a","value":"dg=="}]}`, b+"/batch/set"), 204)
	expectStatus(t, "batch delete", curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"keys":["a"]}`, b+"/batch/delete"), 204)
	expectStatus(t, "DELETE", curl(t, "-X", "DELETE", b+"/keys/k"), 204)
	expectStatus(t, "GET after DELETE", curl(t, b+"/keys/k"), 404)
	// A value over max_payload: its chunks go to $KVC.<bucket>.> (and the bucket's stream is
	// updated to take them, through $JS.API).
	large := filepath.Join(t.TempDir(), "large")
	if err := os.WriteFile(large, bytes.Repeat([]byte("0123456789abcdef"), 3<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "PUT of 3 MiB", curl(t, "-X", "PUT", "--data-binary", "@"+large, b+"/keys/large"), 204)
	if r := curl(t, b+"/keys/large"); r.status != 200 || len(r.body) != 3<<20 {
		t.Fatalf("GET of 3 MiB = %d, %d bytes", r.status, len(r.body))
	}
}
