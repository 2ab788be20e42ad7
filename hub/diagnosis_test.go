package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hubd/hub"
)

func noReply(bus, addr string) *hub.Cause {
	return &hub.Cause{Code: hub.CauseNoReply, Params: map[string]string{"bus": bus, "address": addr}, Raw: "serial: no reply"}
}

func TestHub_Diagnosis_OfflineCauseSinceAndRecovery(t *testing.T) {
	h := newHub(t, hub.Options{})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.Apply(hub.Report{Device: "lamp-1", At: t0, State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	h.Apply(hub.Report{Device: "lamp-1", At: t0.Add(time.Minute), Avail: hub.AvailOffline, Cause: noReply("bus0", "4")})
	_, s, _ := h.Snapshot("lamp-1")
	f := s.Fault
	if f == nil || f.Code != hub.CauseNoReply || f.Params["address"] != "4" || f.Severity != hub.SeverityError || !f.Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fault = %+v", f)
	}
	// The port goes too: the cause changes, the trouble started when it did.
	h.Apply(hub.Report{Device: "lamp-1", At: t0.Add(2 * time.Minute), Avail: hub.AvailOffline,
		Cause: &hub.Cause{Code: hub.CausePortGone, Params: map[string]string{"bus": "bus0", "port": "/dev/ttyUSB0"}}})
	// A bare offline adds nothing.
	h.Apply(hub.Report{Device: "lamp-1", At: t0.Add(3 * time.Minute), Avail: hub.AvailOffline})
	_, s, _ = h.Snapshot("lamp-1")
	if f := s.Fault; f == nil || f.Code != hub.CausePortGone || !f.Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the port went: %+v", f)
	}
	h.Apply(hub.Report{Device: "lamp-1", At: t0.Add(4 * time.Minute), Avail: hub.AvailOnline})
	if _, s, _ = h.Snapshot("lamp-1"); s.Fault != nil || !s.Online {
		t.Fatalf("fault stays after the device is back: %+v", s.Fault)
	}
}

func TestHub_Diagnosis_OfflineWithoutCauseIsGeneric(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "socket-1", Avail: hub.AvailOffline})
	if _, s, _ := h.Snapshot("socket-1"); s.Fault == nil || s.Fault.Code != hub.CauseOffline {
		t.Fatalf("fault = %+v", s.Fault)
	}
}

func TestHub_Diagnosis_DriverWarningLastsWhileReported(t *testing.T) {
	h := newHub(t, hub.Options{})
	crc := &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{"bus": "bus0", "address": "4", "count": "3"}}
	lq := 80
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline, Cause: crc, Link: &hub.Link{CRCErrors: 3, LQI: &lq}})
	_, s, _ := h.Snapshot("lamp-1")
	if s.Fault == nil || s.Fault.Severity != hub.SeverityWarn || s.Fault.Code != hub.CauseCRC || !s.Online {
		t.Fatalf("fault = %+v online=%v", s.Fault, s.Online)
	}
	if s.Link.CRCErrors != 3 || s.Link.LQI == nil || *s.Link.LQI != 80 {
		t.Fatalf("link = %+v", s.Link)
	}
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline, Link: &hub.Link{Timeouts: 2}})
	_, s, _ = h.Snapshot("lamp-1")
	if s.Fault != nil {
		t.Fatalf("warning stays once the driver stopped reporting it: %+v", s.Fault)
	}
	if s.Link.CRCErrors != 3 || s.Link.Timeouts != 2 || *s.Link.LQI != 80 {
		t.Fatalf("link lost what it knew: %+v", s.Link)
	}
}

func TestHub_Diagnosis_StaleSaysForHowLong(t *testing.T) {
	h := newHub(t, hub.Options{StaleAfter: 100 * time.Millisecond})
	sub := h.Subscribe(16)
	h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c := <-sub.C:
			if c.Kind == hub.ChangeOnline && c.Device == "lamp-1" && c.Snapshot.Fault != nil {
				f := c.Snapshot.Fault
				if f.Code != hub.CauseStale || f.Params["for"] != "0" || f.Severity != hub.SeverityError {
					t.Fatalf("fault = %+v", f)
				}
				h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
				if _, s, _ := h.Snapshot("lamp-1"); s.Fault != nil {
					t.Fatalf("stale fault stays after a report: %+v", s.Fault)
				}
				return
			}
		case <-timeout:
			t.Fatal("no stale diagnosis")
		}
	}
}

func TestHub_Diagnosis_RefusedCommandUntilOneSucceeds(t *testing.T) {
	h := newHub(t, hub.Options{CommandTimeout: time.Second})
	h.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldOn)}})
	refuse := true
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		if refuse {
			return &hub.Refusal{Reason: "busy", Err: hub.ErrBusy}
		}
		return nil
	}))
	err := h.Execute(context.Background(), hub.Command{Device: "socket-1", Identify: true})
	if !errors.Is(err, hub.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy through the refusal", err)
	}
	_, s, _ := h.Snapshot("socket-1")
	if f := s.Fault; f == nil || f.Code != hub.CauseRefused || f.Params["error"] != "busy" || f.Severity != hub.SeverityWarn || f.Raw == "" {
		t.Fatalf("fault = %+v", f)
	}
	// Reports do not clear a refusal: only a command that works does.
	h.Apply(hub.Report{Device: "socket-1", Avail: hub.AvailOnline})
	if _, s, _ = h.Snapshot("socket-1"); s.Fault == nil {
		t.Fatal("a report cleared the refusal")
	}
	refuse = false
	if err := h.Execute(context.Background(), hub.Command{Device: "socket-1", Identify: true}); err != nil {
		t.Fatal(err)
	}
	if _, s, _ = h.Snapshot("socket-1"); s.Fault != nil {
		t.Fatalf("refusal stays after a command worked: %+v", s.Fault)
	}
}

func TestHub_Diagnosis_OfflineEventCarriesCause(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline, Cause: noReply("bus0", "4")})
	evs := h.Events()
	last := evs[len(evs)-1]
	if last.Code != "device_offline" || last.Params["cause"] != "no_reply" || last.Params["address"] != "4" || last.Device != "lamp-1" {
		t.Fatalf("event = %+v", last)
	}
}

func TestAssess(t *testing.T) {
	for _, c := range []struct {
		name string
		t    hub.Tally
		want hub.Level
	}{
		{"all well", hub.Tally{Devices: 5, Reachable: 5, Links: 2}, hub.LevelHealthy},
		{"no devices", hub.Tally{}, hub.LevelHealthy},
		{"broker down, 3 of 5 offline", hub.Tally{Devices: 5, Reachable: 2, Faulty: 3, Links: 2, LinksDown: 1}, hub.LevelDegraded},
		{"a warning only", hub.Tally{Devices: 5, Reachable: 5, Faulty: 1}, hub.LevelDegraded},
		{"a link down only", hub.Tally{Devices: 5, Reachable: 5, Links: 2, LinksDown: 1}, hub.LevelDegraded},
		{"none reachable", hub.Tally{Devices: 5, Reachable: 0, Faulty: 5}, hub.LevelDown},
		{"store failing", hub.Tally{CheckFailed: true, Devices: 5, Reachable: 5}, hub.LevelDown},
	} {
		if got := hub.Assess(c.t); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestHub_Diagnosis_WarningIsAFaultChangeNotOnline: subscribers that care
// about reachability (the Yandex notifier resends a device's state when it
// is back online) do not hear of warnings coming and going.
func TestHub_Diagnosis_WarningIsAFaultChangeNotOnline(t *testing.T) {
	h := newHub(t, hub.Options{})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	sub := h.Subscribe(64)
	crc := &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{"bus": "bus0", "address": "1", "count": "1"}}
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline, Cause: crc})
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	h.Log("info", "test", "", "marker")
	var kinds []hub.ChangeKind
	for c := range sub.C {
		if c.Kind == hub.ChangeEvent && c.Event.Text == "marker" {
			break
		}
		kinds = append(kinds, c.Kind)
	}
	if len(kinds) != 2 || kinds[0] != hub.ChangeFault || kinds[1] != hub.ChangeFault {
		t.Fatalf("changes %v, want two ChangeFault (%d)", kinds, hub.ChangeFault)
	}
}
