package alexa

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// demoSite is the demo site of DESIGN.md.
func demoSite() *hub.Site {
	return &hub.Site{Buildings: []*hub.Node{{ID: "demo-house", Name: "Demo House", Kind: hub.NodeBuilding, Children: []*hub.Node{
		{ID: "floor-1", Name: "Floor 1", Kind: hub.NodeFloor, Children: []*hub.Node{
			{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom, Devices: []string{"lamp-1", "socket-1"}},
			{ID: "room-101", Name: "Room 101", Kind: hub.NodeRoom, Devices: []string{"lamp-2", "socket-2"}},
		}},
		{ID: "floor-2", Name: "Floor 2", Kind: hub.NodeFloor, Children: []*hub.Node{
			{ID: "room-201", Name: "Room 201", Kind: hub.NodeRoom, Devices: []string{"lamp-3"}},
		}},
	}}}}
}

func TestPlan_String_DemoSiteGolden(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	s := f.syncer(t, demoSite())
	p, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "demo-plan.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(p.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if p.String() != string(want) {
		t.Fatalf("plan differs from %s:\n%s", golden, p)
	}
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(demoSite()))
}
