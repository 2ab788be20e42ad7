package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"hubd/hub"
)

func demoSite() *hub.Site {
	return &hub.Site{Buildings: []*hub.Node{{
		ID: "b1", Name: "Demo House", Kind: hub.NodeBuilding,
		Children: []*hub.Node{
			{ID: "f1", Name: "Floor 1", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom, Devices: []string{"lamp-1", "socket-1"}},
				{ID: "r101", Name: "Room 101", Kind: hub.NodeRoom, Devices: []string{"lamp-2", "socket-2"}},
			}},
			{ID: "f2", Name: "Floor 2", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "r201", Name: "Room 201", Kind: hub.NodeRoom, Devices: []string{"lamp-3"}},
			}},
		},
	}}}
}

func TestDB_Site_NoneStoredIsNil(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	site, err := db.Site()
	if site != nil || err != nil {
		t.Errorf("Site() on a new store = %v, %v; want nil, nil", site, err)
	}
}

func TestDB_PutSite_SurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/hubd.db"
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutSite(demoSite()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTestAt(t, path, Options{NoSync: true})
	got, err := db.Site()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, demoSite()) {
		t.Errorf("Site() after reopen differs from what was put")
	}
	if n, path := got.RoomOf("lamp-3"); n == nil || n.Name != "Room 201" || len(path) != 3 {
		t.Errorf("RoomOf(lamp-3) = %v, %v", n, path)
	}

	// The last applied tree replaces the previous one.
	smaller := &hub.Site{Buildings: []*hub.Node{{ID: "b2", Name: "Annex"}}}
	if err := db.PutSite(smaller); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Site(); !reflect.DeepEqual(got, smaller) {
		t.Errorf("Site() = %+v, want the annex only", got)
	}
	if err := db.PutSite(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Site(); err != nil || got == nil || len(got.Buildings) != 0 {
		t.Errorf("Site() after PutSite(nil) = %+v, %v; want an empty site", got, err)
	}
}

func TestDB_PutSite_RejectsInvalidTree(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	db.PutSite(demoSite())
	bad := demoSite()
	bad.Buildings[0].Children[1].ID = "f1"
	err := db.PutSite(bad)
	if !errors.Is(err, hub.ErrInvalidSite) || !strings.HasPrefix(err.Error(), "store: ") {
		t.Fatalf("PutSite(duplicate ids) = %v, want hub.ErrInvalidSite", err)
	}
	if got, _ := db.Site(); !reflect.DeepEqual(got, demoSite()) {
		t.Errorf("a rejected site replaced the stored one")
	}
}
