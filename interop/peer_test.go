// Package interop tests the project's wRPC implementation against the official Rust one
// (wit-bindgen-wrpc and wrpc-transport-nats), run as the test peer in interop/rustpeer:
// our client against the Rust provider, and the Rust client against our provider.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	peerPath  string
	buildErr  error
)

// rustPeer returns the path of the Rust test peer: $RUSTPEER_BIN when set, else the peer
// built here with cargo (into $CARGO_TARGET_DIR when set).
func rustPeer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("RUSTPEER_BIN"); p != "" {
			peerPath = p
			return
		}
		cargo, err := exec.LookPath("cargo")
		if err != nil {
			buildErr = fmt.Errorf("the interop tests need a Rust toolchain (cargo) to build the test peer: %w", err)
			return
		}
		_, file, _, _ := runtime.Caller(0)
		manifest := filepath.Join(filepath.Dir(file), "rustpeer", "Cargo.toml")
		target := os.Getenv("CARGO_TARGET_DIR")
		if target == "" {
			target = filepath.Join(filepath.Dir(file), "rustpeer", "target")
		}
		cmd := exec.Command(cargo, "build", "--release", "--locked", "--manifest-path", manifest)
		cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("cargo build of the Rust peer: %w\n%s", err, out)
			return
		}
		peerPath = filepath.Join(target, "release", "rustpeer")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return peerPath
}

// startPeer runs `rustpeer <mode>` against natsURL and prefix. The process ends with the
// test: stdin is closed, which both modes take as the signal to exit, and it is killed if it
// has not exited 5 s later.
func startPeer(t *testing.T, mode, natsURL, prefix string) (stdin io.WriteCloser, stdout io.Reader, stderr *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rustPeer(t), mode, "--nats", natsURL, "--prefix", prefix)
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("rustpeer %s stderr:\n%s", mode, stderr.String())
		}
	})
	return stdin, stdout, stderr
}

// serveRust starts `rustpeer serve` and waits for it to subscribe.
func serveRust(t *testing.T, natsURL, prefix string) {
	t.Helper()
	_, stdout, stderr := startPeer(t, "serve", natsURL, prefix)
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("first line %q; want ready", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("rustpeer serve: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("rustpeer serve not ready after 30 s\n%s", stderr.String())
	}
}

// rustCaller is a running `rustpeer call`: one JSON command in, one JSON answer out.
type rustCaller struct {
	t      *testing.T
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
}

func callRust(t *testing.T, natsURL, prefix string) *rustCaller {
	t.Helper()
	stdin, stdout, stderr := startPeer(t, "call", natsURL, prefix)
	return &rustCaller{t: t, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<20), stderr: stderr}
}

// answer is one result line of `rustpeer call`.
type answer struct {
	OK             json.RawMessage `json:"ok"`
	Err            json.RawMessage `json:"err"`
	TransportError string          `json:"transport_error"`
	Len            *int            `json:"len"`
	SHA256         string          `json:"sha256"`
	hasOK          bool
}

// do sends one command and returns its answer and how long it took.
func (c *rustCaller) do(cmd map[string]any) (answer, time.Duration) {
	c.t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("write to rustpeer call: %v\n%s", err, c.stderr)
	}
	type result struct {
		line []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		l, err := c.out.ReadBytes('\n')
		got <- result{l, err}
	}()
	var r result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("rustpeer call: no answer to %s within 30 s\n%s", truncate(line), c.stderr)
	}
	elapsed := time.Since(start)
	if r.err != nil {
		c.t.Fatalf("read from rustpeer call: %v\n%s", r.err, c.stderr)
	}
	var a answer
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(r.line, &keys); err != nil {
		c.t.Fatalf("rustpeer call answered %q: %v", truncate(r.line), err)
	}
	_, a.hasOK = keys["ok"]
	if err := json.Unmarshal(r.line, &a); err != nil {
		c.t.Fatal(err)
	}
	return a, elapsed
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
