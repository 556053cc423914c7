package jetstream

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writerDirEnv names the store directory of the child process TestAckedWritesSurviveKill starts.
const writerDirEnv = "JETSTREAM_TEST_WRITER_DIR"

// TestAckedWritesSurviveKill runs an embedded server and a writer in a child process, kills it
// with SIGKILL in the middle of its writes, and checks on a new server over the same directory
// that every write the child saw acknowledged is there.
func TestAckedWritesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), writerDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			continue
		}
		if acked, err = strconv.Atoi(n); err != nil {
			t.Fatal(err)
		}
		if acked == 300 {
			break
		}
	}
	if acked != 300 {
		t.Fatalf("child stopped after %d acknowledged writes", acked)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true

	s := newStore(t, connect(t, startServer(t, dir)), CreateBuckets(false))
	ctx := testCtx(t)
	for i := 0; i <= acked; i++ {
		k := fmt.Sprintf("k.%d", i)
		v, ok, err := s.Get(ctx, "durable", k)
		if err != nil || !ok || string(v) != "value "+k {
			t.Fatalf("acknowledged write %s reads %q, %v, %v after kill -9", k, v, ok, err)
		}
	}
	if n, err := s.Increment(ctx, "durable", "counter", 0); err != nil || n < uint64(acked+1) {
		t.Fatalf("counter reads %d, %v; want at least %d", n, err, acked+1)
	}
}

// TestHelperWriter is the child of TestAckedWritesSurviveKill: it writes until it is killed,
// reporting each acknowledged write on stdout.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(writerDirEnv)
	if dir == "" {
		t.Skip("runs as the child of TestAckedWritesSurviveKill")
	}
	s := newStore(t, connect(t, startServer(t, dir)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; ; i++ {
		k := fmt.Sprintf("k.%d", i)
		if err := s.Set(ctx, "durable", k, []byte("value "+k)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Increment(ctx, "durable", "counter", 1); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", i)
	}
}
