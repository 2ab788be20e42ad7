package mqtt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"hubd/hub"
)

// Shelly Gen1 topics, relative to shellies/<id>/.
const (
	shellyRelay  = "relay/0"
	shellyPower  = "relay/0/power"
	shellyEnergy = "relay/0/energy"
	shellyOnline = "online"
	shellyLight  = "light/0/status"
	// shellyAnnounce carries what the device is, sent after connecting
	// and when asked with "announce".
	shellyAnnounce = "announce"
	// shellyInfo is the full status a Gen1 device publishes now and then
	// (every 30 s by default); hubd reads its Wi-Fi signal from it.
	shellyInfo = "info"
)

// shelly1Topic is the topic below shellies/<id>/ of a kind for relay ch:
// relay/0/power is relay/1/power for the second relay.
func shelly1Topic(kind string, ch int) string {
	if ch == 0 || !strings.HasPrefix(kind, "relay/0") {
		return kind
	}
	return "relay/" + strconv.Itoa(ch) + strings.TrimPrefix(kind, "relay/0")
}

// shellyVendor is the manufacturer of every device that speaks the Shelly
// dialects; their model codes (SHPLG-S, SNPL-00112EU) are its own.
const shellyVendor = "Shelly"

// decodeShelly1 decodes a Gen1 message; sub is the topic below
// shellies/<id>/.
func decodeShelly1(sub string, p []byte) (update, error) {
	var u update
	switch sub {
	case shellyRelay:
		s := strings.TrimSpace(string(p))
		if s == "overpower" {
			u.setOn(false)
			return u, nil
		}
		on, err := onOff(s)
		if err != nil {
			return u, fmt.Errorf("relay: %w", err)
		}
		u.setOn(on)
	case shellyPower:
		w, err := plainNumber(p)
		if err != nil {
			return u, fmt.Errorf("power: %w", err)
		}
		u.setFloat(hub.FieldPower, w)
	case shellyEnergy:
		wmin, err := plainNumber(p)
		if err != nil {
			return u, fmt.Errorf("energy: %w", err)
		}
		if wmin < 0 {
			return u, badf("energy: negative %v", wmin)
		}
		u.setFloat(hub.FieldEnergy, wmin/60000) // watt-minutes -> kWh
	case shellyOnline:
		on, err := onOff(string(p))
		if err != nil {
			return u, fmt.Errorf("online: %w", err)
		}
		u.Avail = map[bool]hub.Availability{true: hub.AvailOnline, false: hub.AvailOffline}[on]
	case shellyLight:
		m, err := object(p)
		if err != nil {
			return u, fmt.Errorf("light: %w", err)
		}
		if raw, ok := m.get("ison"); ok {
			on, err := boolean("ison", raw)
			if err != nil {
				return u, err
			}
			u.setOn(on)
		}
		if raw, ok := m.get("brightness"); ok {
			b, err := intIn("brightness", raw, 0, 100)
			if err != nil {
				return u, err
			}
			u.setBrightness(b)
		}
		if u.empty() {
			return u, ErrIgnored
		}
	case shellyAnnounce:
		return decodeShelly1Announce(p)
	case shellyInfo:
		m, err := object(p)
		if err != nil {
			return u, fmt.Errorf("info: %w", err)
		}
		if err := rssiIn(&u, m, "wifi_sta", "rssi"); err != nil {
			return u, fmt.Errorf("info: %w", err)
		}
		if u.Link == nil {
			return u, ErrIgnored
		}
	default:
		return u, ErrIgnored
	}
	return u, nil
}

// decodeShelly1Announce reads {"id":..,"model":"SHPLG-S","mac":..,
// "fw_ver":"20230913-112234/v1.14.0-gcb84623",...}.
func decodeShelly1Announce(p []byte) (update, error) {
	var u update
	m, err := object(p)
	if err != nil {
		return u, fmt.Errorf("announce: %w", err)
	}
	var in hub.Info
	if err := infoFields(m, infoKey{"model", &in.Model}, infoKey{"fw_ver", &in.Firmware}); err != nil {
		return u, fmt.Errorf("announce: %w", err)
	}
	if in == (hub.Info{}) {
		return u, ErrIgnored
	}
	in.Manufacturer = shellyVendor
	u.Info = &in
	return u, nil
}

// shelly1Commands encodes cmd for relay ch of a Gen1 device with topic
// base shellies/<id>/. Relays take on/off/toggle; dimmers a JSON set.
func shelly1Commands(base string, ch int, fields hub.FieldSet, cmd hub.Command) []message {
	var out []message
	relay := base + shelly1Topic(shellyRelay, ch) + "/command"
	if cmd.Identify {
		out = append(out, message{relay, "toggle"}, message{relay, "toggle"})
	}
	s := &cmd.Set
	if fields.Has(hub.FieldBrightness) && s.Set.Has(hub.FieldBrightness) {
		m := map[string]any{"brightness": s.Brightness}
		if s.Set.Has(hub.FieldOn) {
			m["turn"] = map[bool]string{true: "on", false: "off"}[s.On]
		}
		b, _ := json.Marshal(m)
		return append(out, message{base + "light/0/set", string(b)})
	}
	if s.Set.Has(hub.FieldOn) {
		topic := relay
		if fields.Has(hub.FieldBrightness) {
			topic = base + "light/0/command"
		}
		out = append(out, message{topic, map[bool]string{true: "on", false: "off"}[s.On]})
	}
	return out
}

// shelly1Query makes a Gen1 device publish all its status topics.
func shelly1Query(base string) []message {
	return []message{{base + "command", "update"}}
}

// shelly1Identify makes a Gen1 device publish its announce.
func shelly1Identify(base string) []message {
	return []message{{base + "command", "announce"}}
}
