package main

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
	"hubd/store"
)

// startupTarget is issue 18's bound on start-up to serving queries with
// 10,000 devices and a 20 MB state file, on the 2-core build machine.
const startupTarget = time.Second

// startupStateBytes is the size the benchmark's state file is grown to.
const startupStateBytes = 20 << 20

// BenchmarkDaemon_StartUp10000 measures the release build from exec to the
// first devices/query that answers 100 devices with the state saved in the
// store (no device has connected yet, so a state can only come from the
// file): 10,000 MQTT devices in the config, a state file of about 20 MB
// (a saved state for every device plus a fleet uplink backlog, which the
// start-up's integrity check reads like every other page). It starts the
// daemon three times on the same file (in the page cache, as on a
// gateway restarted by systemd) and reports the median and the slowest,
// with the steps the daemon's "hubd started" line gives for the median
// start (startup_trace.go; cpu is the CPU time of all its threads).
func BenchmarkDaemon_StartUp10000(b *testing.B) {
	benchStartUp(b, runtime.GOARCH, "")
}

// BenchmarkDaemon_StartUp10000_Arm64Qemu is the same for the arm64 build
// under qemu-user: issue 18 asks for the figure (3 s would be good), not
// a target; the emulator is several times slower than an arm64 core.
func BenchmarkDaemon_StartUp10000_Arm64Qemu(b *testing.B) {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		b.Skip("qemu-aarch64-static not found: apt-get install -y qemu-user-static")
	}
	benchStartUp(b, "arm64", qemu)
}

// benchStartUp runs the start-up benchmark with the goarch build, under
// qemu when it is not "".
func benchStartUp(b *testing.B, goarch, qemu string) {
	const devices = 10000
	specs := mqttsim.Mass(devices)
	dir := b.TempDir()
	httpAddr := freePortTB(b)
	cfg := mqttRunConfig(b, dir, freePortTB(b), "hubd", "start-pass", specs, func(c *Config) {
		c.HTTP.Listen = httpAddr
		c.MQTT.Limits.MaxConnections = sizedConnections(devices)
	})
	dbPath := filepath.Join(dir, "data", "hubd.db")
	size := seedStateFile(b, dbPath, specs, startupStateBytes)
	cfgSize := fileSize(b, cfg)
	bin := buildHubd(b, b.TempDir(), goarch)
	cmd := []string{bin}
	if qemu != "" {
		cmd = []string{qemu, bin}
	}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = specs[i*devices/len(ids)].ID
	}
	for i := 0; i < b.N; i++ {
		var runs []startUpRun
		for range 3 {
			runs = append(runs, timeStartUp(b, cmd, cfg, httpAddr, ids))
		}
		slices.SortFunc(runs, func(x, y startUpRun) int { return cmp.Compare(x.took, y.took) })
		med, worst := runs[len(runs)/2].took, runs[len(runs)-1].took
		b.ReportMetric(float64(med.Milliseconds()), "startup-ms")
		b.ReportMetric(float64(worst.Milliseconds()), "worst-startup-ms")
		target := fmt.Sprintf("target <= %v: %s", startupTarget, verdict(worst <= startupTarget))
		if qemu != "" {
			target = "arm64 under qemu: no target"
		}
		b.Logf("start-up to serving queries, %d devices, state file %.1f MiB, config %.1f MiB: median %v, slowest %v of 3 (%s); load %s",
			devices, float64(size)/(1<<20), float64(cfgSize)/(1<<20), med.Round(time.Millisecond), worst.Round(time.Millisecond),
			target, loadAvg())
		b.Logf("the median start's steps as hubd logged them (ms): %s", runs[len(runs)/2].steps)
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// seedStateFile writes the store at path as a gateway of these devices
// leaves it: every device's last state (online, seen now, identified), and
// a fleet uplink backlog that grows the file to about want bytes. It
// returns the file's size.
func seedStateFile(tb testing.TB, path string, specs []mqttsim.Spec, want int64) int64 {
	tb.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for i, s := range specs {
		st := hub.State{Set: s.Fields(), On: i%2 == 0, Brightness: 1 + i%100, Color: hub.HSV{H: i % 360, S: 60, V: 80},
			TemperatureK: 4000, Mode: hub.ColorModeHSV, Power: float64(i%50) + 0.5, Voltage: 230.1, Current: 0.2, Energy: float64(i)}
		for f := range hub.Field(hub.NumFields) {
			st.Updated[f] = hub.StampOf(now)
		}
		db.Put(s.ID, hub.Snapshot{State: st, LastSeen: now, Online: true, Seq: 1,
			Info: hub.Info{Manufacturer: s.Dialect, Model: "emulated " + string(s.Kind), Hardware: "ESP8266EX", Firmware: "14.1.0"}})
	}
	if err := db.Flush(); err != nil {
		tb.Fatal(err)
	}
	q, err := db.Queue(uplinkQueue, store.QueueOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	event := bytes.Repeat([]byte("x"), 400)
	// Fill the backlog until states and backlog hold half of want; bbolt's
	// pages and the steps its file grows in make up the rest (the
	// benchmark prints the size the file came to).
	states, err := db.Size()
	if err != nil {
		tb.Fatal(err)
	}
	for states+q.Stats().Bytes < want/2 {
		batch := make([][]byte, 1000)
		for i := range batch {
			batch[i] = fmt.Appendf(nil, `{"device":"sim-%04d","at":%q,"pad":"%s"}`, i, now.Format(time.RFC3339Nano), event)
		}
		if _, err := q.Append(batch); err != nil {
			tb.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	return fileSize(tb, path)
}

// startUpRun is one timed start: exec to the full answer, and the steps
// the daemon's "hubd started" line gave.
type startUpRun struct {
	took  time.Duration
	steps string
}

// startupSteps are the startup_ms attributes of a text log.
var startupSteps = regexp.MustCompile(`startup_ms\.(\S+)`)

// timeStartUp starts the daemon (cmd: the binary, or qemu and the binary)
// with cfg and returns the time from exec until a devices/query for ids
// on httpAddr answers every one of them with its state, with the daemon's
// own breakdown; then it stops the daemon.
func timeStartUp(b *testing.B, cmd []string, cfg, httpAddr string, ids []string) startUpRun {
	b.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	start := time.Now()
	d := launch(b, exec.Command(cmd[0], append(cmd[1:], "run", "-config", cfg)...))
	deadline := start.Add(120 * time.Second)
	for {
		r, err := queryRaw(client, httpAddr, ids)
		if err == nil && len(r) == len(ids) && answeredAll(r) {
			took := time.Since(start)
			d.stop()
			var steps []string
			for _, m := range startupSteps.FindAllStringSubmatch(d.out.String(), -1) {
				steps = append(steps, m[1])
			}
			return startUpRun{took, strings.Join(steps, " ")}
		}
		if time.Now().After(deadline) {
			b.Fatalf("no full answer within 120 s of exec (last error %v):\n%s", err, d.out)
		}
		select {
		case <-d.exited:
			b.Fatalf("hubd exited while starting: %v\n%s", d.err, d.out)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// answeredAll reports whether every device of a query answer carries its
// state rather than an error.
func answeredAll(r map[string]yandexDevice) bool {
	for _, d := range r {
		if d.ErrorCode != "" || len(d.Capabilities) == 0 {
			return false
		}
	}
	return true
}
