package alexa

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// Simulator settings of the first-sync benchmark: sessions answer
// IN_PROGRESS twice before their final status (the simulator's default),
// and a created object stays out of lists for the next three list calls
// (read-after-write lag, REFERENCE.md section 2).
const (
	benchPolls   = 2
	benchListLag = 3
)

// homeSite is one building of floors x homes, each home a living room
// holding one lamp: a residential tower.
func homeSite(floors, homes int) *hub.Site {
	return gridSite("tower", "Tower", floors, homes, func(f, h int) *hub.Node {
		id := fmt.Sprintf("f%d-h%d", f, h)
		return &hub.Node{ID: id, Name: fmt.Sprintf("Apartment %d%02d", f, h), Kind: hub.NodeHome,
			Children: []*hub.Node{{ID: id + "-living", Name: "Living room", Kind: hub.NodeRoom, Devices: []string{"lamp-" + id}}}}
	})
}

// BenchmarkSyncer_FirstSync_5000Rooms syncs a 5,000-room site (1 building,
// 50 floors of 100 rooms, one device each) into an empty organization, with
// discovery, and a 5,000-home residential tower, against the simulator
// running in a helper process, so this process's heap is the product's.
//
// Calls are compared by route with firstSyncMinimum (see there for how each
// is derived from the documents); the target is equality.
//
// Memory: the idle figure is the heap after two collections with the site
// loaded and the Syncer built; the peak is sampled every 2 ms through the
// sync. The target (peak <= 2x idle) applies to the live heap (what the
// last collection found reachable): the heap including garbage not yet
// collected is reported too, but with GOGC=100 the runtime lets it grow to
// about twice the live heap (and to at least 4 MiB) before collecting, so
// that figure measures the collector's pacing more than what the sync holds.
// Peak RSS (VmHWM, reset before the sync) is the whole test binary's.
//
// The client's rate limit is off (the default 5 calls/s would make this
// run for an hour and change no count); the simulator throttles nothing.
func BenchmarkSyncer_FirstSync_5000Rooms(b *testing.B) {
	b.Run("units", func(b *testing.B) { benchFirstSync(b, buildSite(50, 100), false) })
	b.Run("residential", func(b *testing.B) { benchFirstSync(b, homeSite(50, 100), true) })
}

func benchFirstSync(b *testing.B, site *hub.Site, residential bool) {
	for b.Loop() {
		b.StopTimer()
		sim := startSimProc(b, benchPolls, benchListLag)
		kv := newBoltKV(b)
		opts := Options{
			APIBase: sim.url, TokenURL: sim.url + alexatest.TokenPath,
			ClientID: alexatest.DemoClientID, ClientSecret: alexatest.DemoClientSecret, RefreshToken: alexatest.DemoRefreshToken,
			ParentID: alexatest.DemoOrg, SkillID: alexatest.DemoSkill, SubscriptionSkillID: alexatest.DemoSubscriptionSkill,
			Residential: residential, KV: kv,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
			RatePerSecond: -1, DiscoveryPoll: time.Millisecond, RetryBase: 10 * time.Millisecond,
		}
		s, err := New(site, opts)
		if err != nil {
			b.Fatal(err)
		}
		want := firstSyncMinimum(site, residential, benchPolls)
		idle := idleHeap()
		rssReset := resetPeakRSS()
		idleRSS := procStatus("VmRSS")
		smp := sampleHeap(2 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		res, err := s.Sync(context.Background())
		applied := res.Applied
		res = Result{} // the caller drops the result; "after" is what the Syncer keeps
		wall := time.Since(start)
		b.StopTimer()
		peak := smp.stop()
		peakRSS := procStatus("VmHWM")
		if err != nil {
			b.Fatalf("Sync: %v", err)
		}
		after := idleHeap()
		runtime.KeepAlive(s) // "after" is what the Syncer keeps between syncs
		got := sim.counts(b)
		if got.Running != 0 {
			b.Fatalf("%d discovery sessions left running", got.Running)
		}
		reportFirstSync(b, firstSyncFigures{got: got, want: want, wall: wall, idle: idle, peak: peak, after: after,
			idleRSS: idleRSS, peakRSS: peakRSS, rss: rssReset, applied: applied})
		b.StartTimer()
	}
}

type firstSyncFigures struct {
	got               simCounts
	want              map[string]int
	wall              time.Duration
	idle, peak, after heapFigures
	idleRSS, peakRSS  uint64
	rss               bool
	applied           int
}

func reportFirstSync(b *testing.B, f firstSyncFigures) {
	minimum := sumCounts(f.want)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	ratio := float64(f.peak.live) / float64(f.idle.live)
	b.ReportMetric(float64(f.got.Total), "calls")
	b.ReportMetric(float64(minimum), "min-calls")
	b.ReportMetric(float64(f.got.Token), "token-calls")
	b.ReportMetric(f.wall.Seconds(), "sync-s")
	b.ReportMetric(mib(f.idle.live), "idle-heap-MiB")
	b.ReportMetric(mib(f.peak.live), "peak-live-heap-MiB")
	b.ReportMetric(ratio, "peak/idle")
	b.ReportMetric(mib(f.peak.alloc), "peak-heap-incl-garbage-MiB")
	b.ReportMetric(mib(f.after.live), "heap-after-MiB")
	b.Logf("first sync: %d steps applied in %v; %d units, %d homes on the simulator", f.applied, f.wall.Round(time.Millisecond), f.got.Units, f.got.Homes)
	b.Logf("calls: %d, minimum %d (%s): %s; plus %d token call(s)", f.got.Total, minimum, verdict(f.got.Total == minimum), countsLine(f.got.Calls), f.got.Token)
	if d := countsDiff(f.got.Calls, f.want); d != "" {
		b.Logf("calls off the minimum (got/minimum): %s", d)
	}
	b.Logf("memory: idle live heap %.2f MiB, peak live heap during sync %.2f MiB: %.2fx (target <= 2.0: %s); peak heap incl. garbage %.2f MiB; live heap after sync %.2f MiB",
		mib(f.idle.live), mib(f.peak.live), ratio, verdict(ratio <= 2.0), mib(f.peak.alloc), mib(f.after.live))
	if f.rss {
		b.Logf("RSS of the benchmark process (the simulator is another): idle %.1f MiB, peak during sync %.1f MiB", mib(f.idleRSS), mib(f.peakRSS))
	}
}
