package main

import (
	"runtime/debug"
	"sync"
)

// tuneGCForStart is tuneGC for the daemon's start: the collector's target
// is set at once, but the soft memory limit that follows the live heap
// (memlimit.go) only from settle on, which Run calls once the daemon
// serves. While a start-up grows the heap from nothing to the config's
// tree and every device's tables, the limit (which counts all the
// runtime's memory, not the heap alone) was reached before the
// collector's own target, every cycle: with 10,000 devices the start used
// about 1.1 s of CPU with it and 0.85 s without, for a peak resident
// memory of about 140 MB instead of 135 MB; the memory freed meanwhile is
// returned when the daemon serves (debug.FreeOSMemory in Run), as before.
// GOGC and GOMEMLIMIT in the environment (getenv) still win. stop ends
// the tuning as tuneGC's stop does.
func tuneGCForStart(getenv func(string) string) (settle, stop func()) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	var once sync.Once
	stopFollow := func() {}
	settle = func() { once.Do(func() { stopFollow = followHeap(getenv) }) }
	stop = func() {
		settle()
		stopFollow()
	}
	return settle, stop
}
