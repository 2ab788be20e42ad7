package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"hubd/hub"
)

// shelly2Output decodes the status object of a Gen2+ output component of
// type typ (complete, from <prefix>/status/<component> or a GetStatus
// reply, or partial, from NotifyStatus): "output" for all, "brightness"
// for lights, "ct" (kelvin) for cct, "rgb" for rgb and rgbw, and the
// meter members any of them may carry (aenergy.total is in watt-hours).
func shelly2Output(raw json.RawMessage, typ string) (update, error) {
	var u update
	m, err := object(raw)
	if err != nil {
		return u, fmt.Errorf("%s: %w", typ, err)
	}
	if r, ok := m.get("output"); ok && !isNull(r) {
		on, err := boolean("output", r)
		if err != nil {
			return u, err
		}
		u.setOn(on)
	}
	if typ != "switch" {
		if err := shelly2Light(&u, m, typ); err != nil {
			return u, err
		}
	}
	return u, shelly2Meters(&u, m)
}

// shelly2Light reads the light members of a status object.
func shelly2Light(u *update, m jsonObject, typ string) error {
	if r, ok := m.get("brightness"); ok && !isNull(r) {
		b, err := intIn("brightness", r, 0, 100)
		if err != nil {
			return err
		}
		u.setBrightness(b)
	}
	if r, ok := m.get("ct"); ok && !isNull(r) && typ == "cct" {
		k, err := intIn("ct", r, 1000, 20000)
		if err != nil {
			return err
		}
		u.setKelvin(k)
		u.State.Mode = hub.ColorModeTemperature
	}
	if r, ok := m.get("rgb"); ok && !isNull(r) && (typ == "rgb" || typ == "rgbw") {
		arr, err := parseArray(r)
		var buf [3][]byte
		rgb := arr.items(buf[:0])
		if err != nil || len(rgb) != 3 {
			return badf("rgb: want [r,g,b], got %.40s", r)
		}
		var v [3]float64
		for i, x := range rgb {
			n, err := intIn("rgb", x, 0, 255)
			if err != nil {
				return err
			}
			v[i] = float64(n) / 255
		}
		// The color is the hue and saturation; its value is the
		// brightness, as the hub sets it (see shelly2LightParams).
		c := hub.HSVFromRGB(v[0], v[1], v[2])
		c.V = 100
		if u.State.Set.Has(hub.FieldBrightness) {
			c.V = u.State.Brightness
		}
		u.setColor(c)
		u.State.Mode = hub.ColorModeHSV
	}
	return nil
}

// shelly2Meters reads apower, voltage, current and aenergy.total.
func shelly2Meters(u *update, m jsonObject) error {
	for _, x := range []struct {
		key string
		f   hub.Field
	}{{"apower", hub.FieldPower}, {"voltage", hub.FieldVoltage}, {"current", hub.FieldCurrent}} {
		if r, ok := m.get(x.key); ok && !isNull(r) {
			v, err := number(x.key, r)
			if err != nil {
				return err
			}
			u.setFloat(x.f, v)
		}
	}
	if r, ok := m.get("aenergy"); ok && !isNull(r) {
		e, err := object(r)
		if err != nil {
			return fmt.Errorf("aenergy: %w", err)
		}
		if t, ok := e.get("total"); ok && !isNull(t) {
			wh, err := number("aenergy.total", t)
			if err != nil {
				return err
			}
			if wh < 0 {
				return badf("aenergy.total: negative %v", wh)
			}
			u.setFloat(hub.FieldEnergy, wh/1000)
		}
	}
	return nil
}

// decodeShelly2Status decodes <prefix>/status/<comp>.
func decodeShelly2Status(p []byte, comp string) (update, error) {
	u, err := shelly2Output(p, shelly2Type(comp))
	if err == nil && u.empty() {
		return u, ErrIgnored
	}
	return u, err
}

// decodeShelly2Event decodes a frame on <prefix>/events/rpc for the
// output comp: NotifyStatus carries the members that changed,
// NotifyFullStatus all of them; the hub merges either on top of what it
// knows. Other components' members are not comp's.
func decodeShelly2Event(p []byte, comp string) (update, error) {
	m, err := object(p)
	if err != nil {
		return update{}, fmt.Errorf("events: %w", err)
	}
	raw, ok := m.get("method")
	if !ok {
		return update{}, badf("events: no method")
	}
	method, err := text("method", raw)
	if err != nil {
		return update{}, err
	}
	if string(method) != "NotifyStatus" && string(method) != "NotifyFullStatus" {
		return update{}, ErrIgnored
	}
	params, ok := m.get("params")
	if !ok {
		return update{}, badf("events: %s without params", method)
	}
	pm, err := object(params)
	if err != nil {
		return update{}, fmt.Errorf("events: params: %w", err)
	}
	var u update
	if st, ok := pm.get(comp); ok && !isNull(st) {
		if u, err = shelly2Output(st, shelly2Type(comp)); err != nil {
			return u, err
		}
	}
	if err := rssiIn(&u, pm, "wifi", "rssi"); err != nil {
		return u, err
	}
	if u.empty() {
		return u, ErrIgnored
	}
	return u, nil
}

// shelly2Reply is an RPC reply frame on <src>/rpc.
type shelly2Reply struct {
	ID     uint64
	Result json.RawMessage
	Error  string // the error's message (or raw JSON); empty: success
	Code   int    // the error's code, 0 if it gave none
}

// Shelly Gen2 RPC error codes that say what went wrong with a call.
const (
	shelly2InvalidArgument = -103 // a parameter out of range or of the wrong type
	shelly2NotFound        = -105 // no such component (switch:1 on a one-relay device)
	shelly2NoHandler       = 404  // no such method on this device
)

// rpcFailure maps a failed RPC to the hub's command outcomes: a value the
// device refuses is ErrInvalidValue, a switch or method it does not have
// ErrNotSupported, anything else (busy, unavailable, deadline, auth)
// ErrUnreachable: the command did not take effect.
func rpcFailure(code int) error {
	switch code {
	case shelly2InvalidArgument:
		return hub.ErrInvalidValue
	case shelly2NotFound, shelly2NoHandler:
		return hub.ErrNotSupported
	}
	return hub.ErrUnreachable
}

// decodeShelly2Reply reads an RPC reply frame's id, result and error.
func decodeShelly2Reply(p []byte) (shelly2Reply, error) {
	var r shelly2Reply
	m, err := object(p)
	if err != nil {
		return r, fmt.Errorf("rpc reply: %w", err)
	}
	raw, ok := m.get("id")
	if !ok {
		return r, badf("rpc reply: no id")
	}
	id, err := rpcReplyID(raw)
	if err != nil {
		return r, err
	}
	r.ID = id
	if e, ok := m.get("error"); ok && !isNull(e) {
		r.Error = fmt.Sprintf("%.200s", e)
		// {"code":-103,"message":"..."}; anything else stays raw.
		if em, err := object(e); err == nil {
			if c, ok := em.get("code"); ok {
				if code, err := intIn("error.code", c, -1e6, 1e6); err == nil {
					r.Code = code
				}
			}
			if msg, ok := em.get("message"); ok {
				if s, err := str("error.message", msg); err == nil && s != "" {
					r.Error = fmt.Sprintf("%.200s", s)
				}
			}
		}
	}
	r.Result = m.value("result")
	return r, nil
}

// maxRPCID is the largest reply id taken: JSON numbers are exact up to
// 2^53. Which ids match a call is the driver's business, not the
// decoder's: any whole number in range decodes.
const maxRPCID = 1 << 53

// rpcReplyID decodes a reply's id, a whole number 0..maxRPCID.
func rpcReplyID(raw json.RawMessage) (uint64, error) {
	t := trimJSONSpace(raw)
	if string(t) == "null" {
		return 0, nil // as encoding/json leaves a uint64 alone for null
	}
	// A JSON number of digits alone: no sign, fraction or exponent.
	if end, err := jsonNumber(t, 0); err == nil && end == len(t) && len(t) > 0 && isDigit(t[0]) &&
		bytes.IndexAny(t, ".eE") < 0 {
		if id, err := strconv.ParseUint(string(t), 10, 64); err == nil && id <= maxRPCID {
			return id, nil
		}
	}
	return 0, badf("id: want a whole number 0..2^53, got %.40s", raw)
}

// decodeShelly2Result decodes the result of a GetStatus call on the
// output comp (its status) or of Shelly.GetDeviceInfo ({"model":
// "SNPL-00112EU","ver":"1.0.8","fw_id":...}); the results of Switch.Set
// ({"was_on":...}) and Light.Set (null) carry neither and are ignored.
func decodeShelly2Result(raw json.RawMessage, comp string) (update, error) {
	if isNull(raw) {
		return update{}, ErrIgnored
	}
	u, err := shelly2Output(raw, shelly2Type(comp))
	if err != nil {
		return u, err
	}
	m, err := object(raw) // an object: shelly2Output said so
	if err != nil {
		return u, err
	}
	var in hub.Info
	if err := infoFields(m, infoKey{"model", &in.Model}, infoKey{"ver", &in.Firmware}, infoKey{"fw_id", &in.Firmware}); err != nil {
		return u, fmt.Errorf("device info: %w", err)
	}
	if in != (hub.Info{}) {
		in.Manufacturer = shellyVendor
		u.Info = &in
	}
	if u.empty() {
		return u, ErrIgnored
	}
	return u, nil
}

// shelly2RPC encodes one RPC request frame.
func shelly2RPC(id uint64, src, method string, params map[string]any) string {
	b, _ := json.Marshal(struct {
		ID     uint64         `json:"id"`
		Src    string         `json:"src"`
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}{id, src, method, params})
	return string(b)
}

// shelly2Settable is what the hub sets on each Gen2 component type; the
// white channel of rgbw is left as the device has it.
var shelly2Settable = map[string]hub.FieldSet{
	"switch": hub.Fields(hub.FieldOn),
	"light":  hub.Fields(hub.FieldOn, hub.FieldBrightness),
	"cct":    hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
	"rgb":    hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor),
	"rgbw":   hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor),
}

// shelly2SetParams are the parameters of the <NS>.Set call that applies s
// to a component of type typ (the id is added by the caller): on,
// brightness in percent, ct in kelvin, rgb as three levels 0..255 at full
// value (the color's value is its brightness).
func shelly2SetParams(typ string, s *hub.State) map[string]any {
	p := map[string]any{}
	if s.Set.Has(hub.FieldOn) {
		p["on"] = s.On
	}
	if typ == "switch" {
		return p
	}
	bri, hasBri := s.Brightness, s.Set.Has(hub.FieldBrightness)
	if s.Set.Has(hub.FieldColor) && (typ == "rgb" || typ == "rgbw") {
		r, g, b := hub.RGBFromHSV(hub.HSV{H: s.Color.H, S: s.Color.S, V: 100})
		p["rgb"] = []int{int(math.Round(r * 255)), int(math.Round(g * 255)), int(math.Round(b * 255))}
		if !hasBri && s.Color.V > 0 {
			bri, hasBri = s.Color.V, true
		}
	}
	if hasBri {
		// Passed as is: a device that takes no 0 (rgb wants 1..100)
		// refuses it with its own words.
		p["brightness"] = min(max(bri, 0), 100)
	}
	if s.Set.Has(hub.FieldTemperatureK) && s.TemperatureK > 0 && typ == "cct" {
		p["ct"] = s.TemperatureK
	}
	return p
}
