package hub_test

import (
	"fmt"
	"testing"
	"time"

	"hubd/hub"
)

// VersionsOf says of each id what Snapshot and InScope say, in the order
// asked, across more ids than one hold of the lock covers, and moves on
// with every report.
func TestHub_VersionsOf_AgreesWithSnapshotAndScope(t *testing.T) {
	h := homesHub(t)
	now := time.Now()
	if err := h.Apply(hub.Report{Device: "l-101", At: now, State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(hub.Report{Device: "l-201", Avail: hub.AvailOffline}); err != nil {
		t.Fatal(err)
	}
	// 150 ids: every device, unknown ones and repeats, in a mixed order.
	var ask []string
	for i := 0; i < 30; i++ {
		ask = append(ask, "l-201", fmt.Sprintf("nope-%d", i), "s-101", "l-lobby", "l-101")
	}
	for _, sc := range []hub.Scope{{Staff: true}, {Homes: []string{"h101"}}, {Homes: []string{"suite"}}, {}} {
		vers := h.VersionsOf(ask, sc, now, nil)
		if len(vers) != len(ask) {
			t.Fatalf("%+v: %d versions for %d ids", sc, len(vers), len(ask))
		}
		for i, id := range ask {
			dev, snap, ok := h.Snapshot(id)
			in := ok && h.InScope(sc, id)
			want := hub.Version{}
			if in {
				want = hub.Version{Seq: snap.Seq, Fields: dev.Fields, Reachable: snap.Reachable(now, h.StaleAfter()), In: true}
			}
			if vers[i] != want {
				t.Fatalf("%+v: id %d (%s): %+v, want %+v", sc, i, id, vers[i], want)
			}
		}
	}
	staff := hub.Scope{Staff: true}
	before := h.VersionsOf([]string{"l-101"}, staff, now, nil)[0]
	if !before.Reachable || before.Seq == 0 {
		t.Fatalf("l-101 after a report: %+v, want reachable with a sequence", before)
	}
	if err := h.Apply(hub.Report{Device: "l-101", At: now, State: hub.State{Set: hub.Fields(hub.FieldOn), On: false}}); err != nil {
		t.Fatal(err)
	}
	if after := h.VersionsOf([]string{"l-101"}, staff, now, nil)[0]; after.Seq <= before.Seq {
		t.Fatalf("a change of state left the version at %d (was %d)", after.Seq, before.Seq)
	}
}

// A device silent for longer than StaleAfter is not reachable, as
// Snapshot.Reachable says.
func TestHub_VersionsOf_StaleIsUnreachable(t *testing.T) {
	h := newHub(t, hub.Options{StaleAfter: time.Minute})
	at := time.Now()
	if err := h.Apply(hub.Report{Device: "lamp-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatal(err)
	}
	staff := hub.Scope{Staff: true}
	if v := h.VersionsOf([]string{"lamp-1"}, staff, at.Add(30*time.Second), nil)[0]; !v.Reachable {
		t.Fatalf("heard 30 s ago, StaleAfter 1 min: %+v, want reachable", v)
	}
	if v := h.VersionsOf([]string{"lamp-1"}, staff, at.Add(2*time.Minute), nil)[0]; v.Reachable || !v.In {
		t.Fatalf("heard 2 min ago, StaleAfter 1 min: %+v, want known and unreachable", v)
	}
}
