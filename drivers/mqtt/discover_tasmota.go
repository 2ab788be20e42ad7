package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"hubd/hub"
)

// Tasmota's native discovery (SetOption19 0, the default since 9.2): every
// device keeps two retained messages under tasmota/discovery/<mac>/,
// "config" (what it is: topic, FullTopic, relays, light type, friendly
// names) and "sensors" (its sensor readings, ENERGY for a metering plug).
// An empty retained message clears them when the device is reset.
const (
	tasmotaDiscoveryPrefix = "tasmota/discovery/"
	tasmotaDiscoveryConfig = "config"
	tasmotaDiscoverySensor = "sensors"
)

// maxTasmotaRelays is how many POWERn channels a Tasmota device has at most.
const maxTasmotaRelays = 8

// Tasmota relay types in the "rl" array of a discovery config.
const (
	tasmotaRelayNone  = 0
	tasmotaRelayPlain = 1
	tasmotaRelayLight = 2
)

// tasmotaConfig is what a discovery config says, checked.
type tasmotaConfig struct {
	mac, topic, fullTopic string
	names                 []string // friendly names per channel, may be shorter
	relays                []int    // relay types, at most maxTasmotaRelays
	light                 int      // light subtype 0 none, 1 dimmer, 2 CT, 3 RGB, 4 RGBW, 5 RGBCW
	info                  hub.Info
}

// decodeTasmotaDiscovery reads tasmota/discovery/<mac>/config. An empty
// payload (the device withdrew) returns a zero config and no error.
func decodeTasmotaDiscovery(p []byte) (tasmotaConfig, error) {
	var c tasmotaConfig
	if len(bytes.TrimSpace(p)) == 0 {
		return c, nil
	}
	m, err := object(p)
	if err != nil {
		return c, fmt.Errorf("tasmota discovery: %w", err)
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"mac", &c.mac}, {"t", &c.topic}, {"ft", &c.fullTopic}} {
		raw, ok := m.get(k.key)
		if !ok {
			return c, badf("tasmota discovery: no %q", k.key)
		}
		if *k.dst, err = infoText(k.key, raw); err != nil {
			return c, fmt.Errorf("tasmota discovery: %w", err)
		}
	}
	if _, _, err := ParseAddress(DialectTasmota + ":" + c.topic); err != nil {
		return c, badf("tasmota discovery: topic %.60q can not be used: %v", c.topic, err)
	}
	if err := infoFields(m, infoKey{"md", &c.info.Model}, infoKey{"sw", &c.info.Firmware}); err != nil {
		return c, fmt.Errorf("tasmota discovery: %w", err)
	}
	c.info.Manufacturer = "Tasmota"
	if raw, ok := m.get("rl"); ok && !isNull(raw) {
		if c.relays, err = smallInts("rl", raw, maxTasmotaRelays, 0, 9); err != nil {
			return c, fmt.Errorf("tasmota discovery: %w", err)
		}
	}
	if raw, ok := m.get("lt_st"); ok && !isNull(raw) {
		if c.light, err = intIn("lt_st", raw, 0, 7); err != nil {
			return c, fmt.Errorf("tasmota discovery: %w", err)
		}
	}
	if raw, ok := m.get("fn"); ok && !isNull(raw) {
		if c.names, err = names("fn", raw, maxTasmotaRelays); err != nil {
			return c, fmt.Errorf("tasmota discovery: %w", err)
		}
	}
	return c, nil
}

// tasmotaMeters reads tasmota/discovery/<mac>/sensors: the metering
// fields its ENERGY object has ({"sn":{"ENERGY":{"Power":..}},"ver":1}).
func tasmotaMeters(p []byte) (hub.FieldSet, error) {
	var msg struct {
		SN map[string]json.RawMessage `json:"sn"`
	}
	if err := json.Unmarshal(p, &msg); err != nil {
		return 0, badf("tasmota sensors: %v", err)
	}
	raw, ok := msg.SN["ENERGY"]
	if !ok || isNull(raw) {
		return 0, nil
	}
	e, err := object(raw)
	if err != nil {
		return 0, fmt.Errorf("tasmota sensors: ENERGY: %w", err)
	}
	var fs hub.FieldSet
	for key, f := range map[string]hub.Field{"Power": hub.FieldPower, "Voltage": hub.FieldVoltage, "Current": hub.FieldCurrent, "Total": hub.FieldEnergy} {
		if _, ok := e.get(key); ok {
			fs = fs.With(f)
		}
	}
	return fs, nil
}

// tasmotaLightCaps are the fields of each Tasmota light subtype and
// (with a color temperature, Tasmota's CT range is 153..500 mired).
var tasmotaLightCaps = [...]hub.FieldSet{
	0: 0,
	1: hub.Fields(hub.FieldOn, hub.FieldBrightness),
	2: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
	3: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor),
	4: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor),
	5: hub.LightFields,
	6: hub.LightFields,
	7: hub.LightFields,
}

// found lists the devices a Tasmota discovery config describes: its light,
// if it has one, and one socket per plain relay. Each is addressed by its
// relay, as Tasmota numbers them: the first (POWER, or POWER1) is the
// topic itself, POWER<n> is "tasmota:<topic>:<n>" (see Address). A light
// without a relay of type light is the first.
func (c tasmotaConfig) found(meters hub.FieldSet, fullTopic string) []hub.Found {
	var out []hub.Found
	unsupported := ""
	if ft := c.fullTopic; ft != fullTopic && ft+"/" != fullTopic {
		unsupported = fmt.Sprintf("its FullTopic %q is not the hub's %q (mqtt.tasmota_full_topic)", c.fullTopic, fullTopic)
	}
	name := func(i int) string {
		if i < len(c.names) {
			return c.names[i]
		}
		return ""
	}
	addr := func(i int) string {
		a := Address{Dialect: DialectTasmota, Topic: c.topic}
		if i > 0 {
			a.Channel = i + 1
		}
		return a.String()
	}
	if c.light > 0 {
		i := max(slices.Index(c.relays, tasmotaRelayLight), 0)
		caps := hub.Caps{Fields: tasmotaLightCaps[c.light]}
		if caps.Fields.Has(hub.FieldTemperatureK) {
			caps.TempMinK, caps.TempMaxK = miredToKelvin(tasmotaCTMax), miredToKelvin(tasmotaCTMin)
		}
		out = append(out, hub.Found{Driver: DriverName, Address: addr(i), Kind: hub.KindLight, Caps: caps,
			Name: name(i), Info: c.info, Unsupported: unsupported})
	}
	for i, rt := range c.relays {
		if rt != tasmotaRelayPlain {
			continue
		}
		f := hub.Found{Driver: DriverName, Address: addr(i), Kind: hub.KindSocket,
			Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn)}, Name: name(i), Info: c.info, Unsupported: unsupported}
		if i == 0 {
			f.Caps.Fields |= meters // the hub reads ENERGY with the first relay
		}
		out = append(out, f)
	}
	return out
}

// smallInts decodes a JSON array of at most max integers in lo..hi.
func smallInts(key string, raw json.RawMessage, max int, lo, hi float64) ([]int, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badf("%s: not an array", key)
	}
	if len(items) > 4*max {
		return nil, badf("%s: %d entries", key, len(items))
	}
	out := make([]int, 0, len(items))
	for i, it := range items {
		if i >= max {
			break // Tasmota pads to its compile-time maximum
		}
		v, err := intIn(key, it, lo, hi)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// names decodes a JSON array of short strings or nulls.
func names(key string, raw json.RawMessage, max int) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badf("%s: not an array", key)
	}
	if len(items) > 4*max {
		return nil, badf("%s: %d entries", key, len(items))
	}
	out := make([]string, 0, min(len(items), max))
	for i, it := range items {
		if i >= max {
			break
		}
		s, err := infoText(key, it)
		if err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}
