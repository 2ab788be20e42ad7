package alexa

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

// apartmentSite is a building with a lobby and n apartments (homes), each
// with a living room holding one device. The lobby has no devices: in
// residential mode devices outside homes are refused (ErrCommonArea).
func apartmentSite(n int) *hub.Site {
	b := &hub.Node{ID: "tower", Name: "Tower", Kind: hub.NodeBuilding}
	fl := &hub.Node{ID: "tower-f1", Name: "Floor 1", Kind: hub.NodeFloor}
	fl.Children = append(fl.Children, &hub.Node{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom})
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("apt%d", i)
		fl.Children = append(fl.Children, &hub.Node{ID: id, Name: fmt.Sprintf("Apartment %d", i), Kind: hub.NodeHome,
			Children: []*hub.Node{{ID: id + "-living", Name: "Living room", Kind: hub.NodeRoom, Devices: []string{id + "-lamp"}}}})
	}
	b.Children = []*hub.Node{fl}
	return &hub.Site{Buildings: []*hub.Node{b}}
}

func TestSyncer_Sync_ResidentialHomesInCommunities(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	site := apartmentSite(12) // more than one page of homes
	s := f.syncer(t, site)
	res := mustSync(t, s)
	if got := f.srv.CommunityNames(); !slices.Equal(got, []string{"Tower"}) {
		t.Fatalf("communities = %v", got)
	}
	homes := f.srv.HomePaths()
	if len(homes) != 12 || homes[0] != "Tower/Apartment 1" {
		t.Fatalf("homes = %v", homes)
	}
	if f.srv.UnitCount() != 0 || len(f.srv.Paths()) != 0 {
		t.Fatalf("plain units created in residential mode: %v", f.srv.Paths())
	}
	// Devices of rooms inside a home are discovered on the home.
	if len(res.Sessions) != 12 {
		t.Fatalf("sessions = %v", res.Sessions)
	}
	f.srv.ResetCounts()
	mustSync(t, s)
	if f.srv.Writes() != 0 {
		t.Fatalf("rerun wrote: %v", f.srv.Counts())
	}

	// An occupied home is read-only: its rename is refused (403) and kept
	// as a warning, and the rest of the sync goes on (see
	// TestSyncer_Sync_OccupiedHomeRenameIsAWarningNotAFailure).
	occupied := f.srv.HomeID("Apartment 3")
	f.srv.SetHomeState(occupied, "OCCUPIED")
	site.Find("apt3").Name = "Penthouse"
	site.Find("apt4").Name = "Apartment 4B"
	// Removing a vacant home deletes it.
	fl := site.Buildings[0].Children[0]
	fl.Children = slices.DeleteFunc(fl.Children, func(n *hub.Node) bool { return n.ID == "apt12" })
	_ = s.SetSite(site)
	f.srv.ClearEndpoints(f.srv.HomeID("Apartment 12")) // its devices left with it
	f.srv.ResetCounts()
	res, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("err = %v, want none: an occupied home's rename is a warning", err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "occupied or linked") || !strings.Contains(res.Warnings[0], "apt3") {
		t.Fatalf("warnings = %v", res.Warnings)
	}
	if f.srv.ReadOnlyViolations() != 1 {
		t.Fatal("the occupied home's rename was not refused by the API")
	}
	if f.srv.Calls(http.MethodPut) != 2 || f.srv.Calls(http.MethodDelete) != 1 {
		t.Fatalf("calls = %v", f.srv.Counts())
	}
	homes = f.srv.HomePaths()
	if len(homes) != 11 || !slices.Contains(homes, "Tower/Apartment 4B") || !slices.Contains(homes, "Tower/Apartment 3") {
		t.Fatalf("homes = %v", homes)
	}
}

func TestSyncer_Sync_ResidentialLostReplyRecovered(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.opts.Residential = true
	f.srv.LoseCreateReplies(2) // the community and the first home
	f.srv.FailEvery(4, http.StatusTooManyRequests)
	site := apartmentSite(3)
	s := f.syncer(t, site)
	mustSync(t, s)
	if got := f.srv.HomePaths(); len(got) != 3 || len(f.srv.CommunityNames()) != 1 {
		t.Fatalf("homes %v, communities %v", got, f.srv.CommunityNames())
	}
}

func TestSyncer_Sync_ResidentialOffMakesUnits(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	site := apartmentSite(2)
	s := f.syncer(t, site)
	mustSync(t, s)
	samePaths(t, f.srv.Paths(), sitePaths(site))
	if len(f.srv.CommunityNames()) != 0 {
		t.Fatal("communities created without the option")
	}
}
