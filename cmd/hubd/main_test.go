package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's target, which SetGCPercent returns.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneGC_SetsFiftyUnlessGOGCIsSet(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	cases := []struct {
		gogc string
		want int
	}{
		{"", 50},     // empty is unset for the runtime too
		{"100", 137}, // set: what the runtime has stays
		{"off", 137},
		{"200", 137},
	}
	for _, c := range cases {
		t.Setenv("GOGC", c.gogc)
		debug.SetGCPercent(137)
		tuneGC(os.Getenv)()
		if got := gcPercent(); got != c.want {
			t.Errorf("GOGC=%q: GC percent %d after tuneGC, want %d", c.gogc, got, c.want)
		}
	}
}
