package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
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

// newToken runs `gateway token new` and returns the token and the auth file entry it printed.
func newToken(t *testing.T, id string, perms ...string) (token, entry string) {
	t.Helper()
	out, err := exec.Command(gatewayBinary(t), append([]string{"token", "new", "--id", id}, perms...)...).Output()
	if err != nil {
		t.Fatalf("gateway token new: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "#   kvgw."):
			token = strings.TrimPrefix(line, "#   ")
		case !strings.HasPrefix(line, "#") && line != "":
			entry += line + "\n"
		}
	}
	if token == "" || !strings.Contains(entry, "hash: $argon2id$") {
		t.Fatalf("gateway token new printed:\n%s", out)
	}
	if strings.Contains(entry, strings.TrimPrefix(token, "kvgw."+id+".")) {
		t.Fatal("the auth file entry holds the secret")
	}
	return token, entry
}

// The binary with --auth-file: tokens made by `gateway token new` work; without one, 401;
// the token id, never the secret, is in the log; SIGHUP reloads the file under load without
// a failed request, and a broken file keeps the previous tokens.
func TestAuthFileEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokA, entryA := newToken(t, "alpha", "*:b")
	tokB, entryB := newToken(t, "beta", "read:b")
	path := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n"+entryA), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0", "--auth-file", path)
	key := gw.url + "/buckets/b/keys/k"
	r := curl(t, key)
	expectStatus(t, "GET without a token", r, 401)
	if !strings.HasPrefix(r.header.Get("Www-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	expectStatus(t, "PUT with alpha", curl(t, "-X", "PUT", "-H", "Authorization: Bearer "+tokA, "--data-binary", "v", key), 204)
	expectStatus(t, "GET with beta before it is in the file", curl(t, "-H", "Authorization: Bearer "+tokB, key), 401)

	// Load with alpha while the file changes and is reloaded.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, key, nil)
				req.Header.Set("Authorization", "Bearer "+tokA)
				res, err := c.Do(req)
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
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(path, []byte("tokens:\n"+entryA+entryB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for curl(t, "-H", "Authorization: Bearer "+tokB, key).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("beta not accepted 10 s after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken file keeps the tokens in force and says why.
	if err := os.WriteFile(path, []byte("tokens: [broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(gw.logs.String(), "credentials not reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no log line saying the broken file was not loaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectStatus(t, "GET with beta after a broken file", curl(t, "-H", "Authorization: Bearer "+tokB, key), 200)
	expectStatus(t, "PUT with beta (read only)", curl(t, "-X", "PUT", "-H", "Authorization: Bearer "+tokB, "--data-binary", "v", key), 403)
	close(stop)
	wg.Wait()
	t.Logf("%d requests during the reloads, %d failed", done.Load(), failed.Load())
	if failed.Load() != 0 || done.Load() == 0 {
		t.Errorf("%d of %d requests failed during the reloads", failed.Load(), done.Load())
	}
	logs := gw.logs.String()
	if !strings.Contains(logs, `"token_id":"alpha"`) {
		t.Error("the request log lines do not name the token id")
	}
	for _, secret := range []string{tokA, tokB, tokA[len(tokA)-20:]} {
		if strings.Contains(logs, secret) {
			t.Error("a secret is in the log")
		}
	}
	r = curl(t, gw.url+"/metrics")
	if bytes.Contains(r.body, []byte(tokA[len(tokA)-20:])) || bytes.Contains(r.body, []byte("alpha")) {
		t.Error("the metrics name a token")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with serial and its key.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Written to a temporary name and renamed, as certificate tools do.
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(file+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial is the serial number of the certificate addr serves.
func servedSerial(t *testing.T, addr string) (int64, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return st.PeerCertificates[0].SerialNumber.Int64(), st.NegotiatedProtocol
}

// --tls-cert and --tls-key serve HTTPS with HTTP/2, and a renewed certificate is served
// without a restart. Credentials over plain HTTP on a reachable address are warned about.
func TestTLSAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, 1)
	tok, entry := newToken(t, "tls", "*:*")
	path := filepath.Join(dir, "auth.yaml")
	_ = os.WriteFile(path, []byte("tokens:\n"+entry), 0o600)
	gw := startGateway(t, "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0", "--auth-file", path,
		"--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(gw.url, "https://") {
		t.Fatalf("gateway URL %s; want https", gw.url)
	}
	addr := strings.TrimPrefix(gw.url, "https://")
	out, err := exec.Command("curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
		"-H", "Authorization: Bearer "+tok, gw.url+"/whoami").Output()
	if err != nil || string(out) != "200 2" {
		t.Fatalf("curl --http2 /whoami = %q, %v; want 200 over HTTP/2", out, err)
	}
	if serial, proto := servedSerial(t, addr); serial != 1 || proto != "h2" {
		t.Fatalf("serial %d, protocol %q; want 1 over h2", serial, proto)
	}
	writeCert(t, cert, key, 2)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if serial, _ := servedSerial(t, addr); serial == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served 15 s later")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Plain HTTP, credentials configured, an address others reach: a warning at start.
	plain := startGateway(t, "--data-dir", filepath.Join(dir, "data2"), "--nats-listen", "127.0.0.1:0", "--auth-file", path,
		"--http-addr", "0.0.0.0:0")
	if !strings.Contains(plain.logs.String(), "credentials will travel in clear text") {
		t.Error("no warning about credentials over plain HTTP")
	}
}
