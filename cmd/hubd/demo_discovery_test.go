package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"hubd/hub"
	"hubd/hub/web"
)

// The demo starts with one device of each family that is not in its
// config, shown as new, and one can be adopted at once.
func TestDemo_StartsWithNewDevicesOfEachFamily(t *testing.T) {
	addr, m, _ := startDemo(t, DemoOptions{})
	want := []string{"serial demo0/3", "mqtt tasmota:demo-relay4", "mqtt z2m:demo-ct-bulb", "mqtt shelly:shellyplug-s-demo9",
		"mqtt shelly2:shellyplusplugs-demo9", "mqtt shelly2:shellyplusrgbwpm-demo9:rgbw:0"}
	eventually(t, 20*time.Second, "every new demo device listed", func() bool {
		seen := map[string]bool{}
		for _, f := range m.Adoption.New() {
			seen[f.Key()] = true
		}
		for _, k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	for _, f := range m.Adoption.New() {
		if f.Key() == "mqtt tasmota:demo-lamp-2" || f.Key() == "serial demo0/1" {
			t.Fatalf("configured device listed as new: %s", f.Key())
		}
	}
	ad, err := m.Adoption.Adopt(context.Background(), web.AdoptRequest{Driver: "serial", Address: "demo0/3", ID: "lamp-w", Name: "White", Room: "lobby"})
	if err != nil {
		t.Fatal(err)
	}
	d := ad.Device
	if ad.MQTT != nil || d.TempMinK != 3000 || d.TempMaxK != 6000 || d.Room != "lobby" {
		t.Fatalf("adopted %+v", d)
	}
	eventually(t, 10*time.Second, "adopted lamp answers", func() bool {
		q := query(t, addr, "lamp-w")
		return q["lamp-w"].ErrorCode == "" && len(q["lamp-w"].Capabilities) > 0
	})
	// The second relay of the Tasmota 4-relay switch: adopted on its own,
	// and switched on POWER2, which the emulated device confirms.
	ctx := context.Background()
	r2, err := m.Adoption.Adopt(ctx, web.AdoptRequest{Driver: "mqtt", Address: "tasmota:demo-relay4:2", ID: "relay-2", Name: "Relay 2", Room: "lobby"})
	if err != nil || r2.Device.Address != "tasmota:demo-relay4:2" {
		t.Fatalf("adopt relay 2: %+v %v", r2, err)
	}
	// It got its own MQTT account, its password shown once.
	if r2.MQTT == nil || r2.MQTT.Account != "relay-2" || r2.MQTT.Password == "" || !strings.Contains(r2.Next, "Backlog MqttUser relay-2") {
		t.Fatalf("relay 2's account: %+v %q", r2.MQTT, r2.Next)
	}
	eventually(t, 10*time.Second, "relay 2 online", func() bool { _, s, _ := m.Hub.Snapshot("relay-2"); return s.Online })
	for _, on := range []bool{true, false} {
		if err := m.Hub.Execute(ctx, hub.Command{Device: "relay-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: on}}); err != nil {
			t.Fatalf("relay 2 on=%v: %v", on, err)
		}
	}
}
