// Package filewatch notices files that change, by polling their modification times. Polling
// sees a file rewritten in place, replaced by a rename and swapped behind a symbolic link (as
// mounted secrets are) alike, on any file system.
package filewatch

import (
	"context"
	"os"
	"time"
)

// ModTime is path's modification time, following links, or the zero time when it cannot be
// read: a file that disappears and one that comes back both count as changed.
func ModTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// Poll calls check every interval until ctx ends.
func Poll(ctx context.Context, interval time.Duration, check func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}
