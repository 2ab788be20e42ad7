package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The limit sits above GOGC's heap target (1.5 times the live heap) with
// room for the runtime, and never under its floor.
func TestSoftLimit_AboveTheGCTargetWithAFloor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, minSoftLimit},
		{10 << 20, minSoftLimit},             // 15 + 4 MiB is under the floor
		{12 << 20, 18<<20 + softLimitSlack},  // 1,000 devices
		{80 << 20, 120<<20 + softLimitSlack}, // 10,000 devices
		{math.MaxUint64 / 2, math.MaxInt64},  // no overflow
	} {
		if got := softLimit(c.live); got != c.want {
			t.Errorf("softLimit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// followHeap sets a limit at once unless GOMEMLIMIT is set, and its stop
// puts back the one there was.
func TestFollowHeap_SetsAndRestoresTheLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop := followHeap(func(string) string { return "" })
	if got := debug.SetMemoryLimit(-1); got < minSoftLimit || got == before {
		t.Errorf("limit while following: %d, want a limit of at least %d (before: %d)", got, minSoftLimit, before)
	}
	stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after stop: %d, want %d", got, before)
	}
	stop = followHeap(func(k string) string { return map[string]string{"GOMEMLIMIT": "64MiB"}[k] })
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("with GOMEMLIMIT set the limit moved to %d", got)
	}
}

// A heap that grows is followed from the next collection on, not after
// a timer: the limit must not stay under the collector's own target.
func TestFollowHeap_MovesWithTheNextCollection(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop := followHeap(func(string) string { return "" })
	defer func() {
		stop()
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Errorf("limit after stop: %d, want %d", got, before)
		}
	}()
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20) // 64 MiB live, over the floor's 20
	}
	want := softLimit(64 << 20)
	deadline := time.Now().Add(3 * time.Second) // the old follower moved every 10 s
	for debug.SetMemoryLimit(-1) < want {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d MiB 3 s after the heap grew to 64 MiB, want at least %d MiB",
				debug.SetMemoryLimit(-1)>>20, want>>20)
		}
		runtime.GC() // a collection, after which the limit moves
		runtime.Gosched()
	}
	runtime.KeepAlive(live)
}
