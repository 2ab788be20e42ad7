package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The limit is the live heap, a fifth more, and the runtime's own
// memory, and never under its floor.
func TestSoftLimit_LiveAFifthAndTheRuntimesOwn(t *testing.T) {
	for _, c := range []struct {
		live, own uint64
		want      int64
	}{
		{0, 0, minSoftLimit},
		{10 << 20, 6 << 20, minSoftLimit},                    // 12 + 6 + 1 MiB is under the floor
		{15 << 20, 6 << 20, 18<<20 + 6<<20 + softLimitSlack}, // 1,000 devices
		{35 << 20, 8 << 20, 42<<20 + 8<<20 + softLimitSlack}, // 10,000 devices
		{math.MaxUint64 / 2, 1 << 20, math.MaxInt64},         // no overflow
		{1 << 20, math.MaxUint64, math.MaxInt64},
	} {
		if got := softLimit(c.live, c.own); got != c.want {
			t.Errorf("softLimit(%d, %d) = %d, want %d", c.live, c.own, got, c.want)
		}
	}
}

// heapNow's own is what the runtime has besides the heap: more than
// nothing (stacks, metadata), less than all it has.
func TestHeapNow_OwnIsTheRuntimesBesidesTheHeap(t *testing.T) {
	keep := make([][]byte, 32)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	live, own := heapNow()
	if live < 32<<20 {
		t.Fatalf("live heap %d with 32 MiB kept", live)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if own == 0 || own >= ms.Sys-ms.HeapReleased || own < ms.StackSys {
		t.Fatalf("own %d: want more than the stacks' %d and less than the %d the runtime holds", own, ms.StackSys, ms.Sys-ms.HeapReleased)
	}
	runtime.KeepAlive(keep)
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
	want := softLimit(64<<20, 0)
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
