package mqtt

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"hubd/hub"
)

// Shelly discovery. Gen1 devices publish shellies/announce after they
// connect and whenever shellies/command says "announce". Gen2 and later
// devices publish <prefix>/online; the hub then asks them over RPC
// (<prefix>/rpc) for Shelly.GetDeviceInfo and Shelly.GetStatus, whose
// keys name the components ("switch:0", "light:0", "rgbw:0", "cct:0").
const (
	shelly1AnnounceTopic = "shellies/announce"
	shelly1CommandTopic  = "shellies/command"
	// shelly1OnlineFilter: a Gen1 device says "true" here (retained) when
	// it connects.
	shelly1OnlineFilter = "shellies/+/online"
)

// shelly1Model is what the hub knows of a Gen1 model code: its kind, the
// fields the Gen1 dialect drives on it, and its number of channels.
type shelly1Model struct {
	kind     hub.Kind
	fields   hub.FieldSet
	channels int
}

// shelly1Models are the Gen1 lamps and sockets by model code. The Gen1
// dialect drives a relay (and its meter) or a light's on and brightness;
// a color bulb is offered with those.
var shelly1Models = map[string]shelly1Model{
	"SHPLG-S":  {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 1},
	"SHPLG-1":  {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 1},
	"SHPLG2-1": {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 1},
	"SHPLG-U1": {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 1},
	"SHSW-1":   {hub.KindSocket, hub.Fields(hub.FieldOn), 1},
	"SHSW-PM":  {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 1},
	"SHSW-25":  {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 2},
	"SHSW-21":  {hub.KindSocket, hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), 2},
	"SHDM-1":   {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
	"SHDM-2":   {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
	"SHBLB-1":  {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
	"SHCB-1":   {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
	"SHBDUO-1": {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
	"SHRGBW2":  {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness), 1},
}

// decodeShelly1Discovery reads a shellies/announce message.
func decodeShelly1Discovery(p []byte) ([]hub.Found, error) {
	m, err := object(p)
	if err != nil {
		return nil, fmt.Errorf("shelly announce: %w", err)
	}
	raw, ok := m.get("id")
	if !ok {
		return nil, badf("shelly announce: no id")
	}
	id, err := infoText("id", raw)
	if err != nil {
		return nil, fmt.Errorf("shelly announce: %w", err)
	}
	addr := DialectShelly1 + ":" + id
	if _, _, err := ParseAddress(addr); err != nil {
		return nil, badf("shelly announce: id %.60q can not be used", id)
	}
	u, err := decodeShelly1Announce(p)
	if err != nil || u.Info == nil {
		return nil, badf("shelly announce: no model")
	}
	in := *u.Info
	model, ok := shelly1Models[in.Model]
	if !ok {
		return []hub.Found{{Driver: DriverName, Address: addr, Kind: hub.KindSocket, Name: id, Info: in,
			Unsupported: fmt.Sprintf("Shelly model %q is not a lamp or socket the hub knows", in.Model)}}, nil
	}
	out := []hub.Found{{Driver: DriverName, Address: addr, Kind: model.kind, Caps: hub.Caps{Fields: model.fields}, Name: id, Info: in}}
	for ch := 1; ch < model.channels; ch++ {
		out = append(out, hub.Found{Driver: DriverName, Address: fmt.Sprintf("%s:%d", addr, ch), Kind: model.kind,
			Caps: hub.Caps{Fields: model.fields}, Name: id, Info: in})
	}
	return out, nil
}

// shelly2Component maps a Gen2 component type to a kind and the fields
// its status carries.
var shelly2Components = map[string]struct {
	kind   hub.Kind
	fields hub.FieldSet
}{
	"switch": {hub.KindSocket, hub.Fields(hub.FieldOn)},
	"light":  {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness)},
	"cct":    {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK)},
	"rgb":    {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor)},
	"rgbw":   {hub.KindLight, hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor)},
	"rgbcct": {hub.KindLight, hub.LightFields},
}

// The color temperature range of a Gen2 cct component that says none: the
// range of Shelly's own tunable-white bulbs and drivers.
const (
	shelly2DefaultMinK = 2700
	shelly2DefaultMaxK = 6500
)

// maxShelly2Components bounds the components of one GetStatus reply
// that are looked at.
const maxShelly2Components = 64

// shelly2Found lists the lamps and sockets in a Gen2 device's GetStatus
// result; in is its GetDeviceInfo, config its GetConfig (a cct
// component's ct_range, [min, max] in kelvin, is its color temperature
// range; without one, shelly2DefaultMinK..MaxK). Each output component is a device of
// its own, addressed "shelly2:<prefix>:<component>" (switch:0 is the
// prefix alone, see Address); rgbcct is listed as not driven yet.
func shelly2Found(prefix string, in hub.Info, status, config []byte) ([]hub.Found, error) {
	m, err := object(status)
	if err != nil {
		return nil, fmt.Errorf("shelly2 status: %w", err)
	}
	cfg, err := object(config)
	if err != nil {
		return nil, fmt.Errorf("shelly2 config: %w", err)
	}
	keys := m.keys() // each once, as a map would have them
	if len(keys) > 4*maxShelly2Components {
		return nil, badf("shelly2 status: %d components", len(keys))
	}
	sort.Strings(keys)
	var out []hub.Found
	for _, k := range keys {
		typ, _, ok := strings.Cut(k, ":")
		comp, known := shelly2Components[typ]
		if !ok || !known || len(out) >= maxShelly2Components {
			continue
		}
		f := hub.Found{Driver: DriverName, Address: DialectShelly2 + ":" + prefix, Kind: comp.kind,
			Caps: hub.Caps{Fields: comp.fields}, Name: prefix, Info: in}
		if _, driven := shelly2Namespaces[typ]; driven {
			meters, err := shelly2Output(m.value(k), typ)
			if err != nil {
				return nil, fmt.Errorf("shelly2 status: %s: %w", k, err)
			}
			f.Caps.Fields |= meters.State.Set.Intersect(hub.MeterFields)
		} else {
			f.Unsupported = fmt.Sprintf("component %s: the Gen2 dialect does not drive %s", k, typ)
		}
		if f.Caps.Fields.Has(hub.FieldTemperatureK) {
			if f.Caps.TempMinK, f.Caps.TempMaxK, err = shelly2CTRange(cfg.value(k)); err != nil {
				return nil, fmt.Errorf("shelly2 config: %s: %w", k, err)
			}
		}
		if k != shelly2Switch0 {
			f.Address += ":" + k
		}
		if _, err := SplitAddress(f.Address); err != nil && f.Unsupported == "" {
			f.Unsupported = err.Error() // switch:99: no address for it
		}
		out = append(out, f)
	}
	return out, nil
}

// shelly2CTRange reads the ct_range of a component's config, or the
// default range when it has none.
func shelly2CTRange(raw json.RawMessage) (lo, hi int, err error) {
	if isNull(raw) {
		return shelly2DefaultMinK, shelly2DefaultMaxK, nil
	}
	c, err := object(raw)
	if err != nil {
		return 0, 0, err
	}
	r, ok := c.get("ct_range")
	if !ok || isNull(r) {
		return shelly2DefaultMinK, shelly2DefaultMaxK, nil
	}
	v, err := smallInts("ct_range", r, 2, 1000, 20000)
	if err != nil || len(v) != 2 || v[0] >= v[1] {
		return 0, 0, badf("ct_range: want [min, max] kelvin, got %.40s", r)
	}
	return v[0], v[1], nil
}

// shelly2DeviceInfo reads a Shelly.GetDeviceInfo result.
func shelly2DeviceInfo(result []byte) (hub.Info, error) {
	m, err := object(result)
	if err != nil {
		return hub.Info{}, fmt.Errorf("shelly2 device info: %w", err)
	}
	in := hub.Info{Manufacturer: shellyVendor}
	if err := infoFields(m, infoKey{"model", &in.Model}, infoKey{"ver", &in.Firmware}, infoKey{"fw_id", &in.Firmware}); err != nil {
		return hub.Info{}, fmt.Errorf("shelly2 device info: %w", err)
	}
	return in, nil
}

// shelly2Request encodes one RPC call for discovery.
func shelly2Request(id uint64, src, method string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "src": src, "method": method})
	return b
}

// gen1Online asks a Gen1 device that came online to announce itself on
// its own command topic. Its own announce, sent as it connects, is not
// retained: discovery that subscribed later, or a device that connected
// after discovery's broadcast request, would otherwise never be found.
func (x *Discovery) gen1Online(id string, p []byte) {
	if string(p) != "true" || id == "" || strings.ContainsAny(id, "+#/") {
		return
	}
	x.conn.Publish("shellies/"+id+"/command", 0, false, "announce")
}
