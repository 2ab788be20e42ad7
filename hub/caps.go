package hub

import "fmt"

// Caps is what a device says it can do: the fields it supports and, when
// it has a color temperature, the range in kelvin. Drivers learn it from
// the device (a serial INFO, Zigbee2MQTT exposes, a Tasmota or Shelly
// discovery message) and pass it in Report.Caps.
type Caps struct {
	Fields             FieldSet
	TempMinK, TempMaxK int
}

// Pin says which of a device's capabilities its configuration fixed. The
// configuration stays authoritative where it says something: a capability
// report changes only what is not pinned, and where the two disagree the
// hub logs a warning event instead.
type Pin uint8

const (
	// PinFields: the configuration listed the capabilities.
	PinFields Pin = 1 << iota
	// PinTempRange: the configuration gave the color temperature range.
	PinTempRange
)

// Valid reports whether a capability report makes sense: a temperature
// range within 1000..20000 K when the temperature field is declared.
func (c Caps) Valid() bool {
	if c.Fields&^(1<<NumFields-1) != 0 {
		return false
	}
	if !c.Fields.Has(FieldTemperatureK) {
		return true
	}
	return c.TempMinK >= 1000 && c.TempMaxK <= 20000 && c.TempMinK < c.TempMaxK
}

// String shows a capability set the way check-config and events do.
func (c Caps) String() string {
	if c.Fields.Has(FieldTemperatureK) {
		return fmt.Sprintf("%s (%d..%d K)", c.Fields, c.TempMinK, c.TempMaxK)
	}
	return c.Fields.String()
}

// Learn applies capabilities a device reported to its definition, where
// the configuration did not pin them. It returns the new definition and,
// when the configuration disagrees with the device, a description of the
// disagreement for people.
func (d Device) Learn(c Caps) (Device, string) {
	var clash []string
	if d.Pinned&PinFields != 0 {
		if d.Fields != c.Fields {
			clash = append(clash, fmt.Sprintf("capabilities: config %s, device %s", d.Fields, c.Fields))
		}
	} else {
		d.Fields = c.Fields
	}
	if d.Fields.Has(FieldTemperatureK) && c.Fields.Has(FieldTemperatureK) {
		if d.Pinned&PinTempRange != 0 {
			if !nearK(d.TempMinK, c.TempMinK) || !nearK(d.TempMaxK, c.TempMaxK) {
				clash = append(clash, fmt.Sprintf("temperature range: config %d..%d K, device %d..%d K", d.TempMinK, d.TempMaxK, c.TempMinK, c.TempMaxK))
			}
		} else {
			d.TempMinK, d.TempMaxK = c.TempMinK, c.TempMaxK
		}
	}
	if !d.Fields.Has(FieldTemperatureK) && d.Pinned&PinTempRange == 0 {
		d.TempMinK, d.TempMaxK = 0, 0
	}
	if len(clash) == 0 {
		return d, ""
	}
	msg := "config and device disagree (config wins): " + clash[0]
	for _, s := range clash[1:] {
		msg += "; " + s
	}
	return d, msg
}

// nearK reports whether two kelvin values agree within 1 %: devices that
// count in mireds (Zigbee, Tasmota) state 6500 K as 153 mired, 6536 K.
func nearK(a, b int) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d*100 <= max(a, b)
}

// sameCaps reports whether two definitions offer the same capabilities.
func sameCaps(a, b *Device) bool {
	return a.Fields == b.Fields && a.TempMinK == b.TempMinK && a.TempMaxK == b.TempMaxK
}

// learnCaps applies r.Caps to e under h.mu. It returns whether the
// device's capabilities changed, whether its report did (snap.Caps took
// it), and the disagreement to log, if any (only when it differs from the
// last one logged, so a device that identifies on every reconnect does not
// flood the event list).
func (h *Hub) learnCaps(e *entry, c *Caps) (changed, reported bool, clash string) {
	if c == nil || !c.Valid() {
		return false, false, ""
	}
	nd, msg := e.dev.Learn(*c)
	if nd.Fields.Has(FieldTemperatureK) && (nd.TempMinK == 0 || nd.TempMaxK == 0) {
		// Pinned fields with temperature, device without: keep the range
		// the config or default gave.
		nd.TempMinK, nd.TempMaxK = e.dev.TempMinK, e.dev.TempMaxK
	}
	if nd.Validate() != nil {
		return false, false, ""
	}
	changed = !sameCaps(&nd, &e.dev)
	e.dev.Fields, e.dev.TempMinK, e.dev.TempMaxK = nd.Fields, nd.TempMinK, nd.TempMaxK
	if *c != e.reported() {
		e.snap.Caps, e.capsUnlearned, reported = *c, false, true
	}
	if !h.newClash(e.dev.ID, msg) {
		msg = ""
	}
	return changed, reported, msg
}

// Reported returns the capabilities a device last reported, if any.
func (h *Hub) Reported(id string) (Caps, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.devs[id]
	if !ok || e.reported().Fields.Empty() {
		return Caps{}, false
	}
	return e.reported(), true
}
