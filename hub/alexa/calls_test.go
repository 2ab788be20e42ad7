package alexa

import (
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// firstSyncCalls syncs site into an empty organization and fails unless
// the calls by route are exactly firstSyncMinimum's and the whole job is
// done: every session polled to its final status.
func firstSyncCalls(t *testing.T, site *hub.Site, residential bool) *fixture {
	t.Helper()
	const polls = 1
	f := newFixture(t, alexatest.Options{DiscoveryPolls: polls, ListLag: 3, SubscriptionSkillID: alexatest.DemoSubscriptionSkill})
	f.opts.Residential = residential
	res := mustSync(t, f.syncer(t, site))
	want := firstSyncMinimum(site, residential, polls)
	if d := countsDiff(f.srv.Counts(), want); d != "" {
		t.Fatalf("first sync calls off the minimum (route got/minimum): %s\nall: %s", d, countsLine(f.srv.Counts()))
	}
	if got := f.srv.TokenCalls(); got != 1 {
		t.Fatalf("token calls = %d, want 1 (an access token lives an hour)", got)
	}
	if f.srv.SessionsRunning() != 0 || len(res.Sessions) != want[routeStartSession] {
		t.Fatalf("%d sessions still running, %d finished; want all %d finished", f.srv.SessionsRunning(), len(res.Sessions), want[routeStartSession])
	}
	return f
}

func TestSyncer_FirstSync_200Rooms_MakesTheMinimumCalls(t *testing.T) {
	site := buildSite(2, 100)
	f := firstSyncCalls(t, site, false)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if want := 2*100 + 2 + 1; f.srv.UnitCount() != want {
		t.Fatalf("units = %d, want %d", f.srv.UnitCount(), want)
	}
}

func TestSyncer_FirstSync_Residential200Homes_MakesTheMinimumCalls(t *testing.T) {
	// The level of the configured parent concerns units only: a site of
	// communities and homes does not read it (GET /v2/units/{id}).
	f := firstSyncCalls(t, homeSite(2, 100), true)
	if got := len(f.srv.HomePaths()); got != 200 {
		t.Fatalf("homes = %d, want 200", got)
	}
	if got := f.srv.Counts()[routeGetUnit]; got != 0 {
		t.Fatalf("GET /v2/units/{id} made %d times for a site without units", got)
	}
}
