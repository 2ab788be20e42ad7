package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"hubd/hub/yandex"
)

func TestTuneGCForStart(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(gcPercent())
	before := debug.SetMemoryLimit(-1)
	settle, stop := tuneGCForStart(func(k string) string { return "" })
	if got, lim := gcPercent(), debug.SetMemoryLimit(-1); got != daemonGCPercent || lim != before {
		t.Fatalf("while starting: GC percent %d, limit %d; want %d and the limit there was (%d)", got, lim, daemonGCPercent, before)
	}
	settle()
	settle() // once
	if got, lim := gcPercent(), debug.SetMemoryLimit(-1); got != daemonGCPercent || lim < minSoftLimit || lim == before {
		t.Fatalf("settled: GC percent %d, limit %d; want %d and a followed limit", got, lim, daemonGCPercent)
	}
	stop()
	if lim := debug.SetMemoryLimit(-1); lim != before {
		t.Fatalf("limit after stop %d, want %d", lim, before)
	}

	// GOGC from the environment is the runtime's, in both phases.
	debug.SetGCPercent(137)
	env := func(k string) string { return map[string]string{"GOGC": "137"}[k] }
	settle, stop = tuneGCForStart(env)
	if got := gcPercent(); got != 137 {
		t.Fatalf("GOGC set: %d while starting", got)
	}
	settle()
	if got := gcPercent(); got != 137 {
		t.Fatalf("GOGC set: %d once settled", got)
	}
	stop()
}

// Run settles the collector before it says it is ready, and not before
// the store and the listener are up.
func TestRun_SettlesTheCollectorBeforeReady(t *testing.T) {
	dir := t.TempDir()
	text := fmt.Sprintf("gateway:\n  name: gc\nhttp:\n  listen: 127.0.0.1:0\ndata_dir: %s\nyandex:\n  users:\n    - id: owner\n      staff: true\n      tokens: [%q]\n", dir, yandex.HashToken(demoToken))
	c, err := ParseConfig("gc.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	settled := make(chan string, 2)
	m := &Main{Config: c, settleGC: func() { settled <- "settled" }}
	m.Ready = func(string) { settled <- "ready" }
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for _, want := range []string{"settled", "ready"} {
		select {
		case got := <-settled:
			if got != want {
				t.Fatalf("got %q, want %q first", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q within 10 s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
