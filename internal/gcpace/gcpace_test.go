package gcpace

import (
	"runtime/debug"
	"testing"
)

func percent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestPacing(t *testing.T) {
	if !managed {
		t.Skip("GOGC is set: the package leaves the pacing alone")
	}
	before := percent()
	small := Begin(Threshold - 1)
	if percent() != before {
		t.Fatalf("a small value changed the pacing to %d", percent())
	}
	small()
	a := Begin(16 << 20)
	if percent() != Percent {
		t.Fatalf("pacing with a large value in flight = %d; want %d", percent(), Percent)
	}
	b := Begin(Threshold)
	a()
	a() // twice: counted once
	if percent() != Percent {
		t.Fatalf("pacing with one large value still in flight = %d; want %d", percent(), Percent)
	}
	b()
	if percent() != before {
		t.Fatalf("pacing after the last large value = %d; want %d back", percent(), before)
	}
}
