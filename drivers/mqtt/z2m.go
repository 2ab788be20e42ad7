package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"hubd/hub"
)

// DefaultZ2MBase is Zigbee2MQTT's default base topic.
const DefaultZ2MBase = "zigbee2mqtt"

// decodeZ2MState decodes the state JSON Zigbee2MQTT publishes on
// <base>/<friendly name>. Members that are null or unknown are skipped.
func decodeZ2MState(p []byte) (update, error) {
	var u update
	m, err := object(p)
	if err != nil {
		return u, err
	}
	if raw, ok := m.get("state"); ok && !isNull(raw) {
		s, err := text("state", raw) // only compared: no copy
		if err != nil {
			return u, err
		}
		on, err := onOff(string(s))
		if err != nil {
			return u, fmt.Errorf("state: %w", err)
		}
		u.setOn(on)
	}
	bri := -1
	if raw, ok := m.get("brightness"); ok && !isNull(raw) {
		// Zigbee levels run 0..254; some devices say 255.
		b, err := intIn("brightness", raw, 0, 255)
		if err != nil {
			return u, err
		}
		bri = min(int(math.Round(float64(b)*100/254)), 100)
		u.setBrightness(bri)
	}
	if raw, ok := m.get("color_temp"); ok && !isNull(raw) {
		ct, err := intIn("color_temp", raw, 50, 1000)
		if err != nil {
			return u, err
		}
		u.setKelvin(miredToKelvin(float64(ct)))
	}
	if raw, ok := m.get("color"); ok && !isNull(raw) {
		c, ok, err := z2mColor(raw)
		if err != nil {
			return u, err
		}
		if ok {
			c.V = 100
			if bri >= 0 {
				c.V = bri
			}
			u.setColor(c)
		}
	}
	if raw, ok := m.get("color_mode"); ok && !isNull(raw) {
		mode, err := text("color_mode", raw)
		if err != nil {
			return u, err
		}
		switch string(mode) {
		case "color_temp":
			u.State.Mode = hub.ColorModeTemperature
		case "hs", "xy":
			u.State.Mode = hub.ColorModeHSV
		}
	}
	for _, x := range []struct {
		key string
		f   hub.Field
	}{
		{"power", hub.FieldPower},
		{"voltage", hub.FieldVoltage},
		{"current", hub.FieldCurrent},
		{"energy", hub.FieldEnergy},
	} {
		if raw, ok := m.get(x.key); ok && !isNull(raw) {
			v, err := number(x.key, raw)
			if err != nil {
				return u, err
			}
			u.setFloat(x.f, v)
		}
	}
	if err := z2mLink(&u, m); err != nil {
		return u, err
	}
	if u.empty() {
		return u, ErrIgnored
	}
	return u, nil
}

// z2mColor reads {"hue","saturation"} or {"x","y"}; ok is false when
// neither is present.
func z2mColor(raw json.RawMessage) (c hub.HSV, ok bool, err error) {
	m, err := object(raw)
	if err != nil {
		return c, false, fmt.Errorf("color: %w", err)
	}
	hr, hok := m.get("hue")
	sr, sok := m.get("saturation")
	if hok && sok && !isNull(hr) && !isNull(sr) {
		h, err := intIn("color.hue", hr, 0, 360)
		if err != nil {
			return c, false, err
		}
		s, err := intIn("color.saturation", sr, 0, 100)
		if err != nil {
			return c, false, err
		}
		return hub.HSV{H: h % 360, S: s}, true, nil
	}
	xr, xok := m.get("x")
	yr, yok := m.get("y")
	if xok && yok && !isNull(xr) && !isNull(yr) {
		x, err := number("color.x", xr)
		if err != nil {
			return c, false, err
		}
		y, err := number("color.y", yr)
		if err != nil {
			return c, false, err
		}
		if x < 0 || x > 1 || y <= 0 || y > 1 {
			return c, false, badf("color: x,y %v,%v outside the CIE diagram", x, y)
		}
		return xyToHSV(x, y), true, nil
	}
	return c, false, nil
}

// xyToHSV converts CIE 1931 chromaticity (at full luminance) to hue and
// saturation through linear sRGB.
func xyToHSV(x, y float64) hub.HSV {
	z := 1 - x - y
	X, Y, Z := x/y, 1.0, z/y
	r := 3.2406*X - 1.5372*Y - 0.4986*Z
	g := -0.9689*X + 1.8758*Y + 0.0415*Z
	b := 0.0557*X - 0.2040*Y + 1.0570*Z
	r, g, b = max(r, 0), max(g, 0), max(b, 0)
	hi := max(r, g, b)
	if hi <= 0 {
		return hub.HSV{V: 100}
	}
	c := hub.HSVFromRGB(r/hi, g/hi, b/hi)
	c.V = 100
	return c
}

// decodeZ2MAvailability accepts the 1.x plain form ("online") and the 2.x
// JSON form ({"state":"online"}).
func decodeZ2MAvailability(p []byte) (update, error) {
	var u update
	s := strings.TrimSpace(string(p))
	if strings.HasPrefix(s, "{") {
		m, err := object(p)
		if err != nil {
			return u, fmt.Errorf("availability: %w", err)
		}
		raw, ok := m.get("state")
		if !ok {
			return u, badf("availability: no state")
		}
		if s, err = str("state", raw); err != nil {
			return u, fmt.Errorf("availability: %w", err)
		}
	}
	switch strings.ToLower(s) {
	case "online":
		u.Avail = hub.AvailOnline
	case "offline":
		u.Avail = hub.AvailOffline
	default:
		return u, badf("availability: want online or offline, got %.40q", s)
	}
	return u, nil
}

// z2mSet encodes cmd as the JSON for <base>/<name>/set.
func z2mSet(cmd hub.Command) string {
	m := map[string]any{}
	s := &cmd.Set
	if cmd.Identify {
		m["effect"] = "blink"
	}
	if s.Set.Has(hub.FieldOn) {
		m["state"] = map[bool]string{true: "ON", false: "OFF"}[s.On]
	}
	if s.Set.Has(hub.FieldColor) {
		m["color"] = map[string]int{"hue": s.Color.H, "saturation": s.Color.S}
		if !s.Set.Has(hub.FieldBrightness) {
			m["brightness"] = percentToZigbee(s.Color.V)
		}
	}
	if s.Set.Has(hub.FieldBrightness) {
		m["brightness"] = percentToZigbee(s.Brightness)
	}
	if s.Set.Has(hub.FieldTemperatureK) && s.TemperatureK > 0 {
		m["color_temp"] = kelvinToMired(s.TemperatureK, 50, 1000)
	}
	b, _ := json.Marshal(m) // a map of plain values always marshals
	return string(b)
}

func percentToZigbee(p int) int { return int(math.Round(float64(min(max(p, 0), 100)) * 254 / 100)) }

// z2mGet asks for the values of the fields the device has.
func z2mGet(fields hub.FieldSet) string {
	m := map[string]string{"state": ""}
	if fields.Has(hub.FieldBrightness) {
		m["brightness"] = ""
	}
	if fields.Has(hub.FieldTemperatureK) {
		m["color_temp"] = ""
	}
	if fields.Has(hub.FieldColor) {
		m["color"] = ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// z2mBridgeDevices is the topic, below the base, where Zigbee2MQTT keeps
// its (retained) list of paired devices.
const z2mBridgeDevices = "bridge/devices"

// decodeZ2MBridgeDevices reads the list on <base>/bridge/devices into what
// each device is, by friendly name: definition.vendor and
// definition.model (what Zigbee2MQTT recognised it as), falling back on
// the device's own manufacturer and model_id for unsupported devices, and
// software_build_id as its firmware. The payload must be a JSON array; an
// entry that is malformed is skipped and counted, so one odd device does
// not hide the others. Entries without a name or any of these members
// (the coordinator) are left out.
func decodeZ2MBridgeDevices(p []byte) (infos map[string]hub.Info, skipped int, err error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '[' {
		return nil, 0, badf("bridge/devices: not a JSON array")
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(p, &entries); err != nil {
		return nil, 0, badf("bridge/devices: %v", err)
	}
	infos = make(map[string]hub.Info, len(entries))
	for _, raw := range entries {
		name, in, err := z2mBridgeEntry(raw)
		switch {
		case err != nil:
			skipped++
		case name != "" && in != (hub.Info{}):
			infos[name] = in
		}
	}
	return infos, skipped, nil
}

func z2mBridgeEntry(raw json.RawMessage) (string, hub.Info, error) {
	var in hub.Info
	m, err := object(raw)
	if err != nil {
		return "", in, err
	}
	var name string
	if raw, ok := m.get("friendly_name"); ok && !isNull(raw) {
		if name, err = str("friendly_name", raw); err != nil {
			return "", in, err
		}
	}
	if def, ok := m.get("definition"); ok && !isNull(def) {
		dm, err := object(def)
		if err != nil {
			return "", in, fmt.Errorf("definition: %w", err)
		}
		if err := infoFields(dm, infoKey{"vendor", &in.Manufacturer}, infoKey{"model", &in.Model}); err != nil {
			return "", in, fmt.Errorf("definition: %w", err)
		}
	}
	err = infoFields(m, infoKey{"manufacturer", &in.Manufacturer}, infoKey{"model_id", &in.Model}, infoKey{"software_build_id", &in.Firmware})
	return name, in, err
}
