package alexa

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// Tests for the breakages of issue 13, each against the strict simulator.

func TestSyncer_Sync_CommunitiesAndHomesListedAsUnitsAreKept(t *testing.T) {
	// #1: GET /v2/units?queryDepth=all lists communities and homes (they
	// are units). They must be recognised, never created again or deleted.
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	s := f.syncer(t, apartmentSite(2))
	mustSync(t, s)
	for run := 2; run <= 3; run++ {
		f.srv.ResetCounts()
		res := mustSync(t, s)
		if w := f.srv.Writes(); w != 0 {
			t.Fatalf("run %d made %d writes: %v\n%s", run, w, f.srv.Counts(), res.Plan)
		}
	}
	if got := f.srv.CommunityNames(); !slices.Equal(got, []string{"Tower"}) {
		t.Fatalf("communities = %v", got)
	}
	if got := f.srv.HomePaths(); !slices.Equal(got, []string{"Tower/Apartment 1", "Tower/Apartment 2"}) {
		t.Fatalf("homes = %v", got)
	}
}

// moveRoom moves node f1-r1 from Floor 1 to Floor 2.
func moveRoom(site *hub.Site) {
	f1, f2 := site.Find("f1"), site.Find("f2")
	r := site.Find("f1-r1")
	f1.Children = slices.DeleteFunc(f1.Children, func(n *hub.Node) bool { return n == r })
	f2.Children = append(f2.Children, r)
}

func TestSyncer_Sync_MovedRoomMovesWhole(t *testing.T) {
	// #2: new unit, discovery on it, endpoints gone from the old one, old
	// unit deleted, and the next sync has nothing to do.
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	oldID, _, _ := f.kv.Get(kvUnit + "f1-r1")
	if len(f.srv.Endpoints(oldID)) == 0 {
		t.Fatal("discovery gave the room no endpoints: the test would prove nothing")
	}
	moveRoom(site)
	if err := s.SetSite(site); err != nil {
		t.Fatal(err)
	}
	res := mustSync(t, s)
	newID, _, _ := f.kv.Get(kvUnit + "f1-r1")
	if newID == oldID || f.srv.SessionsStarted(newID) != 1 || len(f.srv.Endpoints(newID)) == 0 {
		t.Fatalf("new unit %s: %d sessions, endpoints %v\n%s", newID, f.srv.SessionsStarted(newID), f.srv.Endpoints(newID), res.Plan)
	}
	if _, ok := f.srv.UnitName(oldID); ok {
		t.Fatalf("old unit %s not deleted\n%s", oldID, res.Plan)
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
	f.srv.ResetCounts()
	res = mustSync(t, s)
	if w := f.srv.Writes(); w != 0 || !res.Plan.Empty() {
		t.Fatalf("after the move: %d writes\n%s", w, res.Plan)
	}
}

func TestSyncer_Plan_MovedRoomShowsTheFullMove(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 1)
	s := f.syncer(t, site)
	mustSync(t, s)
	oldID, _, _ := f.kv.Get(kvUnit + "f1-r1")
	moveRoom(site)
	_ = s.SetSite(site)
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := p.String()
	for _, want := range []string{
		`create unit "Room 101" for node f1-r1 under node f2 (moved: its old unit ` + oldID,
		"start discovery for node f1-r1 (1 devices: dev-f1-r1)",
		"delete old unit " + oldID + ` "Room 101" of moved node f1-r1 after discovery`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("plan lacks %q:\n%s", want, out)
		}
	}
}

func TestSyncer_Sync_MoveOnlyAPersonCanFinishIsAWarningNotALoop(t *testing.T) {
	// Endpoints the skill reports for the old unit itself cannot follow the
	// room: the technician is told what to do, and nothing loops.
	byUnit := func(unitID, _ string) []string { return []string{"ep-" + unitID} }
	f := newFixture(t, alexatest.Options{Reporter: byUnit})
	site := buildSite(2, 1)
	s := f.syncer(t, site)
	mustSync(t, s)
	oldID, _, _ := f.kv.Get(kvUnit + "f1-r1")
	moveRoom(site)
	_ = s.SetSite(site)
	mustSync(t, s)
	for run := range 2 {
		f.srv.ResetCounts()
		res := mustSync(t, s)
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "only a person can finish the move") ||
			!strings.Contains(res.Warnings[0], oldID) {
			t.Fatalf("run %d: warnings %q\n%s", run, res.Warnings, res.Plan)
		}
		if w := f.srv.Writes(); w != 0 {
			t.Fatalf("run %d: %d writes: %v", run, w, f.srv.Counts())
		}
	}
	f.srv.ClearEndpoints(oldID) // the technician did it
	res := mustSync(t, s)
	if _, ok := f.srv.UnitName(oldID); ok || len(res.Warnings) != 0 {
		t.Fatalf("old unit kept, warnings %q", res.Warnings)
	}
}

func TestClient_StartDiscovery_SendsTheDocumentedStageCase(t *testing.T) {
	// #4: the discovery document's example has "live" (line 59).
	for _, stage := range []string{"", "LIVE", "development", "DEVELOPMENT"} {
		f := newFixture(t, alexatest.Options{})
		f.opts.SkillStage = stage
		c, err := NewClient(f.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartDiscovery(context.Background(), alexatest.DemoOrg); err != nil {
			t.Fatalf("stage %q: %v", stage, err)
		}
	}
	f := newFixture(t, alexatest.Options{})
	f.opts.SkillStage = "beta"
	if _, err := NewClient(f.opts); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("stage beta: %v", err)
	}
}

// chain returns a building with levels nodes in a line.
func chain(levels int) *hub.Site {
	n := &hub.Node{ID: "n1", Name: "L1", Kind: hub.NodeBuilding}
	b := n
	for i := 2; i <= levels; i++ {
		c := &hub.Node{ID: "n" + itoaTest(i), Name: "L" + itoaTest(i), Kind: hub.NodeWing}
		n.Children = []*hub.Node{c}
		n = c
	}
	return &hub.Site{Buildings: []*hub.Node{b}}
}

func TestSyncer_Plan_DepthCountsFromTheRoot(t *testing.T) {
	// #6: under a property (level 1) the 15th site level would be unit
	// level 16, which the API refuses; the plan says so before any write.
	f := newFixture(t, alexatest.Options{})
	c, err := NewClient(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := c.CreateUnit(context.Background(), alexatest.DemoOrg, "Property")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnableSkill(context.Background(), alexatest.DemoSubscriptionSkill, prop, "live"); err != nil {
		t.Fatal(err)
	}
	f.opts.ParentID = prop
	site := chain(15)
	s := f.syncer(t, site)
	f.srv.ResetCounts()
	_, err = s.Sync(context.Background())
	if !errors.Is(err, ErrSiteTooDeep) || !strings.Contains(err.Error(), "level 16") {
		t.Fatalf("err = %v", err)
	}
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("%d writes: %v", w, f.srv.Counts())
	}
	if err := CheckSite(site, false, 1); !errors.Is(err, ErrSiteTooDeep) {
		t.Fatalf("CheckSite under a property: %v", err)
	}
	if err := CheckSite(site, false, 0); err != nil {
		t.Fatalf("CheckSite under the organization: %v", err)
	}
	if err := CheckSite(chain(14), false, 1); err != nil {
		t.Fatalf("14 levels under a property: %v", err)
	}
}

func TestSyncer_New_RefusesResidentialCommonAreasWithDevices(t *testing.T) {
	// #7: Alexa for Residential has only communities and homes; a lobby's
	// devices have nowhere to go, so the config is refused, not dropped.
	site := apartmentSite(1)
	site.Find("lobby").Devices = []string{"lobby-lamp"}
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	_, err := New(site, f.opts)
	if !errors.Is(err, ErrCommonArea) || !strings.Contains(err.Error(), `"lobby"`) {
		t.Fatalf("err = %v", err)
	}
	if err := CheckSite(site, true, 0); !errors.Is(err, ErrCommonArea) {
		t.Fatalf("CheckSite: %v", err)
	}
	// Without residential the lobby is a unit like any room.
	if err := CheckSite(site, false, 0); err != nil {
		t.Fatalf("CheckSite, residential off: %v", err)
	}
	if f.srv.TotalCalls() != 0 {
		t.Fatal("a refused site made calls")
	}
}

func TestClient_Calls_LogRequestIDs(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, err := NewClient(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUnit(context.Background(), alexatest.DemoOrg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUnit(context.Background(), "amzn1.alexa.unit.did.none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=DEBUG msg=\"alexa: call\" op=\"GET /v2/units/"+alexatest.DemoOrg+"\" status=200 request_id=sim-req-") {
		t.Fatalf("no debug line with the request id:\n%s", logs)
	}
	if !strings.Contains(logs, "level=WARN msg=\"alexa: call answered with an error\"") || !strings.Contains(logs, "status=404") {
		t.Fatalf("no warn line for the error:\n%s", logs)
	}
}

// hideHomes answers every homes list with no homes, as a homes list
// lagging behind the units list would.
type hideHomes struct{ next http.RoundTripper }

func (h hideHomes) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Path == "/enterprise/residential/v1/homes" {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"homes":[]}`)), Request: r}, nil
	}
	return h.next.RoundTrip(r)
}

func TestSyncer_Sync_HomeOnlyInTheUnitsListKeepsItsKind(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	s := f.syncer(t, apartmentSite(2))
	mustSync(t, s)
	f.opts.HTTPClient = &http.Client{Transport: hideHomes{http.DefaultTransport}}
	s = f.syncer(t, apartmentSite(2))
	f.srv.ResetCounts()
	res := mustSync(t, s)
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("%d writes: %v\n%s", w, f.srv.Counts(), res.Plan)
	}
}
