package alexa

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// gateFirstCreate holds the first POST /v2/units until gate is closed,
// after closing entered.
type gateFirstCreate struct {
	once          sync.Once
	entered, gate chan struct{}
}

func (g *gateFirstCreate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == "/v2/units" {
		g.once.Do(func() {
			close(g.entered)
			<-g.gate
		})
	}
	return http.DefaultTransport.RoundTrip(r)
}

// syncHeld starts a sync of site in the background and returns once it
// is held at its first create; closing g.gate lets it go on, done
// carries its error.
func syncHeld(t *testing.T, site *hub.Site) (s *Syncer, g *gateFirstCreate, done chan error) {
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 1})
	g = &gateFirstCreate{entered: make(chan struct{}), gate: make(chan struct{})}
	f.opts.HTTPClient = &http.Client{Transport: g}
	s = f.syncer(t, site)
	done = make(chan error, 1)
	go func() { _, err := s.Sync(t.Context()); done <- err }()
	<-g.entered
	return s, g, done
}

func TestSyncer_Status_ListsThePlanWhileSyncing(t *testing.T) {
	s, g, done := syncHeld(t, buildSite(1, 3))
	st := s.Status()
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// 1 building, 1 floor and 3 rooms created, the building's skill
	// enabled, discovery on the 3 rooms.
	if len(st.Plan) != 9 || !strings.HasPrefix(st.Plan[0], "create unit \"Main Building\"") || !strings.HasPrefix(st.Plan[8], "start discovery for node f1-r3") {
		t.Fatalf("status during the sync lists %d steps, want the 9 being applied:\n%s", len(st.Plan), strings.Join(st.Plan, "\n"))
	}
	if after := s.Status(); len(after.Plan) != 0 || len(after.Units) != 5 || after.Units[4].UnitID == "" {
		t.Fatalf("after the sync: plan %q, units %+v; want no pending step and every node with its unit", after.Plan, after.Units)
	}
}

// The status page, its live feed and /metrics ask for the status on every
// device change and scrape: while a sync runs, its plan's lines are
// rendered once, not on every ask (each ask copies the list, one
// allocation, instead of formatting every step).
func TestSyncer_Status_RendersThePlanOncePerSync(t *testing.T) {
	s, g, done := syncHeld(t, buildSite(2, 50))
	first := s.Status()
	allocs := testing.AllocsPerRun(20, func() { _ = s.Status() })
	again := s.Status()
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(first.Plan) < 200 || strings.Join(first.Plan, "\n") != strings.Join(again.Plan, "\n") {
		t.Fatalf("status during the sync: %d steps, then %d; want the same 200 or more", len(first.Plan), len(again.Plan))
	}
	if allocs > 10 {
		t.Errorf("Status during a sync of %d steps: %.0f allocations a call, want the plan's lines rendered once", len(first.Plan), allocs)
	}
	if after := s.Status(); len(after.Plan) != 0 {
		t.Fatalf("after the sync the status still lists %d steps", len(after.Plan))
	}
}
