package hub_test

import (
	"strings"
	"testing"

	"hubd/hub"
)

// drain returns the changes waiting on sub up to the marker event.
func drainTo(t *testing.T, h *hub.Hub, sub *hub.Subscription) []hub.Change {
	t.Helper()
	h.Log("info", "test", "", "marker")
	var out []hub.Change
	for c := range sub.C {
		if c.Kind == hub.ChangeEvent && c.Event.Text == "marker" {
			return out
		}
		out = append(out, c)
	}
	t.Fatal("subscription closed")
	return nil
}

func countKind(cs []hub.Change, k hub.ChangeKind) int {
	n := 0
	for _, c := range cs {
		if c.Kind == k {
			n++
		}
	}
	return n
}

func TestHub_Apply_CapsReplaceUnpinnedAndPublishDevices(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub := h.Subscribe(64)
	defer h.Unsubscribe(sub)
	white := &hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 3000, TempMaxK: 6000}
	if err := h.Apply(hub.Report{Device: "lamp-1", Caps: white}); err != nil {
		t.Fatal(err)
	}
	d, _ := h.Device("lamp-1")
	if d.Fields != white.Fields || d.TempMinK != 3000 || d.TempMaxK != 6000 {
		t.Fatalf("lamp-1 after caps: %s %d..%d", d.Fields, d.TempMinK, d.TempMaxK)
	}
	// A color value from the device is dropped now.
	if err := h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldColor), Color: hub.HSV{H: 10, S: 10, V: 10}}}); err != nil {
		t.Fatal(err)
	}
	if _, s, _ := h.Snapshot("lamp-1"); s.State.Set.Has(hub.FieldColor) {
		t.Fatal("color kept for a lamp that has none")
	}
	// The same caps again change nothing.
	if err := h.Apply(hub.Report{Device: "lamp-1", Caps: white}); err != nil {
		t.Fatal(err)
	}
	if n := countKind(drainTo(t, h, sub), hub.ChangeDevices); n != 1 {
		t.Fatalf("%d ChangeDevices, want 1", n)
	}
}

func TestHub_Apply_PinnedCapsStayAndClashIsLoggedOnce(t *testing.T) {
	d := lamp("lamp-1")
	d.Pinned = hub.PinFields | hub.PinTempRange
	h, err := hub.New([]hub.Device{d}, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sub := h.Subscribe(64)
	defer h.Unsubscribe(sub)
	rep := &hub.Caps{Fields: hub.Fields(hub.FieldOn), TempMinK: 0, TempMaxK: 0}
	for range 3 {
		if err := h.Apply(hub.Report{Device: "lamp-1", Caps: rep}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := h.Device("lamp-1")
	if got.Fields != hub.LightFields || got.TempMinK != 2700 {
		t.Fatalf("pinned lamp changed: %s %d", got.Fields, got.TempMinK)
	}
	cs := drainTo(t, h, sub)
	warns := 0
	for _, c := range cs {
		if c.Kind == hub.ChangeEvent && c.Event.Level == "warn" && strings.Contains(c.Event.Text, "config wins") {
			warns++
		}
	}
	if warns != 1 || countKind(cs, hub.ChangeDevices) != 0 {
		t.Fatalf("%d warnings and %d ChangeDevices, want 1 and 0", warns, countKind(cs, hub.ChangeDevices))
	}
}

func TestHub_Apply_InvalidCapsAreIgnored(t *testing.T) {
	h := newHub(t, hub.Options{})
	bad := &hub.Caps{Fields: hub.Fields(hub.FieldTemperatureK), TempMinK: 9000, TempMaxK: 100}
	if err := h.Apply(hub.Report{Device: "lamp-1", Caps: bad}); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device("lamp-1"); d.Fields != hub.LightFields {
		t.Fatalf("fields %s", d.Fields)
	}
}

func TestHub_Reconfigure_KeepsLearnedCaps(t *testing.T) {
	h := newHub(t, hub.Options{})
	sock := &hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldPower)}
	if err := h.Apply(hub.Report{Device: "socket-1", Caps: sock}); err != nil {
		t.Fatal(err)
	}
	if err := h.Reconfigure([]hub.Device{lamp("lamp-1"), socket("socket-1")}, demoSite()); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device("socket-1"); d.Fields != sock.Fields {
		t.Fatalf("socket-1 after reload: %s", d.Fields)
	}
}

func TestDevice_Learn_MiredRoundingIsNoClash(t *testing.T) {
	d := lamp("lamp-1")
	d.Pinned = hub.PinFields | hub.PinTempRange
	d.TempMinK, d.TempMaxK = 2000, 6500
	if _, msg := d.Learn(hub.Caps{Fields: hub.LightFields, TempMinK: 2000, TempMaxK: 6536}); msg != "" {
		t.Fatalf("153 mired against 6500 K: %s", msg)
	}
	if _, msg := d.Learn(hub.Caps{Fields: hub.LightFields, TempMinK: 2000, TempMaxK: 6000}); msg == "" {
		t.Fatal("6000 K against 6500 K: no clash")
	}
}
