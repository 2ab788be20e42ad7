package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

var turnOn = hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}

// waitingCommand starts turnOn on a new hub and returns once the driver
// sent it, with where the result of Execute arrives: the command waits
// for the device (the test) to confirm it.
func waitingCommand(t *testing.T, timeout time.Duration) (*hub.Hub, <-chan error) {
	t.Helper()
	h := newHub(t, hub.Options{CommandTimeout: timeout})
	sent := make(chan struct{}, 1)
	h.SetDriver("test", hub.DriverFunc(func(ctx context.Context, d hub.Device, c hub.Command) error {
		sent <- struct{}{}
		return nil
	}))
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	errc := make(chan error, 1)
	go func() { errc <- h.Execute(context.Background(), turnOn) }()
	<-sent
	return h, errc
}

func TestHub_Reconfigure_KeepsACommandWaitingForItsConfirmation(t *testing.T) {
	h, errc := waitingCommand(t, 10*time.Second)
	if err := h.Reconfigure([]hub.Device{lamp("lamp-1")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(hub.Report{Device: "lamp-1", State: turnOn.Set}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("a command confirmed after a reload: %v", err)
	}
}

// A device the reload removes takes its waiting commands with it: the
// device of the same id a later reload adds confirms none of them.
func TestHub_Reconfigure_DropsTheCommandsOfARemovedDevice(t *testing.T) {
	h, errc := waitingCommand(t, 300*time.Millisecond)
	for _, devs := range [][]hub.Device{{socket("socket-1")}, {lamp("lamp-1"), socket("socket-1")}} {
		if err := h.Reconfigure(devs, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Apply(hub.Report{Device: "lamp-1", State: turnOn.Set}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, hub.ErrUnreachable) {
		t.Fatalf("a command to a removed device: err = %v, want unreachable", err)
	}
}

// clashWarnings counts the capability disagreements h logged (up to a
// marker event logged now).
func clashWarnings(t *testing.T, h *hub.Hub, sub *hub.Subscription) int {
	t.Helper()
	n := 0
	for _, c := range drainTo(t, h, sub) {
		if c.Kind == hub.ChangeEvent && c.Event.Level == "warn" && strings.Contains(c.Event.Text, "config wins") {
			n++
		}
	}
	return n
}

// A disagreement between a device's config and its reports is logged once
// while the hub runs, reloads included, and once more after a restart.
func TestHub_Clash_LoggedOnceAcrossAReloadAndAgainAfterARestart(t *testing.T) {
	d := lamp("lamp-1")
	d.Pinned = hub.PinFields
	st := &memStore{}
	rep := &hub.Caps{Fields: hub.Fields(hub.FieldOn)}
	run := func(reload bool) int {
		h, err := hub.New([]hub.Device{d}, nil, hub.Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		sub := h.Subscribe(64)
		defer h.Unsubscribe(sub)
		for i := range 3 {
			if reload && i == 1 {
				if err := h.Reconfigure([]hub.Device{d}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Apply(hub.Report{Device: "lamp-1", Caps: rep}); err != nil {
				t.Fatal(err)
			}
		}
		return clashWarnings(t, h, sub)
	}
	if n := run(true); n != 1 {
		t.Fatalf("%d warnings across a reload, want 1", n)
	}
	if saved, _ := st.LoadAll(); saved["lamp-1"].Caps != *rep {
		t.Fatalf("stored caps %s, want %s", saved["lamp-1"].Caps, rep)
	}
	if n := run(false); n != 1 {
		t.Fatalf("%d warnings after a restart, want 1", n)
	}
}

// A capability report loaded from the store that the config now refuses is
// kept in the snapshot but is not the device's report: Reported says none,
// across a reload too, until the device reports something the hub takes.
func TestHub_Reported_NoneForAStoredReportTheConfigRefuses(t *testing.T) {
	d := hub.Device{ID: "lamp-1", Name: "lamp", Kind: hub.KindLight, Driver: "test",
		Fields: hub.Fields(hub.FieldOn), Pinned: hub.PinTempRange}
	stored := hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldTemperatureK), TempMinK: 2000, TempMaxK: 6500}
	st := &memStore{}
	st.Put("lamp-1", hub.Snapshot{Seq: 7, Caps: stored})
	h, err := hub.New([]hub.Device{d}, nil, hub.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 2 {
		if c, ok := h.Reported("lamp-1"); ok {
			t.Fatalf("reported %s for a refused stored report (reloads: %d)", c, i)
		}
		if _, s, _ := h.Snapshot("lamp-1"); s.Caps != stored {
			t.Fatalf("snapshot caps %s, want the stored %s", s.Caps, stored)
		}
		if err := h.Reconfigure([]hub.Device{d}, nil); err != nil {
			t.Fatal(err)
		}
	}
	took := hub.Caps{Fields: hub.Fields(hub.FieldOn)}
	if err := h.Apply(hub.Report{Device: "lamp-1", Caps: &took}); err != nil {
		t.Fatal(err)
	}
	if c, ok := h.Reported("lamp-1"); !ok || c != took {
		t.Fatalf("reported %s %v, want %s", c, ok, took)
	}
	if _, s, _ := h.Snapshot("lamp-1"); s.Caps != took || s.Seq != 8 {
		t.Fatalf("snapshot caps %s seq %d, want %s and 8", s.Caps, s.Seq, took)
	}
}
