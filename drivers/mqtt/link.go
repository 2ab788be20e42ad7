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

// linkBox is a Link with room for the value one of its fields points
// to: a message's link quality costs one allocation, not two.
type linkBox struct {
	hub.Link
	v int
}

// setLink gives u a copy of its link (or a new one) with v in the box,
// for the caller to point one field at.
func (u *update) setLink(v int) *linkBox {
	b := &linkBox{v: v}
	if u.Link != nil {
		b.Link = *u.Link
	}
	u.Link = &b.Link
	return b
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
	b := u.setLink(q)
	b.LQI = &b.v
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
	b := u.setLink(v)
	b.RSSI = &b.v
	return nil
}
