package mqtt

import (
	"encoding/json"
	"fmt"
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
		if raw, ok := m["ison"]; ok {
			on, err := boolean("ison", raw)
			if err != nil {
				return u, err
			}
			u.setOn(on)
		}
		if raw, ok := m["brightness"]; ok {
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

// shelly1Commands encodes cmd for a Gen1 device with topic base
// shellies/<id>/. Relays take on/off/toggle; dimmers a JSON set.
func shelly1Commands(base string, fields hub.FieldSet, cmd hub.Command) []message {
	var out []message
	if cmd.Identify {
		out = append(out, message{base + shellyRelay + "/command", "toggle"}, message{base + shellyRelay + "/command", "toggle"})
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
		topic := base + shellyRelay + "/command"
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

// shelly2Switch decodes a Gen2+ switch status object (complete, from
// <prefix>/status/switch:0 or a GetStatus reply, or partial, from
// NotifyStatus). aenergy.total is in watt-hours.
func shelly2Switch(raw json.RawMessage) (update, error) {
	var u update
	m, err := object(raw)
	if err != nil {
		return u, fmt.Errorf("switch: %w", err)
	}
	if r, ok := m["output"]; ok && !isNull(r) {
		on, err := boolean("output", r)
		if err != nil {
			return u, err
		}
		u.setOn(on)
	}
	for _, x := range []struct {
		key string
		f   hub.Field
	}{{"apower", hub.FieldPower}, {"voltage", hub.FieldVoltage}, {"current", hub.FieldCurrent}} {
		if r, ok := m[x.key]; ok && !isNull(r) {
			v, err := number(x.key, r)
			if err != nil {
				return u, err
			}
			u.setFloat(x.f, v)
		}
	}
	if r, ok := m["aenergy"]; ok && !isNull(r) {
		e, err := object(r)
		if err != nil {
			return u, fmt.Errorf("aenergy: %w", err)
		}
		if t, ok := e["total"]; ok && !isNull(t) {
			wh, err := number("aenergy.total", t)
			if err != nil {
				return u, err
			}
			if wh < 0 {
				return u, badf("aenergy.total: negative %v", wh)
			}
			u.setFloat(hub.FieldEnergy, wh/1000)
		}
	}
	return u, nil
}

// decodeShelly2Status decodes <prefix>/status/switch:0.
func decodeShelly2Status(p []byte) (update, error) {
	u, err := shelly2Switch(p)
	if err == nil && u.empty() {
		return u, ErrIgnored
	}
	return u, err
}

// decodeShelly2Event decodes a frame on <prefix>/events/rpc: NotifyStatus
// carries the switch members that changed, NotifyFullStatus all of them;
// the hub merges either on top of what it knows.
func decodeShelly2Event(p []byte) (update, error) {
	m, err := object(p)
	if err != nil {
		return update{}, fmt.Errorf("events: %w", err)
	}
	raw, ok := m["method"]
	if !ok {
		return update{}, badf("events: no method")
	}
	method, err := str("method", raw)
	if err != nil {
		return update{}, err
	}
	if method != "NotifyStatus" && method != "NotifyFullStatus" {
		return update{}, ErrIgnored
	}
	params, ok := m["params"]
	if !ok {
		return update{}, badf("events: %s without params", method)
	}
	pm, err := object(params)
	if err != nil {
		return update{}, fmt.Errorf("events: params: %w", err)
	}
	var u update
	if sw, ok := pm["switch:0"]; ok && !isNull(sw) {
		if u, err = shelly2Switch(sw); err != nil {
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
	raw, ok := m["id"]
	if !ok {
		return r, badf("rpc reply: no id")
	}
	id, err := rpcReplyID(raw)
	if err != nil {
		return r, err
	}
	r.ID = id
	if e, ok := m["error"]; ok && !isNull(e) {
		r.Error = fmt.Sprintf("%.200s", e)
		// {"code":-103,"message":"..."}; anything else stays raw.
		if em, err := object(e); err == nil {
			if c, ok := em["code"]; ok {
				if code, err := intIn("error.code", c, -1e6, 1e6); err == nil {
					r.Code = code
				}
			}
			if msg, ok := em["message"]; ok {
				if s, err := str("error.message", msg); err == nil && s != "" {
					r.Error = fmt.Sprintf("%.200s", s)
				}
			}
		}
	}
	r.Result = m["result"]
	return r, nil
}

// maxRPCID is the largest reply id taken: JSON numbers are exact up to
// 2^53. Which ids match a call is the driver's business, not the
// decoder's: any whole number in range decodes.
const maxRPCID = 1 << 53

// rpcReplyID decodes a reply's id, a whole number 0..maxRPCID.
func rpcReplyID(raw json.RawMessage) (uint64, error) {
	var id uint64
	if err := json.Unmarshal(raw, &id); err != nil || id > maxRPCID {
		return 0, badf("id: want a whole number 0..2^53, got %.40s", raw)
	}
	return id, nil
}

// decodeShelly2Result decodes the result of a Switch.GetStatus call (a
// switch status) or of Shelly.GetDeviceInfo ({"model":"SNPL-00112EU",
// "ver":"1.0.8","fw_id":...}); the results of Switch.Set ({"was_on":...})
// carry neither and are ignored.
func decodeShelly2Result(raw json.RawMessage) (update, error) {
	if isNull(raw) {
		return update{}, ErrIgnored
	}
	u, err := shelly2Switch(raw)
	if err != nil {
		return u, err
	}
	m, err := object(raw) // an object: shelly2Switch said so
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
