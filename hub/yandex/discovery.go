package yandex

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"hubd/hub"
)

// Limits the platform puts on discovery strings.
const (
	maxNameRunes = 25  // names and rooms are best kept this short
	maxInfoRunes = 256 // each device_info field
	maxDescRunes = 100
)

type discDevice struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	Description  string      `json:"description,omitempty"`
	Room         string      `json:"room,omitempty"`
	Type         string      `json:"type"`
	Capabilities []discCap   `json:"capabilities"`
	Properties   []discCap   `json:"properties,omitempty"`
	DeviceInfo   *deviceInfo `json:"device_info,omitempty"`
}

type discCap struct {
	Type        string `json:"type"`
	Retrievable bool   `json:"retrievable"`
	Reportable  bool   `json:"reportable"`
	Parameters  any    `json:"parameters,omitempty"`
}

type deviceInfo struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	HWVersion    string `json:"hw_version,omitempty"`
	SWVersion    string `json:"sw_version,omitempty"`
}

type rangeParams struct {
	Instance     string `json:"instance"`
	Unit         string `json:"unit"`
	RandomAccess bool   `json:"random_access"`
	Range        struct {
		Min       int `json:"min"`
		Max       int `json:"max"`
		Precision int `json:"precision"`
	} `json:"range"`
}

type colorParams struct {
	ColorModel   string    `json:"color_model,omitempty"`
	TemperatureK *kelvinMM `json:"temperature_k,omitempty"`
}

type kelvinMM struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

type floatParams struct {
	Instance string `json:"instance"`
	Unit     string `json:"unit"`
}

// clipRunes shortens s to at most n runes, trimming trailing space.
func clipRunes(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if n == 0 {
			i = k
			break
		}
		n--
	}
	return strings.TrimSpace(s[:i])
}

// clipName shortens a name or room to maxNameRunes, at a word boundary
// when one is near the end, so "Room 101 ceiling lamp with..." reads
// "Room 101 ceiling lamp" rather than ending in half a word.
func clipName(s string) string {
	c := clipRunes(s, maxNameRunes)
	if c == strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD")) {
		return c
	}
	if i := strings.LastIndexByte(c, ' '); i >= len(c)/2 {
		return strings.TrimSpace(c[:i])
	}
	return c
}

// describe builds the discovery object of one device.
func (h *Handler) describe(d hub.Device) discDevice {
	name := d.Name
	if strings.TrimSpace(name) == "" {
		name = d.ID
	}
	out := discDevice{ID: d.ID, Name: clipName(name), Type: typeLight}
	if d.Kind == hub.KindSocket {
		out.Type = typeSocket
	}
	if path := h.hub.RoomPath(d.ID); path != nil {
		out.Room = clipName(path[len(path)-1].Name)
		var parts []string
		for _, n := range path[:len(path)-1] {
			parts = append(parts, n.Name)
		}
		out.Description = clipRunes(strings.Join(parts, ", "), maxDescRunes)
	}
	rep := h.opts.Reportable
	out.Capabilities = []discCap{}
	if d.Fields.Has(hub.FieldOn) {
		out.Capabilities = append(out.Capabilities, discCap{Type: capOnOff, Retrievable: true, Reportable: rep})
	}
	if d.Fields.Has(hub.FieldBrightness) {
		p := rangeParams{Instance: "brightness", Unit: "unit.percent", RandomAccess: true}
		p.Range.Min, p.Range.Max, p.Range.Precision = brightMin, brightMax, 1
		out.Capabilities = append(out.Capabilities, discCap{Type: capRange, Retrievable: true, Reportable: rep, Parameters: p})
	}
	if d.Fields.Has(hub.FieldColor) || d.Fields.Has(hub.FieldTemperatureK) {
		var p colorParams
		if d.Fields.Has(hub.FieldColor) {
			p.ColorModel = "hsv"
		}
		if d.Fields.Has(hub.FieldTemperatureK) {
			p.TemperatureK = &kelvinMM{Min: d.TempMinK, Max: d.TempMaxK}
		}
		out.Capabilities = append(out.Capabilities, discCap{Type: capColor, Retrievable: true, Reportable: rep, Parameters: p})
	}
	for _, fp := range floatProps {
		if d.Fields.Has(fp.field) {
			out.Properties = append(out.Properties, discCap{Type: propFlt, Retrievable: true, Reportable: rep,
				Parameters: floatParams{Instance: fp.instance, Unit: fp.unit}})
		}
	}
	in := deviceInfo{
		Manufacturer: clipRunes(d.Info.Manufacturer, maxInfoRunes),
		Model:        clipRunes(d.Info.Model, maxInfoRunes),
		HWVersion:    clipRunes(d.Info.Hardware, maxInfoRunes),
		SWVersion:    clipRunes(d.Info.Firmware, maxInfoRunes),
	}
	if in != (deviceInfo{}) {
		out.DeviceInfo = &in
	}
	return out
}

// serveDevices answers discovery: every device in the caller's scope.
// The answer is written device by device as it is encoded, not built
// whole first: for 10,000 devices that is a 5 MiB answer, and building it
// held it twice over with every device's description besides.
func (h *Handler) serveDevices(c *call, w http.ResponseWriter, r *http.Request) error {
	devs := h.hub.DevicesIn(c.scope)
	c.nDevs = len(devs)
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	b := append(c.out[:0], `{"request_id":`...)
	b = appendString(b, c.rid)
	b = append(b, `,"payload":{"user_id":`...)
	b = appendString(b, c.user)
	b = append(b, `,"devices":[`...)
	_, _ = bw.Write(b)
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	for i, d := range devs {
		one.Reset()
		if err := enc.Encode(h.describe(d)); err != nil {
			// The status is sent: cut the answer short rather than end
			// it as if it were whole.
			h.log.Error("discovery answer cut short", "request_id", c.rid, "device", d.ID, "err", err)
			panic(http.ErrAbortHandler)
		}
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		if _, err := bw.Write(bytes.TrimSuffix(one.Bytes(), []byte{'\n'})); err != nil { // Encode's own newline
			break // the client is gone: bw keeps the error for Flush
		}
	}
	_, _ = bw.WriteString("]}}\n")
	c.out = b
	c.result = "ok"
	if err := bw.Flush(); err != nil {
		c.result = "client gone"
	}
	return nil
}
