package web

import (
	"fmt"
	"testing"

	"hubd/hub"
)

// hotel is a hub of a hotel: floors of rooms, perRoom devices in each
// (lamps and sockets by turns), all online with a state. Room r's devices
// are named "Room <r> lamp <k>" and have ids "r<r>-d<k>".
func hotel(t testing.TB, floors, roomsPerFloor, perRoom int) *hub.Hub {
	t.Helper()
	var devs []hub.Device
	b := &hub.Node{ID: "hotel", Name: "Hotel", Kind: hub.NodeBuilding}
	for f := 1; f <= floors; f++ {
		fl := &hub.Node{ID: fmt.Sprintf("f%d", f), Name: fmt.Sprintf("Floor %d", f), Kind: hub.NodeFloor}
		for r := 1; r <= roomsPerFloor; r++ {
			num := f*100 + r
			room := &hub.Node{ID: fmt.Sprintf("room-%d", num), Name: fmt.Sprintf("Room %d", num), Kind: hub.NodeRoom}
			for k := range perRoom {
				d := hub.Device{ID: fmt.Sprintf("r%d-d%d", num, k), Kind: hub.KindLight, Driver: "serial",
					Name:    fmt.Sprintf("Room %d lamp %d", num, k),
					Address: fmt.Sprintf("bus%d/%d", num, k+1), Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness)}
				if k%2 == 1 {
					d.Kind, d.Name, d.Fields = hub.KindSocket, fmt.Sprintf("Room %d socket %d", num, k), hub.Fields(hub.FieldOn, hub.FieldPower)
				}
				devs = append(devs, d)
				room.Devices = append(room.Devices, d.ID)
			}
			fl.Children = append(fl.Children, room)
		}
		b.Children = append(b.Children, fl)
	}
	h, err := hub.New(devs, &hub.Site{Buildings: []*hub.Node{b}}, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		st := hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 50}
		if d.Kind == hub.KindSocket {
			st = hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldPower), On: true, Power: 10}
		}
		if err := h.Apply(hub.Report{Device: d.ID, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { h.Close() })
	return h
}
