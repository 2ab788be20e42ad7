package main

import (
	"context"
	"math"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// The daemons' soft memory limit follows the live heap. With the GC at
// daemonGCPercent the heap grows to 1.5 times what is live before a
// collection, but pages freed since stay with the process for minutes;
// a limit just above that target makes the runtime return them at once,
// while the collector is still paced by GOGC (the limit is above its
// target). With 1,000 MQTT devices that is about 2 MB less resident
// memory for a few percent more CPU; at 10,000 devices the limit grows
// with the heap, so it never makes the collector run back to back.
const (
	// minSoftLimit is the floor of the limit: below it the runtime's own
	// memory (stacks, metadata) would make the collector run too often.
	minSoftLimit = 20 << 20
	// softLimitSlack is added to the GOGC target for stacks and the
	// runtime's own structures.
	softLimitSlack = 4 << 20
	// softLimitEvery is how often the limit follows the live heap.
	softLimitEvery = 10 * time.Second
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
// every softLimitEvery, unless GOMEMLIMIT (getenv) sets one. The returned
// stop ends it and puts back the limit there was.
func followHeap(getenv func(string) string) (stop func()) {
	if getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	before := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(softLimit(liveHeap()))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(softLimitEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				debug.SetMemoryLimit(softLimit(liveHeap()))
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		debug.SetMemoryLimit(before)
	}
}
