package hub_test

import (
	"fmt"
	"slices"
	"testing"

	"hubd/hub"
)

// bigSite is buildings x floors x rooms, two devices a room.
func bigSite(buildings, floors, rooms int) *hub.Site {
	s := &hub.Site{}
	for b := range buildings {
		bn := &hub.Node{ID: fmt.Sprintf("b%d", b), Name: "B", Kind: hub.NodeBuilding}
		for f := range floors {
			fn := &hub.Node{ID: fmt.Sprintf("b%d-f%d", b, f), Name: "F", Kind: hub.NodeFloor}
			for r := range rooms {
				id := fmt.Sprintf("b%d-f%d-r%d", b, f, r)
				fn.Children = append(fn.Children, &hub.Node{ID: id, Name: "R", Kind: hub.NodeRoom, Devices: []string{id + "-lamp", id + "-plug"}})
			}
			bn.Children = append(bn.Children, fn)
		}
		s.Buildings = append(s.Buildings, bn)
	}
	return s
}

func TestSite_Paths_AgreeWithRoomOfForEveryDevice(t *testing.T) {
	site := bigSite(2, 3, 4)
	site.Buildings[1].Devices = []string{"gate-1"} // a device on a building itself
	paths := site.Paths()
	n := 0
	site.Walk(func(node, _ *hub.Node, _ int) bool {
		for _, id := range node.Devices {
			n++
			room, want := site.RoomOf(id)
			got := paths[id]
			if !slices.Equal(got, want) || got[len(got)-1] != room {
				t.Errorf("%s: Paths %v, RoomOf %v", id, nodeIDs(got), nodeIDs(want))
			}
		}
		return true
	})
	if len(paths) != n || n != 2*3*4*2+1 {
		t.Errorf("%d paths for %d placed devices", len(paths), n)
	}
	if _, ok := paths["nowhere"]; ok {
		t.Error("an unplaced device has a path")
	}
}

func nodeIDs(ns []*hub.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// The hub places 10,000 devices in their rooms with one walk of the site:
// a hotel's worth of devices must not cost a search of the tree each.
func BenchmarkHub_New_10000DevicesIn500Rooms(b *testing.B) {
	site := bigSite(1, 10, 50) // 500 rooms, 2 devices each...
	var devs []hub.Device
	site.Walk(func(n, _ *hub.Node, _ int) bool {
		for r := len(n.Devices); n.Kind == hub.NodeRoom && r < 20; r++ { // ...filled to 20 a room
			n.Devices = append(n.Devices, fmt.Sprintf("%s-d%d", n.ID, r))
		}
		for _, id := range n.Devices {
			devs = append(devs, lamp(id))
		}
		return true
	})
	for b.Loop() {
		h, err := hub.New(devs, site, hub.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

func TestHub_RoomPath_FollowsTheSiteAcrossAReconfigure(t *testing.T) {
	site := bigSite(1, 2, 3)
	var devs []hub.Device
	site.Walk(func(n, _ *hub.Node, _ int) bool {
		for _, id := range n.Devices {
			devs = append(devs, lamp(id))
		}
		return true
	})
	devs = append(devs, lamp("unplaced"))
	h, err := hub.New(devs, site, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, d := range devs {
		_, want := site.RoomOf(d.ID)
		if got := h.RoomPath(d.ID); !slices.Equal(got, want) {
			t.Errorf("%s: RoomPath %v, RoomOf %v", d.ID, nodeIDs(got), nodeIDs(want))
		}
	}
	// Move a lamp to another floor's room: the hub answers from the new site.
	moved := bigSite(1, 2, 3)
	from, to := moved.Buildings[0].Children[0].Children[0], moved.Buildings[0].Children[1].Children[2]
	from.Devices, to.Devices = from.Devices[1:], append(to.Devices, from.Devices[0])
	if err := h.Reconfigure(devs, moved); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(h.RoomPath("b0-f0-r0-lamp")); !slices.Equal(got, []string{"b0", "b0-f1", "b0-f1-r2"}) {
		t.Errorf("after the move: %v", got)
	}
	if h.RoomPath("unplaced") != nil || h.RoomPath("no-such-device") != nil {
		t.Error("a path for a device the site does not place")
	}
}
