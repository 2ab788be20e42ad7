package main

import (
	"math"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The daemons' soft memory limit follows the live heap. With the GC at
// daemonGCPercent the heap grows to 1.5 times what is live before a
// collection, but pages freed since stay with the process for minutes;
// a limit just above that target makes the runtime return them at once,
// while the collector is still paced by GOGC (the limit is above its
// target). With 1,000 MQTT devices that is about 2 MB less resident
// memory for a few percent more CPU.
//
// The limit is moved after every collection, not on a timer: a limit
// that lags a growing heap is under GOGC's target, and then the collector
// runs back to back until it is moved. On a timer of 10 s that held a
// start-up with 10,000 devices (a 45 MB heap under the 20 MB floor) for
// seconds, and every burst of devices connecting after it.
const (
	// minSoftLimit is the floor of the limit: below it the runtime's own
	// memory (stacks, metadata) would make the collector run too often.
	minSoftLimit = 20 << 20
	// softLimitSlack is added to the GOGC target for stacks and the
	// runtime's own structures.
	softLimitSlack = 4 << 20
)

// softLimit is the memory limit for a live heap of live bytes.
func softLimit(live uint64) int64 {
	l := live + live*daemonGCPercent/100 + softLimitSlack
	if l > math.MaxInt64 {
		return math.MaxInt64
	}
	return max(int64(l), minSoftLimit)
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// followHeap keeps the soft memory limit at softLimit of the live heap,
// moved after every collection, unless GOMEMLIMIT (getenv) sets one. The
// returned stop ends it and puts back the limit there was.
func followHeap(getenv func(string) string) (stop func()) {
	if getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	f := &heapFollower{}
	f.before = debug.SetMemoryLimit(softLimit(liveHeap()))
	f.arm()
	return f.stop
}

// heapFollower moves the limit from a cleanup of an object that becomes
// unreachable at once: the cleanup runs after the next collection and
// arms the next one, so it runs once per cycle.
type heapFollower struct {
	mu      sync.Mutex // orders a move with stop's restore
	stopped bool
	before  int64
}

// gcSentinel is the object whose collection marks a cycle; larger than
// the tiny allocator's 16 bytes, so it is freed on its own.
type gcSentinel [32]byte

func (f *heapFollower) arm() {
	runtime.AddCleanup(new(gcSentinel), func(f *heapFollower) { f.cycle() }, f)
}

// cycle moves the limit after a collection and waits for the next one.
func (f *heapFollower) cycle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	debug.SetMemoryLimit(softLimit(liveHeap()))
	f.arm()
}

func (f *heapFollower) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetMemoryLimit(f.before)
	}
}
