package alexa

import (
	"net/http"
	"strings"
	"sync"
	"testing"

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

func TestSyncer_Status_ListsThePlanWhileSyncing(t *testing.T) {
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 1})
	g := &gateFirstCreate{entered: make(chan struct{}), gate: make(chan struct{})}
	f.opts.HTTPClient = &http.Client{Transport: g}
	s := f.syncer(t, buildSite(1, 3))
	done := make(chan error, 1)
	go func() { _, err := s.Sync(t.Context()); done <- err }()
	<-g.entered
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
