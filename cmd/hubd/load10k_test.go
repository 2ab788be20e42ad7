package main

import (
	"testing"
	"time"
)

// TestLoad_TenThousandDevices_Memory is issue 18's memory row as its
// target names it: the release build with 10,000 MQTT devices on the
// embedded broker, telemetry every 10 s, for SOAK_DURATION (default 5
// minutes), resident memory sampled when all are online, half way and
// at the end. It fails above memoryTarget10k, or when the second half
// grew by more than a tenth over the first (not flat). Opt-in with
// HUBD_SOAK=1 (make soak); `make bench` runs the same for a minute
// (BenchmarkDaemon_Memory10000).
func TestLoad_TenThousandDevices_Memory(t *testing.T) {
	soakEnabled(t)
	broker := freePortTB(t)
	run := memRun{devices: 10000, telemetry: 10 * time.Second, dur: soakDuration(t), target: memoryTarget10k}
	s := runMemory(t, run, broker, "tcp://"+broker, "mem-pass", nil)
	t.Logf("10,000 devices for %v: resident %d KiB online, %d half way, %d at the end (target %d KiB: %s); hubd.db %d KiB, %.0f MiB written per hour; load %s",
		run.dur, s.online, s.mid, s.end, run.target, verdict(s.peak() <= run.target), s.dbBytes>>10,
		float64(s.written)/run.dur.Hours()/(1<<20), loadAvg())
	if s.peak() > run.target {
		t.Errorf("resident memory %d KiB with 10,000 devices, over the %d KiB target", s.peak(), run.target)
	}
	if s.end > s.mid+s.mid/10 {
		t.Errorf("resident memory grew from %d KiB half way to %d KiB at the end: not flat", s.mid, s.end)
	}
}
