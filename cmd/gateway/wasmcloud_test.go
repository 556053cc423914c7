package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wrpc-kv/gateway/internal/natstest"
)

var (
	cargoMu   sync.Mutex
	cargoBins = map[string]string{}
)

// cargoBinary returns the binary of the Rust crate interop/<crate>: $<env> when set, else
// built here with cargo (into $CARGO_TARGET_DIR when set).
func cargoBinary(t *testing.T, crate, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	cargoMu.Lock()
	defer cargoMu.Unlock()
	if p, ok := cargoBins[crate]; ok {
		return p
	}
	manifest, err := filepath.Abs("../../interop/" + crate + "/Cargo.toml")
	if err != nil {
		t.Fatal(err)
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = filepath.Join(filepath.Dir(manifest), "target")
	}
	cmd := exec.Command("cargo", "build", "--release", "--locked", "--manifest-path", manifest)
	cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cargo build of interop/%s: %v\n%s", crate, err, out)
	}
	p := filepath.Join(target, "release", crate)
	cargoBins[crate] = p
	return p
}

// wcProvider is the wasmCloud-style test provider of interop/wcprovider.
func wcProvider(t *testing.T) string { return cargoBinary(t, "wcprovider", "WCPROVIDER_BIN") }

// wcLink is one link definition of HostData: a component linked to the provider.
type wcLink struct {
	source, name string
	config       map[string]string
}

// startWCProvider starts the provider as a wasmCloud host does, HostData on stdin, serving
// <lattice>.<key> with the given links. It stops when the test ends (stdin is closed).
func startWCProvider(t *testing.T, natsURL, lattice, key string, links ...wcLink) {
	t.Helper()
	var defs []map[string]any
	for _, l := range links {
		defs = append(defs, map[string]any{
			"source_id": l.source, "target": key, "name": l.name,
			"wit_namespace": "wrpc", "wit_package": "keyvalue", "interfaces": []string{"store", "atomics", "batch"},
			"source_config": map[string]string{}, "target_config": l.config,
		})
	}
	hostData, err := json.Marshal(map[string]any{
		"host_id": "NTESTHOST", "lattice_rpc_prefix": lattice, "lattice_rpc_url": natsURL,
		"provider_key": key, "link_name": "default", "instance_id": "wcprovider-test", "config": map[string]string{},
		"env_values": map[string]string{}, "cluster_issuers": []string{}, "structured_logging": false,
		"log_level": "info", "otel_config": map[string]bool{"enable_observability": false}, "link_definitions": defs,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wcProvider(t))
	cmd.Env = append(os.Environ(), "WCPROVIDER_LOG=warn")
	startChild(t, "wcprovider", cmd, base64.StdEncoding.EncodeToString(hostData)+"\n")
}

// startChild runs cmd until the test ends, writing input to its stdin, and returns once it
// prints "ready" on stdout. At the end its stdin is closed, which asks it to stop; it is
// killed if it has not within 5 s.
func startChild(t *testing.T, name string, cmd *exec.Cmd, input string) {
	t.Helper()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, stderr.String())
		}
	})
	if _, err := io.WriteString(stdin, input); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && strings.TrimSpace(sc.Text()) == "ready"
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s did not print ready\n%s", name, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30 s\n%s", name, stderr.String())
	}
}

// The gateway against a provider built on wasmcloud-provider-sdk, started the way a wasmCloud
// host starts one: each link keeps its own data, the link is chosen by the source-id and
// link-name headers, get-many answers out of order are paired by key, and a gateway whose
// headers name no link answers 502 and is not ready, saying which headers it needs.
func TestWasmCloudStyleProvider(t *testing.T) {
	ns := natstest.Run(t)
	url := ns.ClientURL()
	startWCProvider(t, url, "default", "kvtest",
		wcLink{"comp-a", "default", map[string]string{"NAME": "link-a"}},
		wcLink{"comp-b", "default", map[string]string{"NAME": "link-b"}})
	prefix := []string{"--nats-url", url, "--prefix", "default.kvtest"}
	a := startGateway(t, append(prefix, "--header", "source-id=comp-a", "--header", "link-name=default")...)
	b := startGateway(t, append(prefix, "--header", "source-id=comp-b,link-name=default")...)

	for _, g := range []struct {
		gw   *gatewayProc
		link string
	}{{a, "link-a"}, {b, "link-b"}} {
		r := curl(t, g.gw.url+"/buckets/any/keys/__link")
		if r.status != 200 || string(r.body) != g.link {
			t.Fatalf("GET __link = %d %s; want 200 %s", r.status, r.body, g.link)
		}
		expectStatus(t, "GET /readyz", curl(t, g.gw.url+"/readyz"), 200)
	}
	expectStatus(t, "PUT through link a", curl(t, "-X", "PUT", "--data-binary", "from a", a.url+"/buckets/kv/keys/k"), 204)
	expectStatus(t, "GET through link b", curl(t, b.url+"/buckets/kv/keys/k"), 404)
	expectStatus(t, "PUT through link b", curl(t, "-X", "PUT", "--data-binary", "from b", b.url+"/buckets/kv/keys/k"), 204)
	if r := curl(t, a.url+"/buckets/kv/keys/k"); string(r.body) != "from a" {
		t.Fatalf("GET through link a = %d %s; want from a", r.status, r.body)
	}
	r := curl(t, "-X", "POST", a.url+"/buckets/kv/keys/n/increment")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"valueString":"1"`)) {
		t.Fatalf("increment = %d %s", r.status, r.body)
	}

	// get-many comes back in reverse order from this provider; the answer is by key.
	var items []map[string]string
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("bk-%d", i)
		keys = append(keys, k)
		if i%3 != 0 {
			items = append(items, map[string]string{"key": k, "value": "v" + k})
		}
	}
	set, _ := json.Marshal(map[string]any{"items": items})
	expectStatus(t, "batch/set", curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", string(set),
		a.url+"/buckets/kv/batch/set?encoding=utf8"), 204)
	get, _ := json.Marshal(map[string]any{"keys": keys})
	r = curl(t, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", string(get), a.url+"/buckets/kv/batch/get?encoding=utf8")
	expectStatus(t, "batch/get", r, 200)
	var got struct {
		Items []struct {
			Key   string
			Value *string
		}
	}
	if err := json.Unmarshal(r.body, &got); err != nil || len(got.Items) != len(keys) {
		t.Fatalf("batch/get = %s (%v)", r.body, err)
	}
	for i, it := range got.Items {
		absent := i%3 == 0
		if it.Key != keys[i] || absent != (it.Value == nil) || !absent && *it.Value != "v"+keys[i] {
			t.Fatalf("batch/get item %d = %s %v; want %s", i, it.Key, it.Value, keys[i])
		}
	}

	// Headers that name no link: every call fails with the provider's message, and the
	// gateway is not ready, saying which headers it needs.
	for _, tt := range []struct {
		name    string
		headers []string
		message string
		hint    string
	}{
		{"no link for the component", []string{"--header", "source-id=comp-x", "--header", "link-name=default"},
			"No connection found for component [comp-x]", "must name a component linked"},
		{"no headers", nil, "unexpectedly missing context", "--header source-id="},
	} {
		g := startGateway(t, append(prefix, tt.headers...)...)
		r := curl(t, g.url+"/buckets/kv/keys/k")
		expectStatus(t, tt.name+": GET", r, 502)
		if !bytes.Contains(r.body, []byte("/problems/provider-error")) || !bytes.Contains(r.body, []byte(tt.message)) {
			t.Fatalf("%s: GET = %s; want a provider-error with %q", tt.name, r.body, tt.message)
		}
		r = curl(t, g.url+"/readyz")
		expectStatus(t, tt.name+": GET /readyz", r, 503)
		if !bytes.Contains(r.body, []byte(tt.message)) || !bytes.Contains(r.body, []byte(tt.hint)) {
			t.Fatalf("%s: /readyz = %s; want the provider's message and %q", tt.name, r.body, tt.hint)
		}
		if !strings.Contains(g.logs.String(), `"level":"WARN","msg":"not ready"`) {
			t.Errorf("%s: no WARN not ready in the log:\n%s", tt.name, g.logs.String())
		}
	}
}
