package main

import (
	"strings"
	"testing"

	"hubd/hub"
)

// A full found-device table turns newcomers away, counts them and says so
// once on the status page's events.
func TestAdoption_FullTableIsCountedAndSaidOnce(t *testing.T) {
	h, err := hub.New(nil, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a := &Adoption{m: &Main{Hub: h}, finds: hub.NewFinds(1)}
	for _, addr := range []string{"shelly:a", "shelly:b", "shelly:c"} {
		a.found(hub.Found{Driver: "mqtt", Address: addr, Kind: hub.KindSocket, Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn)}})
	}
	if n, d := a.finds.Len(), a.finds.Dropped(); n != 1 || d != 2 {
		t.Fatalf("table %d, dropped %d", n, d)
	}
	said := 0
	for _, ev := range h.Events() {
		if strings.Contains(ev.Text, "table of found devices is full") {
			said++
		}
	}
	if said != 1 {
		t.Fatalf("%d warnings, want 1", said)
	}
	if got := a.New(); len(got) != 1 || got[0].Address != "shelly:a" {
		t.Fatalf("new: %+v", got)
	}
}
