package main

import (
	"math"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"
	"time"
)

// The limit is the live heap and its room for garbage, with the
// runtime's margin, plus the free slots in the spans and the runtime's own
// memory, and never under its floor.
func TestSoftLimit_TheHeapsTargetOnTopOfWhatElseTheRuntimeHolds(t *testing.T) {
	for _, c := range []struct {
		h    heapStat
		want int64
	}{
		{heapStat{}, minSoftLimit},
		{heapStat{live: 5 << 20, own: 6 << 20}, minSoftLimit}, // 5 + 3 + 1 + 6 + 1 MiB is under the floor
		// 14 MiB live (10,000 devices on an external broker): the least room.
		{heapStat{live: 14 << 20, unused: 2 << 20, own: 8 << 20}, 17<<20 + 1<<20 + 2<<20 + 8<<20 + softLimitSlack},
		// 30 MiB live (on the embedded broker): a tenth, and the runtime's 3%.
		{heapStat{live: 30 << 20, unused: 3 << 20, own: 9 << 20}, 33<<20*100/97 + 1 + 3<<20 + 9<<20 + softLimitSlack},
		{heapStat{live: math.MaxUint64 / 2, own: 1 << 20}, math.MaxInt64}, // no overflow
		{heapStat{live: 1 << 20, own: math.MaxUint64}, math.MaxInt64},
		{heapStat{live: 1 << 20, unused: math.MaxUint64}, math.MaxInt64},
	} {
		if got := softLimit(c.h); got != c.want {
			t.Errorf("softLimit(%+v) = %d, want %d", c.h, got, c.want)
		}
	}
}

// What the limit is for, asked of the runtime itself: with it set, the
// collector's target (/gc/heap/goal) leaves the live heap its room for
// garbage. The limit of the live heap, a fifth more and the runtime's own
// memory left the free slots and the runtime's margin out, and a 14 MiB
// heap next to no room.
func TestSoftLimit_TheCollectorsTargetLeavesTheRoom(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	gogc := debug.SetGCPercent(daemonGCPercent)
	defer debug.SetGCPercent(gogc)
	keep := make([][]byte, 0, 30<<10)
	for range cap(keep) {
		keep = append(keep, make([]byte, 1000)) // 30 MiB live in small objects
	}
	for i := 0; i < len(keep); i += 3 {
		keep[i] = nil // and free slots among them
	}
	runtime.GC()
	h := heapNow()
	debug.SetMemoryLimit(softLimit(h))
	s := []rtmetrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	rtmetrics.Read(s)
	goal := s[0].Value.Uint64()
	room := max(h.live*gcRoomPercent/100, minGCRoom)
	if goal < h.live+room {
		t.Fatalf("collector's target %.1f MiB with %.1f MiB live and %.1f MiB of free slots: %.1f MiB of room, want %.1f",
			mib(goal), mib(h.live), mib(h.unused), mib(goal)-mib(h.live), mib(room))
	}
	runtime.KeepAlive(keep)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// heapNow's own is what the runtime has besides the heap: more than
// nothing (stacks, metadata), less than all it has.
func TestHeapNow_OwnIsTheRuntimesBesidesTheHeap(t *testing.T) {
	keep := make([][]byte, 32)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	h := heapNow()
	if h.live < 32<<20 {
		t.Fatalf("live heap %d with 32 MiB kept", h.live)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if h.own == 0 || h.own >= ms.Sys-ms.HeapReleased || h.own < ms.StackSys {
		t.Fatalf("own %d: want more than the stacks' %d and less than the %d the runtime holds", h.own, ms.StackSys, ms.Sys-ms.HeapReleased)
	}
	if h.unused > ms.HeapInuse-ms.HeapAlloc+ms.HeapInuse/100 {
		t.Fatalf("free slots %d: more than the %d in-use spans hold beside their objects", h.unused, ms.HeapInuse-ms.HeapAlloc)
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
	want := softLimit(heapStat{live: 64 << 20})
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
