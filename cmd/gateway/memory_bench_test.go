package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkLargeValueMemory measures how much one 16 MiB value grows the peak resident set
// (VmHWM) of the gateway with its embedded defaults: for a PUT, a GET, and four GETs at once,
// each in a process of its own over the same data directory, measured from the peak after a
// warm-up. GATEWAY_BIN picks the binary; BASELINE_GATEWAY_BIN, when set, is measured beside
// it in the same run, for a comparison on a machine whose load varies.
//
//	go test ./cmd/gateway -run '^$' -bench LargeValueMemory -benchtime 1x
func BenchmarkLargeValueMemory(b *testing.B) {
	bins := map[string]string{"current": gatewayBinary(b)}
	if base := os.Getenv("BASELINE_GATEWAY_BIN"); base != "" {
		bins["baseline"] = base
	}
	const size = 16 << 20
	value := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for name, bin := range bins {
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			for _, op := range []struct {
				name string
				n    int // concurrent requests
				put  bool
			}{{"put", 1, true}, {"get", 1, false}, {"get4", 4, false}} {
				growth := memoryOf(b, bin, dir, op.n, op.put, value)
				b.ReportMetric(float64(growth)/(1<<20), op.name+"-MiB")
				b.ReportMetric(float64(growth)/size, op.name+"-x")
			}
		})
	}
}

// memoryOf runs bin over dir, warms it up, then makes n concurrent PUTs (put) or GETs of
// value, and returns how much the peak RSS grew.
func memoryOf(b *testing.B, bin, dir string, n int, put bool, value []byte) int64 {
	b.Helper()
	cmd := exec.Command(bin, "--http-addr", "127.0.0.1:0", "--log-format", "json", "--data-dir", dir, "--nats-listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := ""
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("gateway not listening:\n%s", logs.String())
		}
		url = strings.TrimSuffix(listenURL(logs.String()), "/")
	}
	key := url + "/buckets/memory/keys/large"
	client := &http.Client{Timeout: 60 * time.Second}
	do := func(method, url string, body []byte) []byte {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		if body == nil {
			req.Body = nil
		}
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			b.Fatalf("%s %s = %d %s", method, url, res.StatusCode, got)
		}
		return got
	}
	for range 20 { // warm-up: the steady state of small requests
		do("PUT", url+"/buckets/memory/keys/small", []byte("v"))
		do("GET", url+"/buckets/memory/keys/small", nil)
	}
	time.Sleep(200 * time.Millisecond)
	before := peakRSS(b, cmd.Process.Pid)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if put {
				do("PUT", key, value)
				return
			}
			if got := do("GET", key, nil); !bytes.Equal(got, value) {
				b.Errorf("GET answered %d bytes, not the value", len(got))
			}
		})
	}
	wg.Wait()
	return peakRSS(b, cmd.Process.Pid) - before
}

// listenURL finds the gateway's URL in its JSON log lines.
func listenURL(logs string) string {
	const marker = `"msg":"gateway listening"`
	i := bytes.Index([]byte(logs), []byte(marker))
	if i < 0 {
		return ""
	}
	rest := logs[i:]
	j := bytes.Index([]byte(rest), []byte(`"url":"`))
	if j < 0 {
		return ""
	}
	rest = rest[j+len(`"url":"`):]
	k := bytes.IndexByte([]byte(rest), '"')
	if k < 0 {
		return ""
	}
	return fmt.Sprint(rest[:k])
}
