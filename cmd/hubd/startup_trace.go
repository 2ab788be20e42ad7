package main

import (
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// processStart approximates the exec of the process: package variables
// are set before main runs, after only the runtime's own start.
var processStart = time.Now()

// startupTrace times the steps of a start-up, from processStart to the
// listener serving; "hubd started" logs them (in milliseconds, at info:
// one line per start) so a slow start says where its time went.
type startupTrace struct {
	mu    sync.Mutex
	start time.Time
	last  time.Time
	steps []slog.Attr
}

func newStartupTrace(start time.Time) *startupTrace {
	return &startupTrace{start: start, last: start}
}

// step records the time since the previous step under name. A nil trace
// records nothing (a Main built by a test or the demo).
func (t *startupTrace) step(name string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.steps = append(t.steps, msAttr(name, now.Sub(t.last)))
	t.last = now
}

// span records d under name without moving the step clock: a part that
// ran alongside the steps.
func (t *startupTrace) span(name string, d time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps = append(t.steps, msAttr(name, d))
}

// attr is the trace as one log attribute: the total, the CPU time the
// process used (user and system, all threads: on a shared machine the
// figure the load moves least), and every step.
func (t *startupTrace) attr() slog.Attr {
	if t == nil {
		return slog.Attr{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	attrs := []slog.Attr{msAttr("total", time.Since(t.start))}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		attrs = append(attrs, msAttr("cpu", time.Duration(ru.Utime.Nano()+ru.Stime.Nano())))
	}
	attrs = append(attrs, t.steps...)
	return slog.Attr{Key: "startup_ms", Value: slog.GroupValue(attrs...)}
}

func msAttr(name string, d time.Duration) slog.Attr {
	return slog.Float64(name, float64(d.Microseconds())/1000)
}
