package hub_test

import (
	"errors"
	"slices"
	"testing"

	"hubd/hub"
)

// homesSite has two homes on floor 1, a home nested in a suite on floor 2,
// and a lobby that is nobody's home.
func homesSite() *hub.Site {
	return &hub.Site{Buildings: []*hub.Node{{
		ID: "house", Name: "House", Kind: hub.NodeBuilding,
		Children: []*hub.Node{
			{ID: "f1", Name: "Floor 1", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom, Devices: []string{"l-lobby"}},
				{ID: "h101", Name: "Room 101", Kind: hub.NodeHome, Devices: []string{"l-101"},
					Children: []*hub.Node{{ID: "bath101", Name: "Bath", Kind: hub.NodeRoom, Devices: []string{"s-101"}}}},
			}},
			{ID: "suite", Name: "Suite", Kind: hub.NodeHome, Children: []*hub.Node{
				{ID: "h201", Name: "Room 201", Kind: hub.NodeHome, Devices: []string{"l-201"}},
			}},
		},
	}}}
}

func homesHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New([]hub.Device{lamp("l-lobby"), lamp("l-101"), socket("s-101"), lamp("l-201")}, homesSite(), hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func ids(ds []hub.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestHub_DevicesIn_HomeHoldsItsNodeAndEverythingUnder(t *testing.T) {
	h := homesHub(t)
	cases := []struct {
		scope hub.Scope
		want  []string
	}{
		{hub.Scope{Homes: []string{"h101"}}, []string{"l-101", "s-101"}},
		{hub.Scope{Homes: []string{"h201"}}, []string{"l-201"}},
		{hub.Scope{Homes: []string{"suite"}}, []string{"l-201"}},
		{hub.Scope{Homes: []string{"h101", "h201"}}, []string{"l-101", "l-201", "s-101"}},
		{hub.Scope{Staff: true}, []string{"l-101", "l-201", "l-lobby", "s-101"}},
		{hub.Scope{}, nil},
		{hub.Scope{Homes: []string{"lobby"}}, nil}, // not a home: covers nothing
	}
	for _, c := range cases {
		if got := ids(h.DevicesIn(c.scope)); !slices.Equal(got, c.want) {
			t.Errorf("DevicesIn(%+v) = %v, want %v", c.scope, got, c.want)
		}
	}
}

func TestHub_InScope_RefusesOtherHomesCommonAreasAndUnknownIds(t *testing.T) {
	h := homesHub(t)
	r101 := hub.Scope{Homes: []string{"h101"}}
	for id, want := range map[string]bool{"l-101": true, "s-101": true, "l-201": false, "l-lobby": false, "nope": false} {
		if got := h.InScope(r101, id); got != want {
			t.Errorf("InScope(room 101, %s) = %v, want %v", id, got, want)
		}
	}
	if !h.InScope(hub.Scope{Staff: true}, "l-lobby") || h.InScope(hub.Scope{Staff: true}, "nope") {
		t.Error("staff must cover every existing device and no unknown one")
	}
	if got := h.HomesOf("l-201"); !slices.Equal(got, []string{"suite", "h201"}) {
		t.Errorf("HomesOf(l-201) = %v, want [suite h201]", got)
	}
}

func TestHub_Reconfigure_MovesDevicesBetweenHomes(t *testing.T) {
	h := homesHub(t)
	s := homesSite()
	// The lobby lamp moves into Room 101.
	s.Buildings[0].Children[0].Children[0].Devices = nil
	s.Buildings[0].Children[0].Children[1].Devices = []string{"l-101", "l-lobby"}
	if err := h.Reconfigure(h.Devices(), s); err != nil {
		t.Fatal(err)
	}
	if !h.InScope(hub.Scope{Homes: []string{"h101"}}, "l-lobby") {
		t.Error("a device moved into a home is not in that home's scope")
	}
}

func TestSite_CheckScope_NamesNodesThatAreNotHomes(t *testing.T) {
	s := homesSite()
	if err := s.CheckScope(hub.Scope{Homes: []string{"h101", "suite"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"lobby", "missing"} {
		err := s.CheckScope(hub.Scope{Homes: []string{id}})
		if !errors.Is(err, hub.ErrNotHome) {
			t.Errorf("CheckScope(%s) = %v, want ErrNotHome", id, err)
		}
	}
	if got := s.DevicesUnder("h101"); !slices.Equal(got, []string{"l-101", "s-101"}) {
		t.Errorf("DevicesUnder(h101) = %v", got)
	}
	if got := len(s.Homes()); got != 3 {
		t.Errorf("Homes() has %d nodes, want 3", got)
	}
}
