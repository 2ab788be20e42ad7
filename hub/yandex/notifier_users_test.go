package yandex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"hubd/hub"
)

// byUser reads callbacks into user id -> the device ids they carried.
func byUser(t *testing.T, bodies [][]byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, b := range bodies {
		var cb callbackBody
		if err := json.Unmarshal(b, &cb); err != nil {
			t.Fatalf("callback is not JSON: %v: %s", err, b)
		}
		if _, ok := out[cb.Payload.UserID]; !ok {
			out[cb.Payload.UserID] = []string{}
		}
		for _, d := range cb.Payload.Devices {
			out[cb.Payload.UserID] = append(out[cb.Payload.UserID], d.ID)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

func tenancyRecipients() []Recipient {
	return []Recipient{
		{UserID: "res-101", Scope: hub.Scope{Homes: []string{"r101"}}},
		{UserID: "res-201", Scope: hub.Scope{Homes: []string{"r201"}}},
		{UserID: "staff", Scope: staff},
	}
}

func TestNotifier_Recipients_EachGetsOnlyTheirDevicesUnderTheirUserID(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, Recipients: tenancyRecipients})
	for _, id := range []string{"lamp-1", "lamp-2", "lamp-3"} {
		if err := f.hub.Apply(hub.Report{Device: id, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 7}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a callback for each user", func() bool { return len(byUser(t, p.stateBodies())) == 3 })
	got := byUser(t, p.stateBodies())
	want := map[string][]string{"res-101": {"lamp-2"}, "res-201": {"lamp-3"}, "staff": {"lamp-1", "lamp-2", "lamp-3"}}
	for u, ids := range want {
		if !slices.Equal(got[u], ids) {
			t.Errorf("%s was sent %v, want %v", u, got[u], ids)
		}
	}
	if len(got) != len(want) {
		t.Errorf("callbacks went to %v", got)
	}
}

// TestNotifier_DevicesChange_DiscoveryGoesToUsersWhoseSetChanged moves the
// lobby lamp into Room 101: its resident and staff (who sees the lamp in
// another room) are owed a discovery callback, Room 201 is not.
func TestNotifier_DevicesChange_DiscoveryGoesToUsersWhoseSetChanged(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	n := startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, Settle: 50 * time.Millisecond, Recipients: tenancyRecipients})
	site := demoSite()
	site.Buildings[0].Children[0].Children[0].Devices = []string{"socket-1"}
	site.Buildings[0].Children[0].Children[1].Devices = []string{"lamp-1", "lamp-2", "socket-2"}
	if err := f.hub.Reconfigure(demoDevices(), site); err != nil {
		t.Fatal(err)
	}
	discos := func() map[string][]string { p.mu.Lock(); defer p.mu.Unlock(); return byUser(t, p.discos) }
	// The hub's clock is fixed: move it past the settle time, whenever the
	// notifier took the change in.
	eventually(t, "discovery for Room 101 and staff", func() bool {
		f.clock.Add(time.Second)
		d := discos()
		return d["res-101"] != nil && d["staff"] != nil
	})
	// The marker is sent after anything owed to Room 201 would have been.
	n.Discover("marker")
	eventually(t, "the marker", func() bool { return discos()["marker"] != nil })
	if d := discos(); d["res-201"] != nil {
		t.Errorf("Room 201, whose devices did not change, was sent a discovery callback: %v", d)
	}
}

// TestNotifier_RefusedChunk_DoesNotDropTheChunksAfterIt has 250 devices
// change at once: three chunks. The platform refuses the first for good;
// the other two must still be delivered.
func TestNotifier_RefusedChunk_DoesNotDropTheChunksAfterIt(t *testing.T) {
	var devs []hub.Device
	for i := range 250 {
		devs = append(devs, hub.Device{ID: fmt.Sprintf("dev-%03d", i), Name: "d", Kind: hub.KindSocket, Driver: "x", Fields: hub.Fields(hub.FieldOn)})
	}
	h, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p := newPlatform(t)
	refuse := func(b []byte) bool { return bytes.Contains(b, []byte(`"dev-000"`)) }
	p.refuse.Store(&refuse)
	n := startNotifier(t, h, p, NotifierOptions{Batch: 200 * time.Millisecond})
	for _, d := range devs {
		if err := h.Apply(hub.Report{Device: d.ID, State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the chunks after the refused one", func() bool { return len(byUser(t, p.stateBodies())["alice"]) >= 150 })
	got := byUser(t, p.stateBodies())["alice"]
	if len(got) != 150 || got[0] != "dev-100" || got[149] != "dev-249" {
		t.Errorf("delivered %d devices (%v ... ), want dev-100..dev-249", len(got), got[:min(3, len(got))])
	}
	if st := n.Status(); st.Failed == 0 || st.LastError == "" {
		t.Errorf("the refused chunk is not counted: %+v", st)
	}
}
