package mqtt

import (
	"fmt"

	"hubd/hub"
)

// The link quality members devices send, and their ranges.
const (
	minRSSI, maxRSSI = -120, 0 // dBm
	minLQI, maxLQI   = 0, 255  // Zigbee linkquality
)

func (u *update) link() *hub.Link {
	if u.Link == nil {
		u.Link = &hub.Link{}
	}
	return u.Link
}

// z2mLink reads Zigbee2MQTT's linkquality member.
func z2mLink(u *update, m jsonObject) error {
	raw, ok := m.get("linkquality")
	if !ok || isNull(raw) {
		return nil
	}
	q, err := intIn("linkquality", raw, minLQI, maxLQI)
	if err != nil {
		return err
	}
	u.link().LQI = &q
	return nil
}

// rssiIn reads the dBm member key of the object at m[obj] (Tasmota's
// "Wifi": {"Signal": -60}, Shelly Gen2's "wifi": {"rssi": -60}, Gen1's
// "wifi_sta": {"rssi": -60}).
func rssiIn(u *update, m jsonObject, obj, key string) error {
	raw, ok := m.get(obj)
	if !ok || isNull(raw) {
		return nil
	}
	w, err := object(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	raw, ok = w.get(key)
	if !ok || isNull(raw) {
		return nil
	}
	v, err := intOf(obj, key, raw, minRSSI, maxRSSI)
	if err != nil {
		return err
	}
	u.link().RSSI = &v
	return nil
}
