package mqtt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"hubd/hub"
)

// DefaultTasmotaFullTopic is Tasmota's factory FullTopic.
const DefaultTasmotaFullTopic = "%prefix%/%topic%/"

// Tasmota CT limits in mireds (6536 K .. 2000 K).
const (
	tasmotaCTMin = 153
	tasmotaCTMax = 500
)

// FullTopic is a parsed Tasmota FullTopic pattern such as
// "%prefix%/%topic%/" or "tasmota/%topic%/%prefix%/".
type FullTopic struct {
	pattern string
}

// ParseFullTopic checks a FullTopic pattern: it must contain %prefix% and
// %topic% once each, as whole topic levels, and no MQTT wildcards.
func ParseFullTopic(p string) (FullTopic, error) {
	if p == "" {
		p = DefaultTasmotaFullTopic
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if strings.ContainsAny(p, "+#") {
		return FullTopic{}, fmt.Errorf("%w: FullTopic %q contains a wildcard", ErrBadOptions, p)
	}
	var np, nt int
	for _, lvl := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch {
		case lvl == "%prefix%":
			np++
		case lvl == "%topic%":
			nt++
		case lvl == "" || strings.Contains(lvl, "%"):
			return FullTopic{}, fmt.Errorf("%w: FullTopic %q: level %q is not supported", ErrBadOptions, p, lvl)
		}
	}
	if np != 1 || nt != 1 {
		return FullTopic{}, fmt.Errorf("%w: FullTopic %q needs %%prefix%% and %%topic%% once each", ErrBadOptions, p)
	}
	return FullTopic{pattern: p}, nil
}

// Topic expands the pattern for prefix (cmnd, stat, tele) and a device's
// topic. The result ends with '/': append the command or reply name.
func (f FullTopic) Topic(prefix, topic string) string {
	p := f.pattern
	if p == "" {
		p = DefaultTasmotaFullTopic
	}
	return strings.Replace(strings.Replace(p, "%prefix%", prefix, 1), "%topic%", topic, 1)
}

// decodeTasmota decodes a message a Tasmota device published under its
// stat/ or tele/ topic; name is the last topic level (RESULT, STATE,
// SENSOR, POWER, POWER1, LWT, STATUS8, ...). ch is the relay the hub
// device is (see Address.Channel): its POWER<ch> is read, the others'
// are not; the meter (ENERGY) is the first relay's.
func decodeTasmota(name string, p []byte, ch int) (update, error) {
	var u update
	switch up := strings.ToUpper(name); {
	case up == "LWT":
		switch strings.ToLower(strings.TrimSpace(string(p))) {
		case "online":
			u.Avail = hub.AvailOnline
		case "offline":
			u.Avail = hub.AvailOffline
		default:
			return u, badf("LWT: want Online or Offline, got %.40q", p)
		}
		return u, nil
	case slices.Contains(tasmotaPowerKeys(ch), up):
		on, err := onOff(string(p))
		if err != nil {
			return u, fmt.Errorf("%s: %w", name, err)
		}
		u.setOn(on)
		return u, nil
	case strings.HasPrefix(up, "POWER"):
		return u, ErrIgnored // another relay of a multi-relay device
	case up == "INFO1":
		return decodeTasmotaInfo1(p)
	case up == "RESULT" || up == "STATE" || up == "SENSOR" || strings.HasPrefix(up, "STATUS"):
	default:
		return u, ErrIgnored // INFO2, UPTIME, MARGINS, ...
	}
	m, err := object(p)
	if err != nil {
		return u, fmt.Errorf("%s: %w", name, err)
	}
	if err := tasmotaObject(&u, m, ch); err != nil {
		return u, fmt.Errorf("%s: %w", name, err)
	}
	if u.empty() {
		return u, ErrIgnored
	}
	return u, nil
}

// decodeTasmotaInfo1 decodes tele/<t>/INFO1, sent after every connect:
// {"Info1":{"Module":"Sonoff Basic","Version":"13.2.0(tasmota)",...}}, or
// the same members unwrapped from older firmware (which always carries a
// Version).
func decodeTasmotaInfo1(p []byte) (update, error) {
	var u update
	m, err := object(p)
	if err != nil {
		return u, fmt.Errorf("INFO1: %w", err)
	}
	if raw, ok := m.get("Info1"); ok {
		if m, err = object(raw); err != nil {
			return u, fmt.Errorf("INFO1: Info1: %w", err)
		}
	} else if _, ok := m.get("Version"); !ok {
		return u, ErrIgnored
	}
	var in hub.Info
	if err := infoFields(m, infoKey{"Module", &in.Model}, infoKey{"Version", &in.Firmware}); err != nil {
		return u, fmt.Errorf("INFO1: %w", err)
	}
	if in == (hub.Info{}) {
		return u, ErrIgnored
	}
	u.Info = &in
	return u, nil
}

// tasmotaPowerKeys are the keys that carry relay ch's state: a
// one-relay device says POWER, a multi-relay one POWER1, POWER2, ...
func tasmotaPowerKeys(ch int) []string {
	if ch < len(tasmotaPowerKeyTable) {
		return tasmotaPowerKeyTable[max(ch, 0)]
	}
	return []string{"POWER" + strconv.Itoa(ch)}
}

// tasmotaPowerKeyTable is tasmotaPowerKeys for every channel an address
// can name, made once: every STATE a device sends asks for them. The
// slices are shared, only read.
var tasmotaPowerKeyTable = func() [][]string {
	t := make([][]string, MaxTasmotaChannel+1)
	t[0] = []string{"POWER", "POWER1"}
	t[1] = t[0]
	for ch := 2; ch < len(t); ch++ {
		t[ch] = []string{"POWER" + strconv.Itoa(ch)}
	}
	return t
}()

// tasmotaPower is the command that switches relay ch.
func tasmotaPower(ch int) string {
	if ch <= 1 {
		return "POWER"
	}
	return "POWER" + strconv.Itoa(ch)
}

func tasmotaObject(u *update, m jsonObject, ch int) error {
	// STATUS2 (the reply to "STATUS 2") says which firmware runs on what.
	if raw, ok := m.get("StatusFWR"); ok && !isNull(raw) {
		fwr, err := object(raw)
		if err != nil {
			return fmt.Errorf("StatusFWR: %w", err)
		}
		var in hub.Info
		if err := infoFields(fwr, infoKey{"Version", &in.Firmware}, infoKey{"Hardware", &in.Hardware}); err != nil {
			return fmt.Errorf("StatusFWR: %w", err)
		}
		if in != (hub.Info{}) {
			u.Info = &in
		}
	}
	// Status replies wrap the same objects: STATUS8/10 StatusSNS is a SENSOR,
	// STATUS11 StatusSTS is a STATE.
	for _, k := range []string{"StatusSNS", "StatusSTS"} {
		if raw, ok := m.get(k); ok {
			inner, err := object(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if err := tasmotaObject(u, inner, ch); err != nil {
				return err
			}
		}
	}
	for _, k := range tasmotaPowerKeys(ch) {
		if raw, ok := m.get(k); ok && !isNull(raw) {
			s, err := text(k, raw) // only compared: no copy
			if err != nil {
				return err
			}
			on, err := onOff(string(s))
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			u.setOn(on)
			break
		}
	}
	if raw, ok := m.get("Dimmer"); ok && !isNull(raw) {
		d, err := intIn("Dimmer", raw, 0, 100)
		if err != nil {
			return err
		}
		u.setBrightness(d)
	}
	hasHSB, hasCT := false, false
	if raw, ok := m.get("HSBColor"); ok && !isNull(raw) {
		s, err := str("HSBColor", raw)
		if err != nil {
			return err
		}
		c, err := parseHSB(s)
		if err != nil {
			return err
		}
		u.setColor(c)
		hasHSB = true
	}
	if raw, ok := m.get("CT"); ok && !isNull(raw) {
		ct, err := intIn("CT", raw, tasmotaCTMin, tasmotaCTMax)
		if err != nil {
			return err
		}
		u.setKelvin(miredToKelvin(float64(ct)))
		hasCT = true
	}
	switch {
	case hasHSB && !hasCT:
		u.State.Mode = hub.ColorModeHSV
	case hasCT && !hasHSB:
		u.State.Mode = hub.ColorModeTemperature
	case hasCT && hasHSB:
		// An RGBCCT lamp reports both; its Color channels tell which is lit:
		// "RRGGBBCCWW" with RGB dark means white (CT) mode.
		if raw, ok := m.get("Color"); ok {
			if s, err := str("Color", raw); err == nil && len(s) == 10 {
				if s[:6] == "000000" {
					u.State.Mode = hub.ColorModeTemperature
				} else if s[6:] == "0000" {
					u.State.Mode = hub.ColorModeHSV
				}
			}
		}
	}
	if raw, ok := m.get("ENERGY"); ok && !isNull(raw) && ch <= 1 {
		e, err := object(raw)
		if err != nil {
			return fmt.Errorf("ENERGY: %w", err)
		}
		// Multi-channel meters send arrays: power, current and energy add
		// up over channels, voltage is the first channel's.
		for _, x := range []struct {
			key string
			f   hub.Field
			sum bool
		}{
			{"Power", hub.FieldPower, true},
			{"Voltage", hub.FieldVoltage, false},
			{"Current", hub.FieldCurrent, true},
			{"Total", hub.FieldEnergy, true},
		} {
			raw, ok := e.get(x.key)
			if !ok || isNull(raw) {
				continue
			}
			v, err := numberOrArray("ENERGY", x.key, raw, x.sum)
			if err != nil {
				return err
			}
			u.setFloat(x.f, v)
		}
	}
	return rssiIn(u, m, "Wifi", "Signal")
}

// numberOrArray reads member key of the object obj, a number or an array
// of them (summed, or the first).
func numberOrArray(obj, key string, raw json.RawMessage, sum bool) (float64, error) {
	if len(raw) > 0 && raw[0] == '[' {
		arr, err := parseArray(raw)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", dotted(obj, key), err)
		}
		var buf [tasmotaMaxMeterChannels][]byte
		items := arr.items(buf[:0])
		if len(items) == 0 || len(items) > tasmotaMaxMeterChannels {
			return 0, badf("%s: %d channels", dotted(obj, key), len(items))
		}
		var total float64
		for _, r := range items {
			v, err := numberOf(obj, key, r)
			if err != nil {
				return 0, err
			}
			if !sum {
				return v, nil
			}
			total += v
		}
		return total, nil
	}
	return numberOf(obj, key, raw)
}

// tasmotaMaxMeterChannels is the most channels a meter's array may have.
const tasmotaMaxMeterChannels = 32

func parseHSB(s string) (hub.HSV, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return hub.HSV{}, badf("HSBColor: want h,s,b, got %.40q", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return hub.HSV{}, badf("HSBColor: want h,s,b, got %.40q", s)
		}
		v[i] = n
	}
	c := hub.HSV{H: v[0], S: v[1], V: v[2]}
	if !c.Valid() {
		return hub.HSV{}, badf("HSBColor %.40q out of range", s)
	}
	return c, nil
}

// message is one MQTT publish the driver makes.
type message struct {
	Topic   string
	Payload string
}

// tasmotaCommands encodes cmd for relay ch of the device whose command
// topic base is cmnd (FullTopic expanded with prefix cmnd, ending in '/').
// When more than one value is set, a final State query makes the device
// report them all in one RESULT, which is what confirms the command.
func tasmotaCommands(cmnd string, ch int, cmd hub.Command) []message {
	var out []message
	power := cmnd + tasmotaPower(ch)
	if cmd.Identify {
		out = append(out, message{power, "BLINK"})
	}
	s := &cmd.Set
	if s.Set.Has(hub.FieldColor) {
		out = append(out, message{cmnd + "HSBColor", fmt.Sprintf("%d,%d,%d", s.Color.H, s.Color.S, s.Color.V)})
	}
	if s.Set.Has(hub.FieldTemperatureK) && s.TemperatureK > 0 {
		out = append(out, message{cmnd + "CT", strconv.Itoa(kelvinToMired(s.TemperatureK, tasmotaCTMin, tasmotaCTMax))})
	}
	if s.Set.Has(hub.FieldBrightness) {
		out = append(out, message{cmnd + "Dimmer", strconv.Itoa(s.Brightness)})
	}
	if s.Set.Has(hub.FieldOn) {
		out = append(out, message{power, map[bool]string{true: "ON", false: "OFF"}[s.On]})
	}
	if len(s.Set.List()) > 1 {
		out = append(out, message{cmnd + "State", ""})
	}
	return out
}

// tasmotaIdentify asks a device for its firmware version and chip.
func tasmotaIdentify(cmnd string) []message {
	return []message{{cmnd + "STATUS", "2"}}
}

// tasmotaQuery asks a device for its state (and its meter, if it has one).
func tasmotaQuery(cmnd string, fields hub.FieldSet) []message {
	out := []message{{cmnd + "State", ""}}
	if !fields.Intersect(hub.MeterFields).Empty() {
		out = append(out, message{cmnd + "Status", "8"})
	}
	return out
}
