package jetstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
)

// smallPayload is the max_payload of the servers of these tests: values over it are chunked.
const smallPayload = 4096

func smallServer(t *testing.T) *server.Server {
	return startServer(t, t.TempDir(), func(o *server.Options) { o.MaxPayload = smallPayload })
}

// chunkSubjects returns the subjects of bucket's chunks and markers, with their counts.
func chunkSubjects(t *testing.T, js natsjs.JetStream, bucket string) map[string]uint64 {
	t.Helper()
	ctx := testCtx(t)
	st, err := js.Stream(ctx, "KV_"+EncodeBucket(bucket))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, natsjs.WithSubjectFilter("$KVC."+EncodeBucket(bucket)+".>"))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

// chunkIDs returns the ids that have chunks or a marker in bucket.
func chunkIDs(t *testing.T, js natsjs.JetStream, bucket string) []string {
	var ids []string
	for subj := range chunkSubjects(t, js, bucket) {
		id := strings.Split(subj, ".")[2]
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// manifestID returns the chunk id the key's manifest names, "" for a value in one message.
func manifestID(t *testing.T, s *Store, bucket, key string) string {
	t.Helper()
	h, err := s.resolve(testCtx(t), bucket, false)
	if err != nil || h == nil {
		t.Fatalf("resolve %s: %v", bucket, err)
	}
	m, err := s.lastMsg(testCtx(t), h, h.prefix+EncodeKey(key))
	if err != nil {
		t.Fatal(err)
	}
	man, err := parseManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if man == nil {
		return ""
	}
	return man.id
}

// eventually polls cond until it holds, or fails the test after 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not after 20s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pattern(n int, seed byte) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = seed + byte(i%251)
	}
	return v
}

func TestLargeValuesInChunks(t *testing.T) {
	js := connect(t, smallServer(t))
	s := newStore(t, js)
	ctx := testCtx(t)

	sizes := []int{0, 1, smallPayload, smallPayload + 1, 3 * smallPayload, 3*smallPayload + 1, 100_000, 1 << 20}
	for i, n := range sizes {
		key := fmt.Sprintf("k%d", n)
		if err := s.Set(ctx, "b", key, pattern(n, byte(i))); err != nil {
			t.Fatalf("Set %d bytes: %v", n, err)
		}
		v, ok, err := s.Get(ctx, "b", key)
		if err != nil || !ok || !bytes.Equal(v, pattern(n, byte(i))) {
			t.Fatalf("Get %d bytes = %d bytes, %v, %v", n, len(v), ok, err)
		}
		if got, ok, err := getTo(ctx, s, "b", key); err != nil || !ok || !bytes.Equal(got, pattern(n, byte(i))) {
			t.Fatalf("GetTo %d bytes = %d bytes, %v, %v", n, len(got), ok, err)
		}
		if ok, err := s.Exists(ctx, "b", key); err != nil || !ok {
			t.Fatalf("Exists %d bytes = %v, %v", n, ok, err)
		}
		if id := manifestID(t, s, "b", key); (id != "") != (n > smallPayload) {
			t.Fatalf("%d bytes stored with manifest %q; want chunks only over max_payload", n, id)
		}
	}
	// Values of one message leave no chunks.
	for _, id := range chunkIDs(t, js, "b") {
		found := false
		for _, n := range sizes {
			found = found || manifestID(t, s, "b", fmt.Sprintf("k%d", n)) == id
		}
		if !found {
			t.Fatalf("chunks %s belong to no key", id)
		}
	}

	// List-keys names keys only, and get-many reads chunked values like the others.
	resp, err := s.ListKeys(ctx, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range sizes {
		want = append(want, fmt.Sprintf("k%d", n))
	}
	slices.Sort(want)
	slices.Sort(resp.Keys)
	if !slices.Equal(resp.Keys, want) {
		t.Fatalf("ListKeys = %v; want %v", resp.Keys, want)
	}
	keys := append(slices.Clone(want), "absent")
	got, err := s.GetMany(ctx, "b", keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		kv := got[slices.Index(keys, fmt.Sprintf("k%d", n))]
		if kv == nil || !bytes.Equal(kv.Value, pattern(n, byte(i))) {
			t.Fatalf("GetMany k%d = %v", n, kv)
		}
	}
	if got[len(keys)-1] != nil {
		t.Fatalf("GetMany absent = %v", got[len(keys)-1])
	}
	if _, ok, err := getTo(ctx, s, "b", "absent"); ok || err != nil {
		t.Fatalf("GetTo absent = %v, %v", ok, err)
	}

	// A value in chunks is not a counter, and stays as it was.
	if _, err := s.Increment(ctx, "b", "k100000", 1); !isOther(err) {
		t.Fatalf("Increment of a chunked value = %v; want an OtherError", err)
	}
	if v, _, _ := s.Get(ctx, "b", "k100000"); !bytes.Equal(v, pattern(100_000, 6)) {
		t.Fatal("a refused increment changed the value")
	}

	// Batches write chunks as well.
	items := []keyvalue.KeyValue{{Key: "m1", Value: pattern(10_000, 1)}, {Key: "m2", Value: []byte("small")}, {Key: "m1", Value: pattern(20_000, 2)}}
	if err := s.SetMany(ctx, "b", items); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.Get(ctx, "b", "m1"); err != nil || !bytes.Equal(v, pattern(20_000, 2)) {
		t.Fatalf("Get m1 after SetMany = %d bytes, %v", len(v), err)
	}
}

// getTo reads a value with GetTo, checking that it writes what it announced.
func getTo(ctx context.Context, s *Store, bucket, key string) ([]byte, bool, error) {
	var buf *bytes.Buffer
	size := -1
	ok, err := s.GetTo(ctx, bucket, key, func(n int) (io.Writer, error) {
		if buf != nil {
			return nil, errors.New("open called twice")
		}
		size, buf = n, &bytes.Buffer{}
		return buf, nil
	})
	if err != nil || !ok {
		if buf != nil && err == nil {
			return nil, false, errors.New("open called for an absent key")
		}
		return nil, ok, err
	}
	if buf.Len() != size {
		return nil, false, fmt.Errorf("GetTo announced %d bytes and wrote %d", size, buf.Len())
	}
	return buf.Bytes(), true, nil
}

// TestOldChunksRemoved: overwrite, delete and batch delete leave no chunk behind.
func TestOldChunksRemoved(t *testing.T) {
	ns := smallServer(t)
	js := connect(t, ns)
	s := newStore(t, js)
	ctx := testCtx(t)
	set := func(key string, v []byte) {
		t.Helper()
		if err := s.Set(ctx, "b", key, v); err != nil {
			t.Fatal(err)
		}
	}
	onlyCurrent := func(keys ...string) func() bool {
		return func() bool {
			var want []string
			for _, k := range keys {
				if id := manifestID(t, s, "b", k); id != "" {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			return slices.Equal(chunkIDs(t, js, "b"), want)
		}
	}

	set("a", pattern(50_000, 1))
	set("a", pattern(30_000, 2)) // large over large
	set("b", pattern(30_000, 3))
	set("b", []byte("small")) // small over large
	set("c", pattern(30_000, 4))
	set("d", pattern(30_000, 5))
	set("e", pattern(30_000, 6))
	if err := s.Delete(ctx, "b", "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMany(ctx, "b", []string{"d", "e", "absent"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "chunks of overwritten and deleted values removed", onlyCurrent("a", "b"))
	if v, _, err := s.Get(ctx, "b", "a"); err != nil || !bytes.Equal(v, pattern(30_000, 2)) {
		t.Fatalf("Get a = %d bytes, %v", len(v), err)
	}
	if len(chunkIDs(t, js, "b")) != 1 {
		t.Fatalf("chunks of %v; want those of a only", chunkIDs(t, js, "b"))
	}
	// A write by another Store (another provider) is collected by the one that overwrites it.
	other := newStore(t, connect(t, ns))
	if err := other.Set(ctx, "b", "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "chunks overwritten through another Store removed", onlyCurrent("a"))
}

// TestReadersSeeWholeValues: while one key is overwritten again and again with values of
// different sizes, and old chunks are collected, every read returns one whole value.
func TestReadersSeeWholeValues(t *testing.T) {
	js := connect(t, smallServer(t))
	w := newStore(t, js)
	w.gc.mu.Lock()
	w.gc.readGrace = 300 * time.Millisecond // replaced chunks go while reads are under way
	w.gc.mu.Unlock()
	r := newStore(t, js)
	ctx := testCtx(t)
	values := [][]byte{bytes.Repeat([]byte{'a'}, 5*smallPayload+7), bytes.Repeat([]byte{'b'}, 3*smallPayload+1),
		bytes.Repeat([]byte{'c'}, 100), bytes.Repeat([]byte{'d'}, 9*smallPayload)}
	if err := w.Set(ctx, "b", "k", values[0]); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var writes, reads atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := w.Set(ctx, "b", "k", values[i%len(values)]); err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
			if i%10 == 0 {
				w.gc.pass(mustHandle(t, w, "b")) // collect now, not a second later
			}
		}
	})
	for reader := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				get := r.Get
				if reader%2 == 1 {
					get = func(ctx context.Context, b, k string) ([]byte, bool, error) { return getTo(ctx, r, b, k) }
				}
				v, ok, err := get(ctx, "b", "k")
				if err != nil || !ok {
					t.Errorf("Get = %v, %v", ok, err)
					return
				}
				if !slices.ContainsFunc(values, func(want []byte) bool { return bytes.Equal(v, want) }) {
					t.Errorf("read %d bytes starting %q: not one of the values written", len(v), v[:min(8, len(v))])
					return
				}
				reads.Add(1)
			}
		})
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d writes, %d whole reads", writes.Load(), reads.Load())
	if writes.Load() < 10 || reads.Load() < 10 {
		t.Fatalf("only %d writes and %d reads", writes.Load(), reads.Load())
	}
}

func mustHandle(t *testing.T, s *Store, bucket string) *handle {
	h, err := s.resolve(context.Background(), bucket, false)
	if err != nil || h == nil {
		t.Fatalf("resolve %s: %v", bucket, err)
	}
	return h
}

// TestManifestNeedsItsChunks: a manifest whose chunks were removed (they waited too long, or
// were replaced) is refused by the stream, so it cannot refer to nothing.
func TestManifestNeedsItsChunks(t *testing.T) {
	js := connect(t, smallServer(t))
	s := newStore(t, js)
	ctx := testCtx(t)
	if err := s.Set(ctx, "b", "k", pattern(2*smallPayload, 1)); err != nil {
		t.Fatal(err)
	}
	h := mustHandle(t, s, "b")
	marker := h.chunkSubject("orphan", "k")
	seq, err := s.publish(ctx, h, &nats.Msg{Subject: marker, Header: nats.Header{chunkKeyHeader: {"k"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.Purge(ctx, natsjs.WithPurgeSubject("$KVC.b.orphan.>")); err != nil {
		t.Fatal(err)
	}
	_, err = s.write(ctx, h, "k", nil, nats.Header{chunksHeader: {"orphan 1 1"}}, natsjs.WithExpectLastSequenceForSubject(seq, marker))
	if !isWrongLastSeq(err) {
		t.Fatalf("manifest after its chunks were removed = %v; want a wrong last sequence", err)
	}
	if v, _, err := s.Get(ctx, "b", "k"); err != nil || !bytes.Equal(v, pattern(2*smallPayload, 1)) {
		t.Fatalf("Get = %d bytes, %v; want the value before", len(v), err)
	}
}

// writerEnv names the server URL of the child process TestKilledWriterLeavesNothing starts.
const writerEnv = "JETSTREAM_TEST_CHUNK_WRITER_URL"

// TestKilledWriterLeavesNothing kills a process in the middle of writing large values with
// SIGKILL: the key holds a whole value, and the killed write's chunks are removed by the
// collector of another Store once the grace period has passed, without any write to the bucket.
func TestKilledWriterLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ns := smallServer(t)
	js := connect(t, ns)
	ctx := testCtx(t)
	var last []byte
	orphans := 0
	for try := 0; try < 5 && orphans == 0; try++ {
		last = runWriterAndKill(t, ns.ClientURL())
		probe := newStore(t, js)
		v, ok, err := probe.Get(ctx, "b", "k")
		if err != nil || !ok || len(v) != 2<<20 || !bytes.Equal(v, bytes.Repeat(v[:1], len(v))) {
			t.Fatalf("after the kill, Get = %d bytes, %v, %v; want one whole value", len(v), ok, err)
		}
		if !bytes.Equal(v, last) && v[0] != last[0]+1 {
			// The value is the last acknowledged one, or the one being written, if its
			// manifest got in before the kill.
			t.Fatalf("after the kill the key holds %q..., the last acknowledged write was %q...", v[:1], last[:1])
		}
		current := manifestID(t, probe, "b", "k")
		for _, id := range chunkIDs(t, js, "b") {
			if id != current {
				orphans++
			}
		}
	}
	if orphans == 0 {
		t.Fatal("no kill landed in the middle of a write")
	}
	// A Store with a short grace period sweeps the bucket by itself.
	collector := newStore(t, js, ChunkGrace(time.Second))
	eventually(t, "the killed write's chunks removed", func() bool {
		return slices.Equal(chunkIDs(t, js, "b"), []string{manifestID(t, collector, "b", "k")})
	})
}

// runWriterAndKill starts TestHelperChunkWriter, kills it once it has written a few values,
// and returns the last value it saw acknowledged.
func runWriterAndKill(t *testing.T, url string) []byte {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChunkWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), writerEnv+"="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	var last byte
	for n := 0; n < 3 && lines.Scan(); n++ {
		b, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("writer said %q", lines.Text())
		}
		last = byte(b)
	}
	time.Sleep(time.Duration(5+time.Now().UnixNano()%20) * time.Millisecond)
	_ = cmd.Process.Signal(os.Kill)
	// Acknowledgements printed before the kill took effect.
	for lines.Scan() {
		if b, err := strconv.Atoi(lines.Text()); err == nil {
			last = byte(b)
		}
	}
	return bytes.Repeat([]byte{last}, 2<<20)
}

// TestHelperChunkWriter is the child of TestKilledWriterLeavesNothing: it writes 2 MiB values
// to one key, each one byte repeated, and prints the byte of each acknowledged write.
func TestHelperChunkWriter(t *testing.T) {
	url := os.Getenv(writerEnv)
	if url == "" {
		t.Skip("run by TestKilledWriterLeavesNothing")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(js)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 2<<20)
	for b := byte('A'); ; b++ {
		for i := range v {
			v[i] = b
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.Set(ctx, "b", "k", v)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		fmt.Println(int(b))
	}
}

// TestChunksReadYourWrites: on a three-server cluster, a large value written through one
// server is read whole right after through the others, by other Stores, while old chunks are
// collected.
func TestChunksReadYourWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	servers := natstest.Cluster(t, t.TempDir(), 3, natstest.MaxPayload(smallPayload))
	stores := make([]*Store, 3)
	for i, ns := range servers {
		js, err := natsjs.New(natstest.Connect(t, ns))
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = newStore(t, js, Replicas(3))
	}
	ctx := testCtx(t)
	for i := range 60 {
		v := pattern(smallPayload*(2+i%5)+i, byte(i))
		if err := stores[i%3].Set(ctx, "b", "k", v); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		for j := 1; j < 3; j++ {
			got, ok, err := stores[(i+j)%3].Get(ctx, "b", "k")
			if err != nil || !ok || !bytes.Equal(got, v) {
				t.Fatalf("write %d read through server %d = %d bytes, %v, %v; want the %d bytes just written", i, (i+j)%3, len(got), ok, err, len(v))
			}
		}
		many, err := stores[(i+1)%3].GetMany(ctx, "b", []string{"k"})
		if err != nil || many[0] == nil || !bytes.Equal(many[0].Value, v) {
			t.Fatalf("write %d GetMany: %v", i, err)
		}
	}
}

// A provider whose NATS user may not publish chunks is told so, instead of waiting for
// acknowledgements that cannot come.
func TestChunksWithoutPermission(t *testing.T) {
	ns := natstest.Run(t, natstest.JetStream(t.TempDir()), natstest.MaxPayload(smallPayload), natstest.Users(
		&server.User{Username: "p", Password: "p", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"_INBOX.>", "$JS.API.>", "$KV.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}}))
	js, err := natsjs.New(natstest.Connect(t, ns, nats.UserInfo("p", "p")))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, js)
	ctx := testCtx(t)
	if err := s.Set(ctx, "b", "small", []byte("fits")); err != nil {
		t.Fatal(err)
	}
	err = s.Set(ctx, "b", "large", pattern(3*smallPayload, 1))
	if !isOther(err) || !strings.Contains(err.Error(), "$KVC.>") {
		t.Fatalf("Set of a chunked value without permission = %v; want an OtherError naming $KVC.>", err)
	}
}
