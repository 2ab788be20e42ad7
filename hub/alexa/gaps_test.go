package alexa

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

const subSkill = "amzn1.ask.skill.sub"

// ---- 1. endpoints before delete ----

func TestSyncer_Sync_RefusesDeleteOfUnitWithEndpointsAndKeepsItsParent(t *testing.T) {
	// Endpoints come only from AddEndpoint here: discovery finds none.
	f := newFixture(t, alexatest.Options{Relax: alexatest.Relax{NoDiscoveryEndpoints: true}})
	site := buildSite(2, 3)
	s := f.syncer(t, site)
	mustSync(t, s)
	floorID, _, _ := f.kv.Get(kvUnit + "f2")
	roomID, _, _ := f.kv.Get(kvUnit + "f2-r2")
	f.srv.AddEndpoint(roomID, "amzn1.alexa.endpoint.a")
	f.srv.AddEndpoint(roomID, "amzn1.alexa.endpoint.b")
	site.Buildings[0].Children = site.Buildings[0].Children[:1] // floor 2 leaves the site
	_ = s.SetSite(site)

	// Plan (read-only) already says it.
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(OpDelete) != 2 || p.Count(OpRefuse) != 2 {
		t.Fatalf("want rooms 1 and 3 deleted, room 2 and its floor refused:\n%s", p)
	}
	if !strings.Contains(p.String(), `unit "Room 202" still has 2 endpoint(s)`) {
		t.Fatalf("plan does not name the unit and its endpoint count:\n%s", p)
	}

	f.srv.ResetCounts()
	_, err = s.Sync(context.Background())
	if !errors.Is(err, ErrUnitNotEmpty) {
		t.Fatalf("err = %v, want ErrUnitNotEmpty", err)
	}
	if n := f.srv.Calls(http.MethodDelete); n != 2 {
		t.Fatalf("DELETE calls = %d, want 2 (only the empty rooms): %v", n, f.srv.Counts())
	}
	if _, ok := f.srv.UnitName(roomID); !ok {
		t.Fatal("room with endpoints deleted")
	}
	if _, ok := f.srv.UnitName(floorID); !ok {
		t.Fatal("floor of a room with endpoints deleted")
	}
	if got := f.srv.Endpoints(roomID); len(got) != 2 {
		t.Fatalf("endpoints = %v", got)
	}
	st := s.Status()
	if !strings.Contains(st.LastError, "2 endpoint(s)") || !slices.ContainsFunc(st.Plan, func(l string) bool { return strings.Contains(l, "2 endpoint(s)") }) {
		t.Fatalf("status does not show the refusal: %q, plan %q", st.LastError, st.Plan)
	}

	// Once its endpoints are moved away, the next sync deletes both.
	f.srv.ClearEndpoints(roomID)
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
}

// ---- 2. subscription skill enablement ----

func enablementFixture(t *testing.T) *fixture {
	f := newFixture(t, alexatest.Options{SubscriptionSkillID: subSkill})
	f.opts.SubscriptionSkillID = subSkill
	return f
}

func TestSyncer_Sync_EnablesSubscriptionSkillOnPropertyBeforeItsChildren(t *testing.T) {
	f := enablementFixture(t)
	site := buildSite(2, 2)
	s := f.syncer(t, site)
	res := mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	bldg, _, _ := f.kv.Get(kvUnit + "bldg")
	if !f.srv.SkillEnabled(bldg) || f.srv.Enablements() != 1 {
		t.Fatalf("enabled %v, enablements %d", f.srv.SkillEnabled(bldg), f.srv.Enablements())
	}
	if got, _, _ := f.kv.Get(kvEnabled + "bldg"); got != bldg {
		t.Fatalf("enablement recorded for %q, want %q", got, bldg)
	}
	// The step sits between the building's create and its floors'.
	i := slices.IndexFunc(res.Plan.Steps, func(st Step) bool { return st.Op == OpEnable })
	if i != 1 || res.Plan.Steps[0].Node != "bldg" || res.Plan.Steps[2].Parent != "bldg" {
		t.Fatalf("enablement at step %d:\n%s", i, res.Plan)
	}
	f.srv.ResetCounts()
	mustSync(t, s)
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("rerun made %d writes: %v", w, f.srv.Counts())
	}
}

func TestSyncer_Sync_WithoutSubscriptionSkillTheSimulatorRefusesChildren(t *testing.T) {
	// The control for the test above: the simulator really enforces it.
	f := enablementFixture(t)
	f.opts.SubscriptionSkillID = ""
	f.opts.SkillID = ""
	c, err := NewClient(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := c.CreateUnit(context.Background(), alexatest.DemoOrg, "Main Building")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUnit(context.Background(), prop, "Floor 1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("err = %v, want 403", err)
	}
}

func TestSyncer_Plan_SaysTheSubscriptionSkillIsMissing(t *testing.T) {
	// Issue 13 #5: with the organization as parent and no subscription
	// skill, the plan names the missing setting and the sync sends no
	// create the API would refuse.
	f := enablementFixture(t)
	f.opts.SubscriptionSkillID = ""
	s := f.syncer(t, buildSite(1, 1))
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.String(), "set alexa.subscription_skill_id") {
		t.Fatalf("plan does not say what is missing:\n%s", p)
	}
	_, err = s.Sync(context.Background())
	if !errors.Is(err, ErrNoSubscriptionSkill) {
		t.Fatalf("err = %v", err)
	}
	if got := f.srv.Paths(); !slices.Equal(got, []string{"Main Building"}) {
		t.Fatalf("paths = %v", got)
	}
	if n := f.srv.Calls(http.MethodPost); n != 1 {
		t.Fatalf("%d POSTs, want only the building's: %v", n, f.srv.Counts())
	}
}

// failingEnablements fails the first n enablement calls at the transport.
type failingEnablements struct{ n atomic.Int32 }

func (fe *failingEnablements) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/enablements") && fe.n.Add(-1) >= 0 {
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestSyncer_Sync_FailedEnablementStopsChildrenAndResumes(t *testing.T) {
	f := enablementFixture(t)
	fe := &failingEnablements{}
	fe.n.Store(1)
	f.opts.HTTPClient = &http.Client{Transport: fe}
	f.opts.MaxRetries = -1
	site := buildSite(1, 2)
	s := f.syncer(t, site)
	_, err := s.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "subscription skill is not enabled on property node bldg") {
		t.Fatalf("err = %v", err)
	}
	if got := f.srv.Paths(); !slices.Equal(got, []string{"Main Building"}) {
		t.Fatalf("children created without enablement: %v", got)
	}
	if c := f.srv.Counts()["POST /v2/units"]; c != 1 {
		t.Fatalf("unit creates = %d, want 1: children must not be tried", c)
	}
	// A restart resumes: the existing building gets enabled, then the rest.
	s2 := f.syncer(t, site)
	res := mustSync(t, s2)
	if res.Plan.Count(OpEnable) != 1 || res.Plan.Count(OpCreate) != 3 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
	f.srv.ResetCounts()
	if res := mustSync(t, f.syncer(t, site)); !res.Plan.Empty() || f.srv.Writes() != 0 {
		t.Fatalf("not converged: %v\n%s", f.srv.Counts(), res.Plan)
	}
}

func TestSyncer_Sync_AlreadyEnabledCountsAsSuccess(t *testing.T) {
	f := enablementFixture(t)
	site := buildSite(1, 1)
	mustSync(t, f.syncer(t, site))
	// The record is lost (say the reply of the enablement was): the next
	// sync enables again, gets 409 and takes it as done.
	if err := f.kv.Delete(kvEnabled + "bldg"); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCounts()
	res := mustSync(t, f.syncer(t, site))
	if res.Plan.Count(OpEnable) != 1 || f.srv.Counts()["POST /v1/skills/{skill}/enablements"] != 1 {
		t.Fatalf("calls %v, plan:\n%s", f.srv.Counts(), res.Plan)
	}
	if f.srv.Enablements() != 1 {
		t.Fatalf("enablements = %d", f.srv.Enablements())
	}
	if _, ok, _ := f.kv.Get(kvEnabled + "bldg"); !ok {
		t.Fatal("409 not recorded as enabled")
	}
}

func TestSyncer_Sync_NoEnablementWhenParentIsAProperty(t *testing.T) {
	f := enablementFixture(t)
	prop, err := f.srv.AddUnit(alexatest.DemoOrg, "Property")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewClient(f.opts)
	if err := c.EnableSkill(context.Background(), subSkill, prop, ""); err != nil {
		t.Fatal(err)
	}
	f.opts.ParentID = prop // buildings are level 2 here
	site := buildSite(1, 1)
	res := mustSync(t, f.syncer(t, site))
	if res.Plan.Count(OpEnable) != 0 || f.srv.Enablements() != 1 {
		t.Fatalf("enablements %d, plan:\n%s", f.srv.Enablements(), res.Plan)
	}
	if got := f.srv.Paths(); len(got) != 4 {
		t.Fatalf("paths = %v", got)
	}
}

// ---- 3. discovery start whose reply was lost ----

func TestSyncer_Sync_LostDiscoveryStartIsNotRepeatedWithinTheHour(t *testing.T) {
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 1 << 30})
	clock := &fakeClock{t: time.Now()}
	f.opts.Now = clock.Now
	f.opts.DiscoveryWait = time.Nanosecond
	site := buildSite(1, 1)
	f.srv.LoseDiscoveryReplies(1)
	s := f.syncer(t, site)
	_, err := s.Sync(context.Background())
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "none is started for this unit until") {
		t.Fatalf("err = %v, want ErrOutcomeUnknown naming the wait", err)
	}
	unit, _, _ := f.kv.Get(kvUnit + "f1-r1")
	if f.srv.LostDiscoveryReplies() != 1 || f.srv.SessionsStarted(unit) != 1 {
		t.Fatalf("lost %d, started %d", f.srv.LostDiscoveryReplies(), f.srv.SessionsStarted(unit))
	}
	discovery := func(s *Syncer) string {
		for _, u := range s.Status().Units {
			if u.Node == "f1-r1" {
				return u.Discovery
			}
		}
		return ""
	}
	if got := discovery(s); got != DiscoveryStatusReplyLost {
		t.Fatalf("status discovery = %q, want %q", got, DiscoveryStatusReplyLost)
	}

	// Later syncs, a changed device set and a restart start nothing: the
	// unseen session may be running.
	clock.Add(30 * time.Minute)
	res := mustSync(t, s)
	if res.Plan.Count(OpDiscover) != 0 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	site.Find("f1-r1").Devices = []string{"dev-f1-r1", "dev-new"}
	_ = s.SetSite(site)
	mustSync(t, s)
	s2 := f.syncer(t, site)
	mustSync(t, s2)
	if f.srv.SessionsStarted(unit) != 1 || f.srv.Overlaps() != 0 {
		t.Fatalf("started %d, overlaps %d", f.srv.SessionsStarted(unit), f.srv.Overlaps())
	}
	if got := discovery(s2); got != DiscoveryStatusReplyLost {
		t.Fatalf("status after restart = %q", got)
	}

	// After the hour a new session is started.
	clock.Add(31 * time.Minute)
	f.srv.ExpireSessions()
	res = mustSync(t, s2)
	if res.Plan.Count(OpDiscover) != 1 || f.srv.SessionsStarted(unit) != 2 || f.srv.Overlaps() != 0 {
		t.Fatalf("started %d, overlaps %d, plan:\n%s", f.srv.SessionsStarted(unit), f.srv.Overlaps(), res.Plan)
	}
	if got := discovery(s2); got != DiscoveryStatusInProgress {
		t.Fatalf("status = %q", got)
	}
}

func TestSyncer_Sync_RefusedDiscoveryStartCanBeRetried(t *testing.T) {
	// A definite refusal (4xx other than 409) started nothing: the record
	// is dropped and the next sync tries again.
	f := newFixture(t, alexatest.Options{})
	f.opts.SkillID = "amzn1.ask.skill.unknown"
	site := buildSite(1, 1)
	s := f.syncer(t, site)
	if _, err := s.Sync(context.Background()); err == nil || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want a plain refusal", err)
	}
	if _, ok, _ := f.kv.Get(kvSession + "f1-r1"); ok {
		t.Fatal("a refused start left a session record")
	}
	f.opts.SkillID = alexatest.DemoSkill
	res := mustSync(t, f.syncer(t, site))
	if res.Plan.Count(OpDiscover) != 1 || f.srv.SessionsTotal() != 1 {
		t.Fatalf("sessions %d, plan:\n%s", f.srv.SessionsTotal(), res.Plan)
	}
}

// ---- 4. lost create while lists lag ----

func TestSyncer_Sync_LostCreateWithLaggingListMakesNoDuplicate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tries     int
		duplicate bool
	}{
		{"default looks", 0, false},
		{"one look is not enough (control)", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, alexatest.Options{ListLag: 2})
			f.opts.CreateCheckTries = tc.tries
			f.srv.LoseCreateReplies(1) // the building's
			site := buildSite(1, 2)
			s := f.syncer(t, site)
			_, _ = s.Sync(context.Background())
			if f.srv.LostReplies() != 1 {
				t.Fatalf("lost replies = %d", f.srv.LostReplies())
			}
			paths := f.srv.Paths()
			dup := len(slices.Compact(slices.Clone(paths))) != len(paths)
			if dup != tc.duplicate {
				t.Fatalf("duplicate = %v, want %v: %v", dup, tc.duplicate, paths)
			}
			if !tc.duplicate {
				samePaths(t, paths, sitePaths(site))
				if !strings.Contains(f.logs.String(), "lost create not listed yet, looking again") {
					t.Fatal("the lag was never seen: the test proved nothing")
				}
			}
		})
	}
}

// ---- 5. occupied and linked homes ----

func TestSyncer_Sync_OccupiedHomeRenameIsAWarningNotAFailure(t *testing.T) {
	// The home object has no state (residential doc lines 389-398): the API
	// shows an occupied or linked home only by answering 403 to a change.
	// Old hubd read a "state" field the real API never sends, so the 403s
	// failed its sync.
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	site := apartmentSite(3)
	s := f.syncer(t, site)
	mustSync(t, s)
	f.srv.SetHomeState(f.srv.HomeID("Apartment 1"), "LINKED")
	f.srv.SetHomeState(f.srv.HomeID("Apartment 3"), "OCCUPIED")
	site.Find("apt1").Name = "Apartment 1A"
	site.Find("apt2").Name = "Apartment 2A"
	fl := site.Buildings[0].Children[0]
	fl.Children = slices.DeleteFunc(fl.Children, func(n *hub.Node) bool { return n.ID == "apt3" })
	fl.Children = append(fl.Children, &hub.Node{ID: "apt4", Name: "Apartment 4", Kind: hub.NodeHome})
	if err := s.SetSite(site); err != nil {
		t.Fatal(err)
	}
	f.srv.ClearEndpoints(f.srv.HomeID("Apartment 3"))
	for run := range 2 { // every sync, not only the first, succeeds
		res, err := s.Sync(context.Background())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "rename home") || !strings.Contains(res.Warnings[0], "apt1") ||
			!strings.Contains(res.Warnings[1], "delete home") || !strings.Contains(res.Warnings[1], "occupied or linked") {
			t.Fatalf("run %d: warnings %q", run, res.Warnings)
		}
		st := s.Status()
		if st.LastError != "" || st.LastOK.IsZero() || !slices.Equal(st.Warnings, res.Warnings) {
			t.Fatalf("run %d: status error %q, warnings %q", run, st.LastError, st.Warnings)
		}
		i := slices.IndexFunc(st.Units, func(u hub.UnitStatus) bool { return u.Node == "apt1" })
		if i < 0 || !strings.Contains(st.Units[i].Warning, "occupied or linked") {
			t.Fatalf("run %d: apt1 status %+v", run, st.Units)
		}
	}
	want := []string{"Tower/Apartment 1", "Tower/Apartment 2A", "Tower/Apartment 3", "Tower/Apartment 4"}
	if got := f.srv.HomePaths(); !slices.Equal(got, want) {
		t.Fatalf("homes = %v, want %v", got, want)
	}
	// Once vacant again, the rename goes through and the warning is gone.
	f.srv.SetHomeState(f.srv.HomeID("Apartment 1"), "VACANT")
	res := mustSync(t, s)
	if len(res.Warnings) != 1 || len(s.Status().Warnings) != 1 {
		t.Fatalf("warnings %q", res.Warnings)
	}
	for _, u := range s.Status().Units {
		if u.Node == "apt1" && u.Warning != "" {
			t.Fatalf("apt1 still warned: %q", u.Warning)
		}
	}
}

// ---- 6. failed calls ----

func TestSyncer_Status_CountsFailedCalls(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	s := f.syncer(t, buildSite(1, 3))
	mustSync(t, s)
	if st := s.Status(); st.CallsFailed != 0 || st.Calls != uint64(f.srv.TotalCalls()) {
		t.Fatalf("clean sync: %d of %d failed (server saw %d)", st.CallsFailed, st.Calls, f.srv.TotalCalls())
	}
	f.srv.ResetCounts()
	f.srv.FailEvery(2, http.StatusTooManyRequests)
	site := buildSite(2, 3)
	_ = s.SetSite(site)
	before := s.Status()
	mustSync(t, s)
	st := s.Status()
	calls, failed := st.Calls-before.Calls, st.CallsFailed-before.CallsFailed
	if calls != uint64(f.srv.TotalCalls()) || failed != calls/2 || failed == 0 {
		t.Fatalf("this sync: %d calls, %d failed; server saw %d calls, every 2nd throttled", calls, failed, f.srv.TotalCalls())
	}
}

func TestClient_ListEndpoints_FollowsPages(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, _ := NewClient(f.opts)
	ctx := context.Background()
	id, err := c.CreateUnit(ctx, alexatest.DemoOrg, "Property")
	if err != nil {
		t.Fatal(err)
	}
	if eps, err := c.ListEndpoints(ctx, id); err != nil || len(eps) != 0 {
		t.Fatalf("empty unit: %v, %v", eps, err)
	}
	for i := range 23 {
		f.srv.AddEndpoint(id, "amzn1.alexa.endpoint.e"+itoaTest(i))
	}
	eps, err := c.ListEndpoints(ctx, id)
	if err != nil || len(eps) != 23 || eps[22] != "amzn1.alexa.endpoint.e22" {
		t.Fatalf("got %d endpoints (%v), want 23", len(eps), err)
	}
	if got := f.srv.Counts()["GET /v2/endpoints"]; got != 4 {
		t.Fatalf("endpoint list calls = %d, want 4 (1 + 3 pages)", got)
	}
}
