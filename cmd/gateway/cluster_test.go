package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

var (
	nodeOnce sync.Once
	nodePath string
	nodeErr  error
)

// natsNode builds internal/cmd/natsnode, a NATS server run from a configuration file.
func natsNode(t *testing.T) string {
	t.Helper()
	nodeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natsnode-")
		if err != nil {
			nodeErr = err
			return
		}
		nodePath = filepath.Join(dir, "natsnode")
		if out, err := exec.Command("go", "build", "-o", nodePath, "../../internal/cmd/natsnode").CombinedOutput(); err != nil {
			nodeErr = fmt.Errorf("go build natsnode: %v\n%s", err, out)
		}
	})
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	return nodePath
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster is three NATS servers with JetStream, from deploy/nats, each a process of its own.
type cluster struct {
	t       *testing.T
	dir     string
	clients [3]int // client ports
	confs   [3]string
	procs   [3]*exec.Cmd
	logs    [3]*syncBuffer
	done    [3]chan struct{}
}

// startCluster runs the servers of deploy/nats/n1.conf..n3.conf, their ports moved to free
// ones, each with its store in a directory of its own.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	var routes [3]int
	for i := range 3 {
		c.clients[i], routes[i] = freePort(t), freePort(t)
	}
	for i := range 3 {
		text, err := os.ReadFile(fmt.Sprintf("../../deploy/nats/n%d.conf", i+1))
		if err != nil {
			t.Fatal(err)
		}
		s := string(text)
		for j := range 3 {
			s = strings.ReplaceAll(s, fmt.Sprintf("127.0.0.1:%d", 4222+j), fmt.Sprintf("127.0.0.1:%d", c.clients[j]))
			s = strings.ReplaceAll(s, fmt.Sprintf("127.0.0.1:%d", 6222+j), fmt.Sprintf("127.0.0.1:%d", routes[j]))
		}
		c.confs[i] = filepath.Join(c.dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(c.confs[i], []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range 3 {
			c.kill(i)
		}
		if t.Failed() {
			for i := range 3 {
				t.Logf("n%d log:\n%s", i+1, tail(c.logs[i].String(), 4000))
			}
		}
	})
	c.waitJetStream()
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// start runs server i (from 0); its store lives on across restarts.
func (c *cluster) start(i int) {
	cmd := exec.Command(natsNode(c.t), "-c", c.confs[i])
	cmd.Dir = c.dir
	c.logs[i] = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = c.logs[i], c.logs[i]
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
	c.done[i] = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(c.done[i])
}

// kill sends server i SIGKILL and waits for it to exit.
func (c *cluster) kill(i int) {
	if c.procs[i] == nil {
		return
	}
	_ = c.procs[i].Process.Signal(syscall.SIGKILL)
	<-c.done[i]
	c.procs[i] = nil
}

func (c *cluster) url(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.clients[i]) }

// urls lists every server, for clients that fail over.
func (c *cluster) urls() string {
	return c.url(0) + "," + c.url(1) + "," + c.url(2)
}

// waitJetStream waits until the cluster has a JetStream meta leader.
func (c *cluster) waitJetStream() {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if nc, err := nats.Connect(c.url(0)); err == nil {
			js, _ := natsjs.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the cluster has no JetStream 30 s after start")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamInfo returns the cluster view of a stream, asked through server i.
func (c *cluster) streamInfo(i int, stream string) (*natsjs.StreamInfo, error) {
	nc, err := nats.Connect(c.url(i))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, _ := natsjs.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// A steady load of writes, each read back through the other gateway, goes on while the
// server leading the bucket's stream is killed and restarted: no acknowledged write is lost
// or changed, no read is stale, requests succeed again after the failover, and the restarted
// server catches up.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS cluster")
	}
	c := startCluster(t)
	var providers []*gatewayProc
	for range 2 {
		providers = append(providers, startGateway(t, "provider", "--nats-url", c.urls(), "--replicas", "3"))
	}
	gws := [2]*gatewayProc{
		startGateway(t, "--nats-url", c.url(0)+","+c.url(1)+","+c.url(2)),
		startGateway(t, "--nats-url", c.url(1)+","+c.url(2)+","+c.url(0)),
	}
	client := &http.Client{Timeout: 15 * time.Second}
	do := func(method, url, body string) (int, string, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		res, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	if st, b, err := do("PUT", gws[0].url+"/buckets/failover/keys/start", "x"); err != nil || st != 204 {
		t.Fatalf("first PUT = %d %s %v", st, b, err)
	}
	const stream = "KV_failover"
	info, err := c.streamInfo(0, stream)
	if err != nil || info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("stream %s: %+v, %v; want 3 replicas", stream, info, err)
	}
	leader := -1
	for i := range 3 {
		if info.Cluster.Leader == fmt.Sprintf("n%d", i+1) {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no leader among n1..n3: %q", info.Cluster.Leader)
	}

	type result struct {
		mu                  sync.Mutex
		acked               map[string]int // key -> last acknowledged value
		maybe               map[string]int // key -> highest value written without an acknowledgement
		ok, failed, stale   int
		firstFail, lastFail time.Time
		okAfterKill         time.Time // the first write read back after the kill, once one failed
		lastOKStart         time.Time // when the last write read back was sent
		okAfterRestart      int
		failures            []string
		statuses            map[int]int   // of the failed requests; 0: no answer
		slowest             time.Duration // of the writes acknowledged after the kill
	}
	res := &result{acked: map[string]int{}, maybe: map[string]int{}, statuses: map[int]int{}}
	var killed, restarted time.Time
	fail := func(what string, status int) {
		res.mu.Lock()
		defer res.mu.Unlock()
		res.failed++
		res.statuses[status]++
		now := time.Now()
		if res.firstFail.IsZero() {
			res.firstFail = now
		}
		res.lastFail = now
		if len(res.failures) < 20 {
			res.failures = append(res.failures, fmt.Sprintf("%+.2fs %s", now.Sub(killed).Seconds(), what))
		}
	}
	// Values: small decimal numbers, and for one key 1.5 MiB values stored in chunks.
	value := func(key string, n int) string {
		if key == "large" {
			return strconv.Itoa(n) + ":" + strings.Repeat(string(rune('a'+n%26)), 3<<19)
		}
		return strconv.Itoa(n)
	}
	parse := func(key, body string) (int, bool) {
		num, rest, _ := strings.Cut(body, ":")
		n, err := strconv.Atoi(num)
		return n, err == nil && value(key, n) == strings.Join([]string{num, rest}, map[bool]string{true: ":", false: ""}[key == "large"])
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	keys := []string{"k0", "k1", "k2", "k3", "large"}
	for _, key := range keys {
		wg.Go(func() {
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				wgw, rgw := gws[n%2], gws[(n+1)%2]
				start := time.Now()
				st, body, err := do("PUT", wgw.url+"/buckets/failover/keys/"+key, value(key, n))
				if err != nil || st != 204 {
					res.mu.Lock()
					res.maybe[key] = n
					res.mu.Unlock()
					fail(fmt.Sprintf("PUT %s=%d: %d %.120s %v", key, n, st, body, err), st)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				res.mu.Lock()
				res.acked[key] = n
				if !killed.IsZero() {
					res.slowest = max(res.slowest, time.Since(start))
				}
				res.mu.Unlock()
				st, body, err = do("GET", rgw.url+"/buckets/failover/keys/"+key, "")
				if err != nil || st != 200 {
					fail(fmt.Sprintf("GET %s after %d: %d %.120s %v", key, n, st, body, err), st)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				got, whole := parse(key, body)
				res.mu.Lock()
				if got < n || !whole {
					res.stale++
					if len(res.failures) < 20 {
						res.failures = append(res.failures, fmt.Sprintf("stale: GET %s = %d (whole %v) after %d was acknowledged", key, got, whole, n))
					}
				}
				res.ok++
				now := time.Now()
				res.lastOKStart = start
				if !killed.IsZero() && res.okAfterKill.IsZero() && !res.lastFail.IsZero() {
					res.okAfterKill = now
				}
				if !restarted.IsZero() {
					res.okAfterRestart++
				}
				res.mu.Unlock()
			}
		})
	}
	time.Sleep(3 * time.Second)
	res.mu.Lock()
	killed = time.Now()
	res.mu.Unlock()
	c.kill(leader)
	t.Logf("killed n%d, the leader of %s", leader+1, stream)
	// Requests succeed again once a new leader is elected, before the server comes back.
	deadline := time.Now().Add(20 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		res.mu.Lock()
		since := killed
		if res.lastFail.After(since) {
			since = res.lastFail
		}
		back := res.lastOKStart.After(since) && time.Since(since) > 2*time.Second
		res.mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			res.mu.Lock()
			t.Fatalf("requests still failing 20 s after the kill: %d failed; %v", res.failed, res.failures)
		}
	}
	c.start(leader)
	res.mu.Lock()
	restarted = time.Now()
	res.mu.Unlock()
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()

	// The restarted server catches up: every replica current, none lagging.
	deadline = time.Now().Add(30 * time.Second)
	for {
		info, err := c.streamInfo(leader, stream)
		caughtUp := err == nil && info.Cluster != nil && len(info.Cluster.Replicas) == 2
		if caughtUp {
			for _, r := range info.Cluster.Replicas {
				caughtUp = caughtUp && r.Current && r.Lag == 0
			}
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted server did not catch up within 30 s: %+v %v", info, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every acknowledged write is there, through both gateways.
	for key, n := range res.acked {
		for _, g := range gws {
			st, body, err := do("GET", g.url+"/buckets/failover/keys/"+key, "")
			got, whole := parse(key, body)
			if err != nil || st != 200 || !whole || got < n || got > max(n, res.maybe[key]) {
				t.Errorf("GET %s through %s = %d %.40q (%d bytes) %v; acknowledged %d (unacknowledged up to %d)",
					key, g.url, st, body, len(body), err, n, res.maybe[key])
			}
		}
	}
	quorumLost(t, c, leader, gws, providers, do)

	if res.failed == 0 {
		t.Logf("%d writes read back, none failed; the slowest write after the kill took %v (restart at +%v); %d writes read back after the restart",
			res.ok, res.slowest.Round(10*time.Millisecond), restarted.Sub(killed).Round(10*time.Millisecond), res.okAfterRestart)
	} else {
		t.Logf("%d writes read back; %d requests failed, from +%v to +%v after the kill (%v); writes read back again from +%v; the slowest write after the kill took %v; restart at +%v; %d writes read back after the restart",
			res.ok, res.failed, res.firstFail.Sub(killed).Round(10*time.Millisecond), res.lastFail.Sub(killed).Round(10*time.Millisecond),
			res.lastFail.Sub(res.firstFail).Round(10*time.Millisecond), res.okAfterKill.Sub(killed).Round(10*time.Millisecond),
			res.slowest.Round(10*time.Millisecond), restarted.Sub(killed).Round(10*time.Millisecond), res.okAfterRestart)
	}
	for _, f := range res.failures {
		t.Log(f)
	}
	if res.stale != 0 {
		t.Errorf("%d stale or partial reads", res.stale)
	}
	if res.okAfterRestart == 0 {
		t.Error("no write went through after the restart")
	}
	// Failures are 503 (no leader yet, a call lost with its server, the gateway reconnecting)
	// or, for a call whose answer was lost with the killed server, 504 at --timeout: nothing
	// else, and nothing left without an answer.
	t.Logf("failed requests by status: %v", res.statuses)
	for st := range res.statuses {
		if st != 503 && st != 504 {
			t.Errorf("%d requests failed with status %d", res.statuses[st], st)
		}
	}
}

// quorumLost stops two of the three servers: while the bucket's stream has no quorum, every
// request answers 503 unavailable with Retry-After within the gateway's timeout, and the
// providers log why; with the servers back, the values read again.
func quorumLost(t *testing.T, c *cluster, keep int, gws [2]*gatewayProc, providers []*gatewayProc,
	do func(method, url, body string) (int, string, error)) {
	for i := range 3 {
		if i != keep {
			c.kill(i)
		}
	}
	var wg sync.WaitGroup
	for _, g := range gws {
		for _, req := range [][2]string{{"PUT", "k0"}, {"GET", "k0"}, {"POST", "n/increment"}} {
			wg.Go(func() {
				var (
					res  *http.Response
					body []byte
					took time.Duration
				)
				// The providers take a moment to reconnect to the server left: until they
				// have, nobody serves the call (no-responders).
				for try := 0; ; try++ {
					start := time.Now()
					r, _ := http.NewRequest(req[0], g.url+"/buckets/failover/keys/"+req[1], strings.NewReader(`{"delta":1}`))
					r.Header.Set("Content-Type", "application/json")
					var err error
					res, err = (&http.Client{Timeout: 15 * time.Second}).Do(r)
					if err != nil {
						t.Errorf("%s %s without quorum: %v", req[0], req[1], err)
						return
					}
					body, _ = io.ReadAll(res.Body)
					res.Body.Close()
					took = time.Since(start)
					if !strings.Contains(string(body), "/problems/no-responders") || try == 20 {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "/problems/unavailable") {
					t.Errorf("%s %s without quorum = %d (Retry-After %q) %s after %v; want 503 unavailable",
						req[0], req[1], res.StatusCode, res.Header.Get("Retry-After"), body, took)
				}
				if took > 10*time.Second {
					t.Errorf("%s %s without quorum took %v, past the gateway's timeout", req[0], req[1], took)
				}
			})
		}
	}
	wg.Wait()
	logged := false
	for _, p := range providers {
		logged = logged || strings.Contains(p.logs.String(), "JetStream cannot serve the bucket for now")
	}
	if !logged {
		t.Error("no provider logged why the bucket cannot be served")
	}
	for i := range 3 {
		if i != keep {
			c.start(i)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, err := do("PUT", gws[0].url+"/buckets/failover/keys/after-quorum", "back")
		if err == nil && st == 204 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUT still %d %v 30 s after the servers came back", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, body, err := do("GET", gws[1].url+"/buckets/failover/keys/after-quorum", ""); err != nil || st != 200 || body != "back" {
		t.Fatalf("GET after the quorum came back = %d %q %v", st, body, err)
	}
}
