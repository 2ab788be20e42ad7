package main

import (
	"math"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// The daemons' soft memory limit follows the live heap: after every
// collection it is set to the live heap, a fifth of it more for the
// garbage made until the next collection, and the runtime's own memory
// besides the heap as it stands (stacks, span and GC metadata, the
// globals' pointer masks: some 8 MiB at 10,000 devices, 6 at 1,000).
//
// The limit, not GOGC, is what paces the collector here: Go's heap
// target adds GOGC percent of the globals too, and the standard
// library's crypto links a 32 MiB scratch buffer into them (never
// touched, so never resident), which puts GOGC's target some 16 MiB
// above anything useful. Freed pages above the limit are returned at
// once rather than minutes later. The fifth is the trade: the
// collector runs once the garbage has filled the heap's free slots and
// a fifth of the live heap (less what the heap's fragments keep from
// use). The reports of 10,000 devices make some 0.35 MiB of garbage a
// second since the MQTT driver reads them in place (jsonobj.go): a
// collection every few seconds, 4-6% of a core for the whole daemon at
// 10,000 devices. At a tenth the collector ran back to back (12% of a
// core), at a quarter resident memory was 1.5 MiB more.
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
	// gcHeadroomPercent is the garbage, in percent of the live heap, the
	// limit leaves room for between collections.
	gcHeadroomPercent = 20
	// softLimitSlack is added for what moves between two readings (a
	// goroutine's stack growing, a span's metadata).
	softLimitSlack = 1 << 20
)

// softLimit is the memory limit for a live heap of live bytes when the
// runtime's memory besides the heap is own bytes.
func softLimit(live, own uint64) int64 {
	const most = 1 << 56 // each part under it: nothing overflows
	if live > most || own > most {
		return math.MaxInt64
	}
	return max(int64(live+live*gcHeadroomPercent/100+own+softLimitSlack), minSoftLimit)
}

// heapNow is the live heap the last collection found and the runtime's
// memory besides the heap: everything it has from the system and not
// returned, but for heap objects and the heap's free and unused space.
func heapNow() (live, own uint64) {
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
			return 0, 0
		}
		v[i] = s[i].Value.Uint64()
	}
	heap := v[2] + v[3] + v[4] + v[5]
	if v[1] > heap {
		own = v[1] - heap
	}
	return v[0], own
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
