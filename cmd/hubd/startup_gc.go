package main

import (
	"runtime/debug"
	"sync"
)

// startupGCPercent is the collector's target while the daemon starts.
// The daemon's own tuning (GOGC 50, a soft limit just above it: main.go,
// memlimit.go) runs the collector every time the heap grows by half; a
// start-up grows it from nothing to the config's tree and every device's
// tables, and with 10,000 devices a quarter of its CPU went to the
// collector, on the same cores the start-up's parallel parts need. At 100
// with no soft limit until the start is done, the start-up's CPU time
// drops from about 1.1 s to 0.75 s, for a peak of about 165 MB resident
// instead of 135 MB, which the debug.FreeOSMemory at the end of the start
// gives back.
const startupGCPercent = 100

// tuneGCForStart is tuneGC for the daemon's start: until settle is
// called (Run calls it once the daemon serves), the collector runs at
// startupGCPercent with no soft limit; settle puts tuneGC in force. Each
// is left alone when GOGC or GOMEMLIMIT set it. stop ends the tuning as
// tuneGC's stop does.
func tuneGCForStart(getenv func(string) string) (settle, stop func()) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(startupGCPercent)
	}
	var once sync.Once
	stopFollow := func() {}
	settle = func() { once.Do(func() { stopFollow = tuneGC(getenv) }) }
	stop = func() {
		settle()
		stopFollow()
	}
	return settle, stop
}
