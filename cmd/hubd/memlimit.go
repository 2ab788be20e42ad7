package main

import (
	"math"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The daemons' soft memory limit follows the live heap: after every
// collection it is set so that the collector's next target is the live
// heap and room for the garbage made until then (a tenth of the live
// heap, at least minGCRoom), on top of everything else the runtime holds
// and counts against a limit: its own memory besides the heap (stacks,
// span and GC metadata, the globals' pointer masks: some 8 MiB at 10,000
// devices, 6 at 1,000), the free slots in the heap's spans, and the
// margin the runtime keeps under any limit (3% of its target, at least
// 1 MiB). An earlier limit (the live heap, a fifth more and the runtime's
// own memory) left those slots and that margin out: what it meant as a
// fifth for garbage was a tenth at 10,000 devices on the embedded broker
// and next to nothing with the 14 MiB live heap of an external broker,
// where the collector then ran five times a second (7% of a core).
//
// The limit, not GOGC, is what paces the collector here: Go's heap
// target adds GOGC percent of the globals too, and the standard
// library's crypto links a 32 MiB scratch buffer into them (never
// touched, so never resident), which puts GOGC's target some 16 MiB
// above anything useful. Freed pages above the limit are returned at
// once rather than minutes later. The room is the trade: the reports of
// 10,000 devices make some 0.35 MiB of garbage a second since the MQTT
// driver reads them in place (jsonobj.go), an external broker's client
// more; a collection every few seconds at 10,000 devices.
//
// The limit is moved after every collection, not on a timer: a limit
// that lags a growing heap is under what the heap needs, and then the
// collector runs back to back until it is moved. On a timer of 10 s that
// held a start-up with 10,000 devices for seconds, and every burst of
// devices connecting after it.
const (
	// minSoftLimit is the floor of the limit: below it the runtime's own
	// memory (stacks, metadata) would make the collector run too often.
	minSoftLimit = 20 << 20
	// gcRoomPercent is the garbage, in percent of the live heap, the
	// limit leaves room for between collections; minGCRoom the least.
	gcRoomPercent = 10
	minGCRoom     = 3 << 20
	// runtimeMarginPercent and minRuntimeMargin are the margin the Go
	// runtime keeps between its heap target and a memory limit
	// (runtime.memoryLimitHeapGoal).
	runtimeMarginPercent = 3
	minRuntimeMargin     = 1 << 20
	// softLimitSlack is added for what moves between two readings (a
	// goroutine's stack growing, a span's metadata).
	softLimitSlack = 1 << 20
)

// heapStat is what the limit is made of, as the last collection left it.
type heapStat struct {
	live   uint64 // the live heap
	unused uint64 // free slots in the heap's spans
	own    uint64 // the runtime's memory besides the heap
}

// softLimit is the memory limit that gives the collector a target of the
// live heap and its room for garbage.
func softLimit(h heapStat) int64 {
	const most = 1 << 56 // each part under it: nothing overflows
	if h.live > most || h.own > most || h.unused > most {
		return math.MaxInt64
	}
	target := h.live + max(h.live*gcRoomPercent/100, minGCRoom)
	// The runtime takes its margin off what the limit leaves the heap.
	heap := max(target*100/(100-runtimeMarginPercent)+1, target+minRuntimeMargin)
	return max(int64(heap+h.unused+h.own+softLimitSlack), minSoftLimit)
}

// heapNow is the live heap the last collection found, the free slots in
// the heap's spans, and the runtime's memory besides the heap: everything
// it has from the system and not returned, but for heap objects and the
// heap's free and unused space.
func heapNow() heapStat {
	s := []rtmetrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	rtmetrics.Read(s)
	var v [6]uint64
	for i := range s {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return heapStat{}
		}
		v[i] = s[i].Value.Uint64()
	}
	h := heapStat{live: v[0], unused: v[3]}
	if heap := v[2] + v[3] + v[4] + v[5]; v[1] > heap {
		h.own = v[1] - heap
	}
	return h
}

// followHeap keeps the soft memory limit at softLimit of the live heap,
// moved after every collection, unless GOMEMLIMIT (getenv) sets one. The
// returned stop ends it and puts back the limit there was.
func followHeap(getenv func(string) string) (stop func()) {
	if getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	f := &heapFollower{}
	f.before = debug.SetMemoryLimit(softLimit(heapNow()))
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
	debug.SetMemoryLimit(softLimit(heapNow()))
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
