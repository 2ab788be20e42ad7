package alexa

import (
	"context"
	"strings"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
)

func TestSyncer_Sync_DiscoveryOnlyForUnitsWhoseDevicesChanged(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(2, 5)
	s := f.syncer(t, site)
	mustSync(t, s)
	if f.srv.SessionsTotal() != 10 {
		t.Fatalf("first sync sessions = %d, want 10", f.srv.SessionsTotal())
	}
	room := site.Find("f2-r3")
	room.Devices = append(room.Devices, "lamp-new")
	other := site.Find("f1-r1")
	other.Name = "Renamed" // a rename alone starts no discovery
	_ = s.SetSite(site)
	res := mustSync(t, s)
	unit, _, _ := f.kv.Get(kvUnit + "f2-r3")
	if f.srv.SessionsTotal() != 11 || f.srv.SessionsStarted(unit) != 2 {
		t.Fatalf("sessions total %d, for changed room %d; plan:\n%s", f.srv.SessionsTotal(), f.srv.SessionsStarted(unit), res.Plan)
	}
	if res.Plan.Count(OpDiscover) != 1 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	// Moving a device between rooms changes both.
	other.Devices = append(other.Devices, "lamp-new")
	room.Devices = room.Devices[:1]
	_ = s.SetSite(site)
	res = mustSync(t, s)
	if res.Plan.Count(OpDiscover) != 2 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
}

func TestSyncer_Sync_NeverTwoSessionsAtOnceForOneUnit(t *testing.T) {
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 6})
	f.opts.DiscoveryWait = time.Nanosecond // leave sessions running after one poll
	site := buildSite(1, 2)
	s := f.syncer(t, site)
	mustSync(t, s)
	if f.srv.SessionsRunning() != 2 {
		t.Fatalf("running sessions = %d, want 2", f.srv.SessionsRunning())
	}
	if st := s.Status(); st.Units[2].Discovery != "IN_PROGRESS" {
		t.Fatalf("status of a running session: %+v", st.Units)
	}
	// The devices change while the session runs: the next sync polls, it
	// does not start a second session.
	site.Find("f1-r1").Devices = []string{"a", "b"}
	_ = s.SetSite(site)
	res := mustSync(t, s)
	if res.Plan.Count(OpDiscover) != 0 || res.Plan.Count(OpPoll) != 2 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	if f.srv.Overlaps() != 0 || f.srv.SessionsTotal() != 2 {
		t.Fatalf("overlaps %d, sessions %d", f.srv.Overlaps(), f.srv.SessionsTotal())
	}
	// Once the running sessions finish, the changed room gets its new one.
	f.opts.DiscoveryWait = time.Minute
	s2 := f.syncer(t, site)
	mustSync(t, s2)
	if f.srv.SessionsRunning() != 0 {
		t.Fatalf("sessions not polled to the end")
	}
	res = mustSync(t, s2)
	unit, _, _ := f.kv.Get(kvUnit + "f1-r1")
	if res.Plan.Count(OpDiscover) != 1 || f.srv.SessionsStarted(unit) != 2 || f.srv.Overlaps() != 0 {
		t.Fatalf("plan:\n%s\nsessions for room %d, overlaps %d", res.Plan, f.srv.SessionsStarted(unit), f.srv.Overlaps())
	}
	res = mustSync(t, s2)
	if !res.Plan.Empty() {
		t.Fatalf("not converged:\n%s", res.Plan)
	}
}

func TestSyncer_Sync_UnknownDiscoveryStatusRecorded(t *testing.T) {
	f := newFixture(t, alexatest.Options{DiscoveryFinal: "SOMETHING_NEW"})
	site := buildSite(1, 1)
	s := f.syncer(t, site)
	res := mustSync(t, s)
	if len(res.Sessions) != 1 || res.Sessions[0] != "f1-r1: SOMETHING_NEW" {
		t.Fatalf("sessions = %v", res.Sessions)
	}
	if !strings.Contains(f.logs.String(), "unknown discovery status") {
		t.Fatal("unknown status not logged")
	}
	var got string
	for _, u := range s.Status().Units {
		if u.Node == "f1-r1" {
			got = u.Discovery
		}
	}
	if got != "SOMETHING_NEW" {
		t.Fatalf("status discovery = %q", got)
	}
}

func TestSyncer_Sync_ExpiredSessionIsReplaced(t *testing.T) {
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 1 << 30})
	clock := &fakeClock{t: time.Now()}
	f.opts.Now = clock.Now
	f.opts.DiscoveryWait = time.Nanosecond
	site := buildSite(1, 1)
	s := f.syncer(t, site)
	mustSync(t, s)
	unit, _, _ := f.kv.Get(kvUnit + "f1-r1")
	clock.Add(DiscoverySessionTTL + time.Second)
	f.srv.ExpireSessions()
	res := mustSync(t, s) // the session's hour is over: a new one replaces it
	if res.Plan.Count(OpDiscover) != 1 || f.srv.SessionsStarted(unit) != 2 || f.srv.Overlaps() != 0 {
		t.Fatalf("no new session after expiry (%d started):\n%s", f.srv.SessionsStarted(unit), res.Plan)
	}
	if !strings.Contains(f.logs.String(), "expired without a final status") {
		t.Fatal("expiry not logged")
	}
}

func TestSyncer_Run_SyncsAndReportsStatus(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := buildSite(1, 3)
	s := f.syncer(t, site)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Hour) }()
	deadline := time.After(20 * time.Second)
	for {
		st := s.Status()
		if !st.LastOK.IsZero() {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("no successful sync: %+v", st)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	st := s.Status()
	if !st.Enabled || st.Running || st.Calls == 0 || st.LastError != "" || len(st.Plan) != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(st.Units) != 5 {
		t.Fatalf("units = %+v", st.Units)
	}
	for _, u := range st.Units {
		if u.UnitID == "" {
			t.Fatalf("node %s has no unit id in status", u.Node)
		}
	}
}
