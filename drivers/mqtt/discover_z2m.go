package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"

	"hubd/hub"
)

// z2mBridgeGroups is the topic, below the base, where Zigbee2MQTT keeps
// its (retained) list of groups.
const z2mBridgeGroups = "bridge/groups"

// z2mMaxEntries bounds the entries of one bridge/devices or bridge/groups
// message that are looked at; a Zigbee network holds a few hundred.
const z2mMaxEntries = 4096

// z2mDevice is one entry of bridge/devices that the hub can use.
type z2mDevice struct {
	ieee string
	f    hub.Found
}

// decodeZ2MDiscovery reads <base>/bridge/devices into the lamps and
// sockets it lists, with the capabilities their exposes declare. The
// coordinator, devices without a light or switch (sensors, remotes) and
// malformed entries are left out; the malformed ones are counted.
func decodeZ2MDiscovery(p []byte) (devs []z2mDevice, skipped int, err error) {
	entries, err := z2mArray("bridge/devices", p)
	if err != nil {
		return nil, 0, err
	}
	for _, raw := range entries {
		d, ok, err := z2mDiscoveryEntry(raw)
		switch {
		case err != nil:
			skipped++
		case ok:
			devs = append(devs, d)
		}
	}
	return devs, skipped, nil
}

func z2mArray(what string, p []byte) ([]json.RawMessage, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '[' {
		return nil, badf("%s: not a JSON array", what)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(p, &entries); err != nil {
		return nil, badf("%s: %v", what, err)
	}
	if len(entries) > z2mMaxEntries {
		return nil, badf("%s: %d entries, at most %d", what, len(entries), z2mMaxEntries)
	}
	return entries, nil
}

// z2mEntry is the part of a bridge/devices entry discovery reads.
type z2mEntry struct {
	IEEE       string `json:"ieee_address"`
	Name       string `json:"friendly_name"`
	Type       string `json:"type"`
	Definition *struct {
		Exposes []z2mExpose `json:"exposes"`
	} `json:"definition"`
}

// z2mExpose is one exposes entry: a generic numeric/binary/composite, or
// a specific "light" or "switch" with features of its own.
type z2mExpose struct {
	Type     string      `json:"type"`
	Name     string      `json:"name"`
	Property string      `json:"property"`
	Min      *float64    `json:"value_min"`
	Max      *float64    `json:"value_max"`
	Features []z2mExpose `json:"features"`
}

func z2mDiscoveryEntry(raw json.RawMessage) (z2mDevice, bool, error) {
	var e z2mEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return z2mDevice{}, false, badf("bridge/devices entry: %v", err)
	}
	if e.Type == "Coordinator" || e.Definition == nil || e.Name == "" {
		return z2mDevice{}, false, nil
	}
	if _, _, err := ParseAddress(DialectZ2M + ":" + e.Name); err != nil {
		return z2mDevice{}, false, err
	}
	kind, caps, err := z2mCaps(e.Definition.Exposes)
	if err != nil || kind == "" {
		return z2mDevice{}, false, err
	}
	_, in, err := z2mBridgeEntry(raw)
	if err != nil {
		return z2mDevice{}, false, err
	}
	f := hub.Found{Driver: DriverName, Address: DialectZ2M + ":" + e.Name, Kind: kind, Caps: caps, Name: e.Name, Info: in}
	return z2mDevice{ieee: e.IEEE, f: f}, true, nil
}

// z2mCaps reads exposes: a "light" is a lamp (state, brightness,
// color_temp with its range in mired, color_xy or color_hs), a "switch" a
// socket; numeric power, voltage, current and energy are its meter.
// Anything else (a sensor) has no kind.
func z2mCaps(exposes []z2mExpose) (hub.Kind, hub.Caps, error) {
	var kind hub.Kind
	var c hub.Caps
	for _, x := range exposes {
		switch x.Type {
		case "light", "switch":
			if kind != "" {
				continue // a second endpoint: the hub drives the first
			}
			kind = hub.KindSocket
			if x.Type == "light" {
				kind = hub.KindLight
			}
			if err := z2mFeatures(x.Features, &c); err != nil {
				return "", c, err
			}
		case "numeric":
			if f, ok := z2mMeters[x.Property]; ok {
				c.Fields = c.Fields.With(f)
			}
		}
	}
	if kind == "" {
		return "", hub.Caps{}, nil
	}
	return kind, c, nil
}

var z2mMeters = map[string]hub.Field{"power": hub.FieldPower, "voltage": hub.FieldVoltage, "current": hub.FieldCurrent, "energy": hub.FieldEnergy}

func z2mFeatures(fs []z2mExpose, c *hub.Caps) error {
	for _, f := range fs {
		switch f.Name {
		case "state":
			c.Fields = c.Fields.With(hub.FieldOn)
		case "brightness":
			c.Fields = c.Fields.With(hub.FieldBrightness)
		case "color_xy", "color_hs":
			c.Fields = c.Fields.With(hub.FieldColor)
		case "color_temp":
			if f.Min == nil || f.Max == nil || *f.Min < 50 || *f.Max > 1000 || *f.Min >= *f.Max {
				return badf("color_temp: mired range %v..%v", f.Min, f.Max)
			}
			c.Fields = c.Fields.With(hub.FieldTemperatureK)
			c.TempMinK, c.TempMaxK = miredToKelvin(*f.Max), miredToKelvin(*f.Min)
		}
	}
	return nil
}

// decodeZ2MGroups reads <base>/bridge/groups: a group whose members are
// all known lamps is a lamp with what every member can do (Zigbee2MQTT
// takes <base>/<group>/set like a device's). Groups with unknown members
// or sockets are left out.
func decodeZ2MGroups(p []byte, byIEEE map[string]hub.Found) ([]hub.Found, error) {
	entries, err := z2mArray("bridge/groups", p)
	if err != nil {
		return nil, err
	}
	var out []hub.Found
	for _, raw := range entries {
		var g struct {
			Name    string `json:"friendly_name"`
			Members []struct {
				IEEE string `json:"ieee_address"`
			} `json:"members"`
		}
		if err := json.Unmarshal(raw, &g); err != nil || g.Name == "" || len(g.Members) == 0 {
			continue
		}
		if _, _, err := ParseAddress(DialectZ2M + ":" + g.Name); err != nil {
			continue
		}
		caps, ok := z2mGroupCaps(g.Members, byIEEE)
		if !ok {
			continue
		}
		out = append(out, hub.Found{Driver: DriverName, Address: DialectZ2M + ":" + g.Name, Kind: hub.KindLight,
			Caps: caps, Name: g.Name, Info: hub.Info{Model: fmt.Sprintf("Zigbee2MQTT group of %d", len(g.Members))}})
	}
	return out, nil
}

func z2mGroupCaps(members []struct {
	IEEE string `json:"ieee_address"`
}, byIEEE map[string]hub.Found) (hub.Caps, bool) {
	var c hub.Caps
	for i, m := range members {
		f, ok := byIEEE[m.IEEE]
		if !ok || f.Kind != hub.KindLight {
			return c, false
		}
		if i == 0 {
			c = f.Caps
			continue
		}
		c.Fields = c.Fields.Intersect(f.Caps.Fields)
		c.TempMinK, c.TempMaxK = max(c.TempMinK, f.Caps.TempMinK), min(c.TempMaxK, f.Caps.TempMaxK)
	}
	if c.Fields.Has(hub.FieldTemperatureK) && c.TempMinK >= c.TempMaxK {
		c.Fields = c.Fields.Without(hub.FieldTemperatureK)
	}
	if !c.Fields.Has(hub.FieldTemperatureK) {
		c.TempMinK, c.TempMaxK = 0, 0
	}
	return c, true
}
