package main

import (
	"os"
	"strings"
	"testing"

	"hubd/hub"
	"hubd/hub/web"
)

// exampleWith is the example config (secrets set) with entries added to
// its devices, after r101-lamp.
func exampleWith(t *testing.T, entries string) string {
	t.Helper()
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	s := withOwnSecrets(t, string(raw))
	const anchor = "    topic: r101-lamp\n"
	if !strings.Contains(s, anchor) {
		t.Fatal("example config changed: no r101-lamp topic")
	}
	return strings.Replace(s, anchor, anchor+entries, 1)
}

// addresses maps the config's device ids to their driver addresses.
func addresses(t *testing.T, c *Config) map[string]string {
	t.Helper()
	devs, err := c.HubDevices()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range devs {
		out[d.ID] = d.Address
	}
	return out
}

// lineOfText is the 1-based line of the first line containing sub.
func lineOfText(s, sub string) int {
	for i, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	return 0
}

func TestCheckConfig_ChannelsAndComponents(t *testing.T) {
	entry := func(id, driver, topic, extra string) string {
		return "  - id: " + id + "\n    name: x\n    kind: socket\n    driver: " + driver + "\n    topic: " + topic + "\n" + extra
	}
	for _, tc := range []struct {
		entries, at, want string
	}{
		{entry("r101-fan", "tasmota", "r101-lamp", "    channel: 9\n"), "channel: 9", "tasmota channel 9 is outside 1..8"},
		{entry("r101-fan", "tasmota", "r101-lamp", "    channel: -1\n"), "channel: -1", "outside 1..8"},
		{entry("r101-fan", "shelly", "sw25", "    channel: 5\n"), "channel: 5", "shelly channel 5 is outside 1..4"},
		{entry("r101-fan", "shelly2", "pro", "    channel: 2\n"), "channel: 2", "component: switch:1"},
		{entry("r101-fan", "zigbee2mqtt", "fan", "    channel: 2\n"), "channel: 2", "driver zigbee2mqtt has no channel"},
		{entry("r101-fan", "tasmota", "fan", "    component: cct:0\n"), "component: cct:0", "component is for shelly2 devices"},
		{entry("r101-fan", "shelly2", "pro", "    component: dimmer:0\n"), "component: dimmer:0", `component "dimmer:0" is not`},
		{entry("r101-fan", "shelly2", "pro", "    component: switch:0\n"), "component: switch:0", "leave it out"},
		// channel 1 is the topic itself: r101-lamp has it.
		{entry("r101-fan", "tasmota", "r101-lamp", "    channel: 1\n"), "id: r101-fan", `topic "r101-lamp" is already used by "r101-lamp"`},
		{entry("r101-fan", "tasmota", "t", "    channel: 2\n") + entry("r101-fan2", "tasmota", "t", "    channel: 2\n"), "id: r101-fan2", `is already used by "r101-fan"`},
	} {
		s := exampleWith(t, tc.entries)
		_, err := ParseConfig("hubd.yaml", []byte(s))
		es, ok := err.(ConfigErrors)
		if !ok {
			t.Errorf("%q: %v, want config errors", tc.at, err)
			continue
		}
		found := false
		for _, e := range es {
			if strings.Contains(e.Msg, tc.want) {
				found = true
				if line := lineOfText(s, tc.at); e.Line != line && e.Line != line+4 {
					t.Errorf("%q: error at line %d, want %d: %s", tc.at, e.Line, line, e.Msg)
				}
			}
		}
		if !found {
			t.Errorf("%q: %v, want %q", tc.at, err, tc.want)
		}
	}
}

// Outputs named by channel or component become the driver's addresses
// and share their device's MQTT account (the first entry's), as the
// embedded broker and `hubd mosquitto-acl` derive it.
func TestConfig_OutputsAddressesAndSharedAccount(t *testing.T) {
	s := exampleWith(t, "  - {id: r101-fan, name: Fan, kind: socket, driver: tasmota, topic: r101-lamp, channel: 3}\n"+
		"  - {id: sw-2, name: Relay 2, kind: socket, driver: shelly, topic: sw25, channel: 2}\n"+
		"  - {id: pro-cct, name: Strip, kind: light, driver: shelly2, topic: pro, component: \"cct:1\"}\n"+
		"  - {id: tas-1, name: Channel 1, kind: socket, driver: tasmota, topic: t4, channel: 1}\n")
	c, err := ParseConfig("hubd.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	addr := addresses(t, c)
	for id, want := range map[string]string{"r101-fan": "tasmota:r101-lamp:3", "sw-2": "shelly:sw25:1", "pro-cct": "shelly2:pro:cct:1", "tas-1": "tasmota:t4"} {
		if addr[id] != want {
			t.Errorf("%s at %q, want %q", id, addr[id], want)
		}
	}
	accts, err := c.mqttAccounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		if a.Name == "r101-fan" {
			t.Errorf("r101-fan has an account of its own: %+v", a)
		}
		if a.Name == "r101-lamp" && strings.Join(a.Devices, ",") != "r101-lamp,r101-fan" {
			t.Errorf("r101-lamp's account: %v", a.Devices)
		}
	}
}

// Adopting an output writes the entry that names it, and the effective
// configuration puts the device at the found address.
func TestAdoptedEntry_Outputs(t *testing.T) {
	base, err := ParseConfig("hubd.yaml", []byte(exampleWith(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	on := hub.Caps{Fields: hub.Fields(hub.FieldOn)}
	cases := []struct {
		f     hub.Found
		check func(d DeviceConfig) bool
	}{
		{hub.Found{Address: "tasmota:r101-lamp:2", Kind: hub.KindSocket, Caps: on},
			func(d DeviceConfig) bool { return d.Driver == "tasmota" && d.Topic == "r101-lamp" && d.Channel == 2 }},
		{hub.Found{Address: "shelly:sw25:1", Kind: hub.KindSocket, Caps: on},
			func(d DeviceConfig) bool { return d.Driver == "shelly" && d.Topic == "sw25" && d.Channel == 2 }},
		{hub.Found{Address: "shelly2:pro:cct:0", Kind: hub.KindLight, Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 3000, TempMaxK: 6000}},
			func(d DeviceConfig) bool {
				return d.Driver == "shelly2" && d.Topic == "pro" && d.Component == "cct:0" && d.Channel == 0 && d.TemperatureK != nil && d.TemperatureK.Min == 3000
			}},
		{hub.Found{Address: "shelly2:pro", Kind: hub.KindSocket, Caps: on},
			func(d DeviceConfig) bool { return d.Driver == "shelly2" && d.Topic == "pro" && d.Component == "" }},
	}
	var ad []AdoptedDevice
	for i, tc := range cases {
		tc.f.Driver = "mqtt"
		e, err := adoptedEntry(tc.f, web.AdoptRequest{ID: "new-" + string(rune('a'+i)), Name: "n", Room: "room-101"})
		if err != nil || !tc.check(e.DeviceConfig) {
			t.Fatalf("%s: %+v %v", tc.f.Address, e.DeviceConfig, err)
		}
		ad = append(ad, e)
	}
	c, err := withAdopted(base, ad)
	if err != nil {
		t.Fatal(err)
	}
	at := addresses(t, c)
	for i, tc := range cases {
		if id := "new-" + string(rune('a'+i)); at[id] != tc.f.Address {
			t.Errorf("%s at %q, want %q", id, at[id], tc.f.Address)
		}
	}
}
