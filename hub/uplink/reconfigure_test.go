package uplink_test

import (
	"testing"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// A reload that removes a device clears its retained state, availability
// and discovery config (an empty retained message), so the fleet stops
// showing it; the devices that stay are published again.
func TestUplink_Reconfigure_ClearsRemovedDevices(t *testing.T) {
	b := mosquittotest.Start(t)
	w := watch(t, b.URL(), "#", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, HomeAssistant: true}, store.QueueOptions{})
	w.nextWhere(t, root+"/devices/socket-1/state", func(v map[string]any) bool { return v["online"] == true })
	w.next(t, "homeassistant/switch/gw1/socket-1/config")
	if err := f.hub.Reconfigure(testDevices()[:1], nil); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{root + "/devices/socket-1/state", root + "/devices/socket-1/availability", "homeassistant/switch/gw1/socket-1/config", "homeassistant/sensor/gw1/socket-1_power/config"} {
		for {
			if m := w.next(t, topic); len(m.Payload) == 0 {
				break
			}
		}
	}
	// Nothing is retained for the removed device any more; lamp-1 is.
	late := watch(t, b.URL(), root+"/devices/+/state", "", true)
	late.next(t, root+"/devices/lamp-1/state")
	// The retained messages came with the subscription: a marker sent
	// after it arrives after them.
	publish(t, b.URL(), root+"/devices/marker/state", false, "{}")
	late.next(t, root+"/devices/marker/state")
	if got := late.all(root + "/devices/socket-1/state"); len(got) != 0 {
		t.Fatalf("socket-1 state still retained: %q", got[0].Payload)
	}
}

// A reload that takes a meter field off a device that stays clears that
// sensor's discovery config and keeps the others.
func TestUplink_Reconfigure_ClearsTheConfigsAFieldTookAway(t *testing.T) {
	b := mosquittotest.Start(t)
	w := watch(t, b.URL(), "homeassistant/#", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, HomeAssistant: true}, store.QueueOptions{})
	w.next(t, "homeassistant/sensor/gw1/socket-1_energy/config")
	devs := testDevices()
	devs[1].Fields = devs[1].Fields.Without(hub.FieldEnergy)
	if err := f.hub.Reconfigure(devs, nil); err != nil {
		t.Fatal(err)
	}
	for {
		if m := w.next(t, "homeassistant/sensor/gw1/socket-1_energy/config"); len(m.Payload) == 0 {
			break
		}
	}
	late := watch(t, b.URL(), "homeassistant/#", "", true)
	publish(t, b.URL(), "homeassistant/marker", false, "{}")
	late.next(t, "homeassistant/marker")
	if got := late.all("homeassistant/sensor/gw1/socket-1_energy/config"); len(got) != 0 {
		t.Fatalf("the energy sensor's config is still retained: %q", got[0].Payload)
	}
	for _, topic := range []string{"homeassistant/switch/gw1/socket-1/config", "homeassistant/sensor/gw1/socket-1_power/config", "homeassistant/light/gw1/lamp-1/config"} {
		if got := late.all(topic); len(got) == 0 || len(got[len(got)-1].Payload) == 0 {
			t.Errorf("%s: not retained after the reload (%d messages)", topic, len(got))
		}
	}
}
