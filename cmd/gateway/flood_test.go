package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
)

// peakRSS is a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// gatewayCID is the NATS client id of the gateway's connection.
func gatewayCID(t *testing.T, ns *server.Server) uint64 {
	t.Helper()
	cz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == "gateway" {
			return c.Cid
		}
	}
	t.Fatal("the gateway is not connected to NATS")
	return 0
}

// A provider that answers one get with a list<u8> announcing 1 GiB and then streams 1 MiB
// messages as fast as it can costs the gateway neither its NATS connection nor its memory:
// that GET fails at once with 502 result-too-large, the next requests succeed, peak RSS grows
// by less than 100 MiB and the connection is the same one afterwards.
func TestFloodingProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB through NATS")
	}
	ns := natstest.Run(t) // a stock max_payload of 1 MiB
	const prefix = "flood.kv"
	f := &kvtest.Flooder{FloodKey: "flood", Value: []byte("fine"), Announce: 1 << 30, Chunk: 1 << 20, Total: 1 << 30}
	if err := f.Serve(natstest.Connect(t, ns), prefix); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, "--nats-url", ns.ClientURL(), "--prefix", prefix)
	normal := gw.url + "/buckets/b/keys/normal"
	for range 20 { // warm up, so the peak measured before is the gateway's steady one
		expectStatus(t, "GET before the flood", curl(t, normal), 200)
	}
	pid := gw.cmd.Process.Pid
	before := peakRSS(t, pid)
	cid := gatewayCID(t, ns)

	start := time.Now()
	r := curl(t, gw.url+"/buckets/b/keys/flood")
	took := time.Since(start)
	expectStatus(t, "GET of the flooding key", r, 502)
	if !bytes.Contains(r.body, []byte("/problems/result-too-large")) {
		t.Fatalf("GET of the flooding key: %s; want result-too-large", r.body)
	}
	r = curl(t, normal)
	if r.status != 200 || string(r.body) != "fine" {
		t.Fatalf("GET right after the flooding one = %d %s; want 200 fine", r.status, r.body)
	}
	during := f.Sent.Load()
	// Requests keep succeeding while the rest of the flood arrives.
	var ok, calls int
	deadline := time.Now().Add(60 * time.Second)
	for f.Floods.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not end within 60 s (%d bytes sent)", f.Sent.Load())
		}
		r := curl(t, normal)
		calls++
		if r.status == 200 {
			ok++
		}
	}
	time.Sleep(500 * time.Millisecond) // let the last messages reach the gateway
	expectStatus(t, "GET after the flood", curl(t, normal), 200)
	after := peakRSS(t, pid)
	growth := after - before
	t.Logf("502 after %v (%d bytes sent by then); flood of %d MiB; peak RSS %d MiB -> %d MiB (+%d MiB); %d/%d GETs during the flood succeeded",
		took.Round(time.Millisecond), during, f.Sent.Load()>>20, before>>20, after>>20, growth>>20, ok, calls)
	if growth >= 100<<20 {
		t.Errorf("peak RSS grew by %d MiB during the flood; want less than 100 MiB", growth>>20)
	}
	if ok != calls {
		t.Errorf("%d of %d GETs during the flood failed", calls-ok, calls)
	}
	if got := gatewayCID(t, ns); got != cid {
		t.Errorf("the gateway's NATS connection changed (cid %d -> %d): it was dropped", cid, got)
	}
	for _, bad := range []string{"NATS disconnected", "NATS reconnected", "slow consumer"} {
		if strings.Contains(gw.logs.String(), bad) {
			t.Errorf("the gateway logged %q during the flood", bad)
		}
	}
}
