package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestModTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if !ModTime(path).IsZero() {
		t.Error("a missing file has a modification time")
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	was := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, was, was); err != nil {
		t.Fatal(err)
	}
	if got := ModTime(path); !got.Equal(was) {
		t.Errorf("ModTime = %v; want %v", got, was)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if got := ModTime(link); !got.Equal(was) {
		t.Errorf("ModTime of a link = %v; want its target's %v", got, was)
	}
}

func TestPollStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		Poll(ctx, time.Millisecond, func() {
			if n.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Poll did not return after its context ended")
	}
	if n.Load() != 3 {
		t.Errorf("check ran %d times after the context ended at 3", n.Load())
	}
}
