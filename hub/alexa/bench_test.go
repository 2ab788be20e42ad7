package alexa

import (
	"context"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
)

// BenchmarkSyncer_Calls_1000Rooms counts API calls for a first sync of a
// 1,000-room site (1 building, 10 floors of 100 rooms) next to the minimum
// (firstSyncMinimum without discovery: one create per unit, one list page,
// the parent's level and the property's skill enablement), and for an incremental sync
// after one rename (the list pages plus one PUT). Discovery is measured
// apart: one session per room plus its polls.
func BenchmarkSyncer_Calls_1000Rooms(b *testing.B) {
	for b.Loop() {
		f := newFixture(b, alexatest.Options{DiscoveryPolls: 1})
		f.opts.SkillID = ""
		site := buildSite(10, 100)
		units := 0
		site.Walk(func(_, _ *nodeT, _ int) bool { units++; return true })
		s := f.syncer(b, site)
		start := time.Now()
		res := mustSync(b, s)
		first := time.Since(start)
		firstCalls := f.srv.TotalCalls()
		want := firstSyncMinimum(site, false, 0)
		delete(want, routeStartSession) // no skill: no discovery
		delete(want, routePollSession)
		firstMin := sumCounts(want)

		site.Find("f5-r50").Name = "Renamed room"
		_ = s.SetSite(site)
		f.srv.ResetCounts()
		start = time.Now()
		mustSync(b, s)
		incr := time.Since(start)
		incrCalls := f.srv.TotalCalls()
		incrMin := (units+pageSize-1)/pageSize + 1 // list pages + one PUT

		// Discovery for every room, on a fresh simulator.
		g := newFixture(b, alexatest.Options{DiscoveryPolls: 1})
		sd := g.syncer(b, site)
		mustSync(b, sd)
		counts := g.srv.Counts()
		discCalls := counts["POST /v1/discoverySessions"] + counts["GET /v1/discoverySessions/{id}"]

		b.ReportMetric(float64(units), "units")
		b.ReportMetric(float64(firstCalls), "calls/first-sync")
		b.ReportMetric(float64(firstMin), "min-calls/first-sync")
		b.ReportMetric(float64(incrCalls), "calls/incremental")
		b.ReportMetric(float64(incrMin), "min-calls/incremental")
		b.ReportMetric(float64(g.srv.SessionsTotal()), "discovery-sessions")
		b.ReportMetric(float64(discCalls), "discovery-calls")
		b.Logf("1,000-room site (%d units): first sync %d calls (minimum %d) in %v; incremental after one rename %d calls (minimum %d) in %v; %d steps applied; discovery %d sessions, %d calls",
			units, firstCalls, firstMin, first, incrCalls, incrMin, incr, res.Applied, g.srv.SessionsTotal(), discCalls)
	}
}

// BenchmarkClient_ListUnits_Latency measures the client's per-call overhead
// against the loopback simulator over a fixed workload of 200 calls.
func BenchmarkClient_ListUnits_Latency(b *testing.B) {
	f := newFixture(b, alexatest.Options{})
	c, err := NewClient(f.opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		const n = 200
		lat := make([]time.Duration, 0, n)
		start := time.Now()
		for range n {
			t0 := time.Now()
			if _, _, err := c.ListUnitsPage(ctx, ListQuery{ParentID: alexatest.DemoOrg}, ""); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		el := time.Since(start)
		sortDurations(lat)
		b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(n/el.Seconds(), "calls/s")
	}
}
