package alexa

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

func TestSyncer_Sync_CreatesSiteThenRerunMakesNoWrites(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(3, 20)
	s := f.syncer(t, site)
	res := mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if got := res.Plan.Count(OpCreate); got != 64 {
		t.Fatalf("creates = %d, want 64 (1 building, 3 floors, 60 rooms)", got)
	}
	if got := f.srv.SessionsTotal(); got != 60 {
		t.Fatalf("discovery sessions = %d, want one per room with devices (60)", got)
	}
	if f.srv.SessionsRunning() != 0 {
		t.Fatalf("%d sessions not polled to a final status", f.srv.SessionsRunning())
	}
	if len(res.Sessions) != 60 || !strings.HasSuffix(res.Sessions[0], ": SUCCEEDED") {
		t.Fatalf("sessions reported = %d (%v...), want 60 SUCCEEDED", len(res.Sessions), first(res.Sessions))
	}

	f.srv.ResetCounts()
	res = mustSync(t, s)
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("rerun made %d write calls (%v), want 0; plan:\n%s", w, f.srv.Counts(), res.Plan)
	}
	if !res.Plan.Empty() {
		t.Fatalf("rerun plan not empty:\n%s", res.Plan)
	}

	// A new Syncer on the same id map (a restart) also writes nothing.
	f.srv.ResetCounts()
	mustSync(t, f.syncer(t, site))
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("sync after restart made %d writes (%v)", w, f.srv.Counts())
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

func TestSyncer_Sync_RenameMakesOnePut(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(3, 20)
	s := f.syncer(t, site)
	mustSync(t, s)
	site.Find("f2-r7").Name = "Conference Room"
	if err := s.SetSite(site); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCounts()
	res := mustSync(t, s)
	if got := f.srv.Calls(http.MethodPut); got != 1 {
		t.Fatalf("PUT calls = %d, want 1", got)
	}
	if got := f.srv.Writes(); got != 1 {
		t.Fatalf("write calls = %d (%v), want only the PUT", got, f.srv.Counts())
	}
	if res.Plan.Count(OpRename) != 1 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
}

func TestSyncer_Sync_RemovedFloorDeletesRoomsThenFloor(t *testing.T) {
	// Endpoints come only from AddEndpoint here: discovery finds none.
	f := newFixture(t, alexatest.Options{Relax: alexatest.Relax{NoDiscoveryEndpoints: true}})
	site := buildSite(3, 20)
	s := f.syncer(t, site)
	mustSync(t, s)
	floorID, _, _ := f.kv.Get(kvUnit + "f3")
	b := site.Buildings[0]
	b.Children = b.Children[:2]
	if err := s.SetSite(site); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCounts()
	res := mustSync(t, s)
	if got := f.srv.Calls(http.MethodDelete); got != 21 {
		t.Fatalf("DELETE calls = %d, want 21", got)
	}
	// Rooms first, the floor last.
	var order []string
	for _, st := range res.Plan.Steps {
		if st.Op == OpDelete {
			order = append(order, st.ID)
		}
	}
	if order[len(order)-1] != floorID {
		t.Fatalf("floor %s not deleted last: %v", floorID, order)
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if _, ok, _ := f.kv.Get(kvUnit + "f3-r1"); ok {
		t.Fatal("id map still holds a deleted room")
	}
	if _, ok, _ := f.kv.Get(kvDevices + "f3-r1"); ok {
		t.Fatal("id map still holds a deleted room's devices")
	}
}

func TestSyncer_Sync_RefusesDeleteWhileUnitHasForeignChildren(t *testing.T) {
	// Endpoints come only from AddEndpoint here: discovery finds none.
	f := newFixture(t, alexatest.Options{Relax: alexatest.Relax{NoDiscoveryEndpoints: true}})
	site := buildSite(2, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	floorID, _, _ := f.kv.Get(kvUnit + "f2")
	if _, err := f.srv.AddUnit(floorID, "Someone else's room"); err != nil {
		t.Fatal(err)
	}
	site.Buildings[0].Children = site.Buildings[0].Children[:1]
	_ = s.SetSite(site)
	res, err := s.Sync(context.Background())
	if !errors.Is(err, ErrUnitNotEmpty) {
		t.Fatalf("err = %v, want ErrUnitNotEmpty", err)
	}
	if res.Plan.Count(OpRefuse) != 1 || res.Plan.Count(OpDelete) != 2 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	if _, ok := f.srv.UnitName(floorID); !ok {
		t.Fatal("floor was deleted despite a child")
	}
	if st := s.Status(); !strings.Contains(st.LastError, "child") {
		t.Fatalf("status error %q does not explain the refusal", st.LastError)
	}
}

func TestSyncer_Sync_EndpointRefusalIsClear(t *testing.T) {
	// Endpoints come only from AddEndpoint here: discovery finds none.
	f := newFixture(t, alexatest.Options{Relax: alexatest.Relax{NoDiscoveryEndpoints: true}})
	site := buildSite(1, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	roomID, _, _ := f.kv.Get(kvUnit + "f1-r2")
	f.srv.AddEndpoint(roomID, "endpoint-1")
	fl := site.Buildings[0].Children[0]
	fl.Children = fl.Children[:1]
	_ = s.SetSite(site)
	f.srv.ResetCounts()
	res, err := s.Sync(context.Background())
	if !errors.Is(err, ErrUnitNotEmpty) {
		t.Fatalf("err = %v, want ErrUnitNotEmpty", err)
	}
	// Refused from the endpoint list, not by calling DELETE.
	if n := f.srv.Calls(http.MethodDelete); n != 0 {
		t.Fatalf("DELETE calls = %d, want 0 (%v)", n, f.srv.Counts())
	}
	if f.srv.Counts()["GET /v2/endpoints"] == 0 {
		t.Fatal("endpoints were not listed before the delete")
	}
	if res.Plan.Count(OpRefuse) != 1 || res.Plan.Count(OpDelete) != 0 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	for _, want := range []string{`"Room 102"`, roomID, "1 endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
	st := s.Status()
	if len(st.Plan) != 1 || !strings.Contains(st.Plan[0], "1 endpoint") || !strings.Contains(st.LastError, "1 endpoint") {
		t.Fatalf("status does not show the refusal: plan %q, error %q", st.Plan, st.LastError)
	}
	if _, ok, _ := f.kv.Get(kvUnit + "f1-r2"); !ok {
		t.Fatal("mapping dropped although the unit was not deleted")
	}
	if _, ok := f.srv.UnitName(roomID); !ok {
		t.Fatal("unit with an endpoint is gone")
	}
	// The API itself also refuses, with a request id to quote.
	err = s.Client().DeleteUnit(context.Background(), roomID)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.RequestID == "" || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("direct delete: %v, want a 400 API error with request id", err)
	}
}

func TestSyncer_Sync_ThrottlingAndLostReplyConverge(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.srv.FailEvery(3, http.StatusTooManyRequests)
	f.srv.LoseCreateReplies(1)
	site := buildSite(3, 20)
	s := f.syncer(t, site)
	res := mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if f.srv.LostReplies() != 1 {
		t.Fatalf("lost replies = %d, want 1", f.srv.LostReplies())
	}
	if !strings.Contains(f.logs.String(), "lost create reply recovered") {
		t.Fatalf("no recovery logged; result %+v", res.Errors)
	}
	f.srv.ResetCounts()
	mustSync(t, s)
	if w := f.srv.Writes(); w != 0 {
		t.Fatalf("rerun made %d writes", w)
	}
}

func TestSyncer_Sync_500OnCreateLooksBeforeRetrying(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	// Every third call fails with 500 without acting: a create that gets
	// one is not repeated blindly but looked for first.
	f.srv.FailEvery(3, http.StatusInternalServerError)
	site := buildSite(1, 6)
	s := f.syncer(t, site)
	// A discovery start that got a 500 is not repeated either: the next
	// sync starts it. Creates converge within the first sync.
	_, _ = s.Sync(context.Background())
	f.srv.FailEvery(0, 0)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	mustSync(t, s)
	if f.srv.SessionsRunning() != 0 || f.srv.Overlaps() != 0 {
		t.Fatalf("sessions running %d, overlaps %d", f.srv.SessionsRunning(), f.srv.Overlaps())
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if !strings.Contains(f.logs.String(), "create outcome unknown, looking before trying again") {
		t.Fatal("no create hit a 500")
	}
}

func TestSyncer_Sync_ResumesAfterInterruptionWithoutDuplicates(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 10)
	// Interrupt the sync at many points: each time a fresh Syncer (a
	// restart) continues from the id map.
	for cut := 3; ; cut += 4 {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		f.opts.HTTPClient = &http.Client{Transport: countingTransport(func() {
			calls++
			if calls == cut {
				cancel()
			}
		})}
		s := f.syncer(t, site)
		_, err := s.Sync(ctx)
		cancel()
		if err == nil {
			break
		}
		if cut > 200 {
			t.Fatalf("sync never completed: %v", err)
		}
	}
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if f.srv.Overlaps() != 0 {
		t.Fatalf("%d overlapping discovery sessions", f.srv.Overlaps())
	}
}

type countingTransport func()

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c()
	return http.DefaultTransport.RoundTrip(r)
}

func TestSyncer_Sync_LostReplyOfPreviousRunIsAdopted(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(1, 1)
	// The building exists remotely already (a create whose reply was lost
	// just before a crash): it is adopted, not created again.
	if _, err := f.srv.AddUnit(alexatest.DemoOrg, "Main Building"); err != nil {
		t.Fatal(err)
	}
	s := f.syncer(t, site)
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(OpAdopt) != 1 || p.Count(OpCreate) != 2 {
		t.Fatalf("plan:\n%s", p)
	}
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
}

func TestSyncer_Sync_RecreatesUnitDeletedOutsideHubd(t *testing.T) {
	// Endpoints come only from AddEndpoint here: discovery finds none.
	f := newFixture(t, alexatest.Options{Relax: alexatest.Relax{NoDiscoveryEndpoints: true}})
	site := buildSite(1, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	id, _, _ := f.kv.Get(kvUnit + "f1-r1")
	c, _ := s.Client().Tokens().Token(context.Background())
	_ = c
	if err := s.Client().DeleteUnit(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if nid, _, _ := f.kv.Get(kvUnit + "f1-r1"); nid == id {
		t.Fatal("id map kept the deleted id")
	}
}

func TestSyncer_Sync_MovedRoomIsRecreatedAndOldDeleted(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	f1, f2 := site.Buildings[0].Children[0], site.Buildings[0].Children[1]
	f2.Children = append(f2.Children, f1.Children[1])
	f1.Children = f1.Children[:1]
	_ = s.SetSite(site)
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	f.srv.ResetCounts()
	mustSync(t, s)
	if f.srv.Writes() != 0 {
		t.Fatalf("writes after move converged: %v", f.srv.Counts())
	}
}

func TestSyncer_Plan_WritesNothing(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 3)
	s := f.syncer(t, site)
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.srv.Writes() != 0 || f.srv.UnitCount() != 0 {
		t.Fatalf("Plan wrote: %v", f.srv.Counts())
	}
	if kv, _ := f.kv.All(); len(kv) != 0 && !onlyTokenKeys(kv) {
		t.Fatalf("Plan wrote the id map: %v", kv)
	}
	text := p.String()
	for _, want := range []string{"9 create", `create unit "Room 203" for node f2-r3 under node f2`, "start discovery for node f1-r1"} {
		if !strings.Contains(text, want) {
			t.Fatalf("plan text lacks %q:\n%s", want, text)
		}
	}
	if got := s.Status().Plan; len(got) != len(p.Steps) {
		t.Fatalf("status plan has %d lines, want %d", len(got), len(p.Steps))
	}
}

func onlyTokenKeys(kv map[string]string) bool {
	for k := range kv {
		if !strings.HasPrefix(k, "lwa/") {
			return false
		}
	}
	return true
}

func TestSyncer_New_RejectsDeepSite(t *testing.T) {
	n := &hub.Node{ID: "n1", Name: "L1", Kind: hub.NodeBuilding}
	b := n
	for i := 2; i <= 16; i++ {
		c := &hub.Node{ID: "n" + itoaTest(i), Name: "L" + itoaTest(i), Kind: hub.NodeWing}
		n.Children = []*hub.Node{c}
		n = c
	}
	_, err := New(&hub.Site{Buildings: []*hub.Node{b}}, Options{ParentID: "x"})
	if !errors.Is(err, ErrSiteTooDeep) {
		t.Fatalf("err = %v, want ErrSiteTooDeep", err)
	}
	// 15 levels are fine.
	b.Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children[0].Children = nil
	if _, err := New(&hub.Site{Buildings: []*hub.Node{b}}, Options{ParentID: "x"}); err != nil {
		t.Fatalf("15 levels: %v", err)
	}
}

func itoaTest(i int) string { return strconv.Itoa(i) }

func TestSyncer_Sync_15LevelsReachTheSimulatorLimit(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := chain(15)
	s := f.syncer(t, site)
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	// One more level below the 15th is refused by the API.
	last, _, _ := f.kv.Get(kvUnit + "n15")
	if _, err := s.Client().CreateUnit(context.Background(), last, "too deep"); err == nil {
		t.Fatal("a 16th level was created")
	}
}
