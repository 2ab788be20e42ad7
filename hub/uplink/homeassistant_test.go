package uplink_test

import (
	"slices"
	"strings"
	"testing"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub/uplink"
	"hubd/store"
)

// The parts of Home Assistant's MQTT discovery schema hubd relies on, as
// its documentation states them (integrations/light.mqtt JSON schema,
// switch.mqtt, sensor.mqtt, sensor device classes and their units, and
// the shared device and availability blocks).
var (
	haRequired = map[string][]string{
		"light":  {"command_topic", "schema", "supported_color_modes", "unique_id", "device"},
		"switch": {"command_topic", "state_topic", "unique_id", "device"},
		"sensor": {"state_topic", "unique_id", "device", "device_class", "unit_of_measurement"},
	}
	haKnown = strings.Fields(`name unique_id object_id device availability availability_mode state_topic
		command_topic qos schema brightness brightness_scale supported_color_modes color_temp_kelvin
		min_kelvin max_kelvin payload_on payload_off state_on state_off value_template device_class
		unit_of_measurement state_class`)
	haColorModes = []string{"onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"}
	haUnits      = map[string][]string{"power": {"W", "kW"}, "voltage": {"V", "mV"}, "current": {"A", "mA"}, "energy": {"Wh", "kWh", "MWh"}}
	haStates     = map[string][]string{"power": {"measurement"}, "voltage": {"measurement"}, "current": {"measurement"}, "energy": {"total", "total_increasing"}}
)

// checkHAConfig validates one discovery config of component against the
// documented schema.
func checkHAConfig(t *testing.T, topic, component string, c map[string]any) {
	t.Helper()
	for _, k := range haRequired[component] {
		if _, ok := c[k]; !ok {
			t.Errorf("%s: required %q missing", topic, k)
		}
	}
	for k := range c {
		if !slices.Contains(haKnown, k) {
			t.Errorf("%s: %q is not a documented discovery key", topic, k)
		}
	}
	dev, _ := c["device"].(map[string]any)
	if ids, _ := dev["identifiers"].([]any); len(ids) == 0 {
		t.Errorf("%s: device has no identifiers", topic)
	}
	avail, _ := c["availability"].([]any)
	for _, a := range avail {
		if a.(map[string]any)["topic"] == "" {
			t.Errorf("%s: availability entry without topic", topic)
		}
	}
	if m := c["availability_mode"]; m != nil && !slices.Contains([]string{"all", "any", "latest"}, m.(string)) {
		t.Errorf("%s: availability_mode %v", topic, m)
	}
	switch component {
	case "light":
		if c["schema"] != "json" {
			t.Errorf("%s: schema %v, want json", topic, c["schema"])
		}
		modes := c["supported_color_modes"].([]any)
		for _, m := range modes {
			if !slices.Contains(haColorModes, m.(string)) {
				t.Errorf("%s: color mode %v", topic, m)
			}
			if (m == "onoff" || m == "brightness") && len(modes) > 1 {
				t.Errorf("%s: %v must be the only color mode", topic, m)
			}
		}
	case "sensor":
		class := c["device_class"].(string)
		if !slices.Contains(haUnits[class], c["unit_of_measurement"].(string)) {
			t.Errorf("%s: unit %v is not one of %s's %v", topic, c["unit_of_measurement"], class, haUnits[class])
		}
		if sc, _ := c["state_class"].(string); !slices.Contains(haStates[class], sc) {
			t.Errorf("%s: state_class %q for %s", topic, sc, class)
		}
	}
}

func TestUplink_HomeAssistant_DiscoveryFollowsTheSchema(t *testing.T) {
	b := mosquittotest.Start(t)
	w := watch(t, b.URL(), "homeassistant/#", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, HomeAssistant: true, Commands: true}, store.QueueOptions{})
	light := decode(t, w.next(t, "homeassistant/light/gw1/lamp-1/config").Payload)
	checkHAConfig(t, "light", "light", light)
	if got := light["supported_color_modes"]; !slices.Equal(toStrings(got), []string{"hs", "color_temp"}) || light["brightness_scale"] != 100.0 || light["min_kelvin"] != 2700.0 {
		t.Errorf("light config = %v", light)
	}
	sw := decode(t, w.next(t, "homeassistant/switch/gw1/socket-1/config").Payload)
	checkHAConfig(t, "switch", "switch", sw)
	for _, field := range []string{"power", "voltage", "current", "energy"} {
		topic := "homeassistant/sensor/gw1/socket-1_" + field + "/config"
		checkHAConfig(t, topic, "sensor", decode(t, w.next(t, topic).Payload))
	}

	// Home Assistant drives the light through the command topic with its
	// own JSON (no id, no "at"), and reads the result from the state topic
	// with the keys its JSON schema expects.
	state := watch(t, b.URL(), light["state_topic"].(string), "", true)
	publish(t, b.URL(), light["command_topic"].(string), false, `{"state":"ON","brightness":30,"color":{"h":120,"s":80}}`)
	st := state.nextWhere(t, light["state_topic"].(string), func(v map[string]any) bool { return v["brightness"] == 30.0 })
	color, _ := st["color"].(map[string]any)
	if st["state"] != "ON" || color["h"] != 120.0 || color["s"] != 80.0 || st["color_mode"] != "hs" {
		t.Fatalf("state after HA's command = %v", st)
	}
	publish(t, b.URL(), sw["command_topic"].(string), false, sw["payload_off"].(string))
	waitFor(t, "socket-1 off", func() bool { _, s, _ := f.hub.Snapshot("socket-1"); return !s.State.On })
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
