// Package mqttsim emulates MQTT lamps and plugs that speak the real topic
// formats of Tasmota, Zigbee2MQTT and Shelly (Gen1 and Gen2+): availability
// and last wills, periodic telemetry, command replies. Each device has its
// own broker connection, like the real thing, so its will fires when it
// drops. It is used by tests, benchmarks, `devsim mqtt` and `hubd demo`.
package mqttsim

import (
	"fmt"

	"hubd/hub"
)

// Dialects, as in drivers/mqtt addresses.
const (
	Tasmota = "tasmota"
	Z2M     = "z2m"
	Shelly1 = "shelly"
	Shelly2 = "shelly2"
)

// Spec describes one emulated device.
type Spec struct {
	ID      string   // hub device id (used by Device)
	Dialect string   // Tasmota, Z2M, Shelly1, Shelly2
	Name    string   // Tasmota topic, z2m friendly name, Shelly id or Gen2 prefix
	Kind    hub.Kind // light or socket; Shelly devices are sockets
	// Z2MLegacy makes a z2m device announce availability in the 1.x plain
	// form ("online") instead of 2.x JSON.
	Z2MLegacy bool
	// White makes a light tunable white only: color temperature, no color
	// (a Zigbee CT bulb).
	White bool
	// Relays is the number of relays of a Tasmota or Shelly socket (a
	// Tasmota announces them in its discovery config); 0 or 1: one.
	// Address and Device are the first's; see ChannelAddress.
	Relays int
}

// Address is the device's drivers/mqtt address: its first output (a
// Shelly Gen2 light's rgbw:0 or, White, cct:0).
func (s Spec) Address() string {
	if s.Dialect == Shelly2 && s.Kind == hub.KindLight {
		return s.Dialect + ":" + s.Name + ":" + onOff(s.White, "cct:0", "rgbw:0")
	}
	return s.Dialect + ":" + s.Name
}

// ChannelAddress is the drivers/mqtt address of relay ch (1-based) of a
// multi-relay socket: POWER<ch> of a Tasmota, relay/<ch-1> of a Shelly
// Gen1, switch:<ch-1> of a Shelly Gen2.
func (s Spec) ChannelAddress(ch int) string {
	switch {
	case ch <= 1:
		return s.Address()
	case s.Dialect == Shelly1:
		return fmt.Sprintf("%s:%d", s.Address(), ch-1)
	case s.Dialect == Shelly2:
		return fmt.Sprintf("%s:switch:%d", s.Address(), ch-1)
	}
	return fmt.Sprintf("%s:%d", s.Address(), ch)
}

// Fields is what the emulated device supports.
func (s Spec) Fields() hub.FieldSet {
	switch {
	case s.Kind == hub.KindLight && s.White:
		return hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK)
	case s.Kind == hub.KindLight && s.Dialect == Shelly2:
		return hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor)
	case s.Kind == hub.KindLight && s.Dialect != Shelly1:
		return hub.LightFields
	case s.Dialect == Shelly1:
		return hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy)
	default:
		return hub.Fields(hub.FieldOn).Union(hub.MeterFields)
	}
}

// Device is the hub's definition of the emulated device.
func (s Spec) Device() hub.Device {
	d := hub.Device{
		ID:      s.ID,
		Name:    s.ID,
		Kind:    s.Kind,
		Driver:  "mqtt",
		Address: s.Address(),
		Fields:  s.Fields(),
		Info:    hub.Info{Manufacturer: s.Dialect, Model: "emulated " + string(s.Kind)},
	}
	if d.Fields.Has(hub.FieldTemperatureK) {
		d.TempMinK, d.TempMaxK = 2000, 6500
		if s.Dialect == Shelly2 {
			d.TempMinK, d.TempMaxK = CCTMinK, CCTMaxK
		}
	}
	return d
}

// Demo returns the demo's MQTT devices: lamp-2 (Tasmota topic
// demo-lamp-2), socket-2 (Shelly Gen1 plug shellyplug-s-demo2) and lamp-3
// (Zigbee2MQTT friendly name demo-lamp-3).
func Demo() []Spec {
	return []Spec{
		{ID: "lamp-2", Dialect: Tasmota, Name: "demo-lamp-2", Kind: hub.KindLight},
		{ID: "socket-2", Dialect: Shelly1, Name: "shellyplug-s-demo2", Kind: hub.KindSocket},
		{ID: "lamp-3", Dialect: Z2M, Name: "demo-lamp-3", Kind: hub.KindLight},
	}
}

// DemoNew returns the devices `hubd demo` runs but does not configure, so
// that they show as new: one of each MQTT family, as real ones announce
// themselves (a Tasmota 4-relay switch, a Zigbee2MQTT CT bulb, a Shelly
// Gen1 plug and 2-relay switch, a Shelly Gen2 plug, a Gen2 RGBW light and
// a Gen2 tunable-white (cct) light).
func DemoNew() []Spec {
	return []Spec{
		{ID: "new-relay4", Dialect: Tasmota, Name: "demo-relay4", Kind: hub.KindSocket, Relays: 4},
		{ID: "new-ct", Dialect: Z2M, Name: "demo-ct-bulb", Kind: hub.KindLight, White: true},
		{ID: "new-plug1", Dialect: Shelly1, Name: "shellyplug-s-demo9", Kind: hub.KindSocket},
		{ID: "new-relay2", Dialect: Shelly1, Name: "shellyswitch25-demo9", Kind: hub.KindSocket, Relays: 2},
		{ID: "new-plug2", Dialect: Shelly2, Name: "shellyplusplugs-demo9", Kind: hub.KindSocket},
		{ID: "new-rgbw", Dialect: Shelly2, Name: "shellyplusrgbwpm-demo9", Kind: hub.KindLight},
		{ID: "new-cct", Dialect: Shelly2, Name: "shellyprorgbwwpm-demo9", Kind: hub.KindLight, White: true},
	}
}

// Mass returns n devices for load tests, cycling through every dialect
// and kind: sim-0000 a Tasmota lamp, sim-0001 a Tasmota plug, ...
func Mass(n int) []Spec {
	kinds := []Spec{
		{Dialect: Tasmota, Kind: hub.KindLight},
		{Dialect: Tasmota, Kind: hub.KindSocket},
		{Dialect: Z2M, Kind: hub.KindLight},
		{Dialect: Z2M, Kind: hub.KindSocket, Z2MLegacy: true},
		{Dialect: Shelly1, Kind: hub.KindSocket},
		{Dialect: Shelly2, Kind: hub.KindSocket},
	}
	out := make([]Spec, n)
	for i := range out {
		s := kinds[i%len(kinds)]
		s.ID = fmt.Sprintf("sim-%04d", i)
		s.Name = fmt.Sprintf("sim-%s-%04d", s.Dialect, i)
		if s.Dialect == Z2M {
			s.Name = fmt.Sprintf("sim/floor%d/%s-%04d", i%3, s.Kind, i)
		}
		out[i] = s
	}
	return out
}
