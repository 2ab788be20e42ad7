package mqttsim

import (
	"encoding/json"
	"strings"
	"time"
)

// What emulated devices say about themselves for discovery, in each
// family's own format: Tasmota's native discovery (config and sensors,
// retained), the exposes of a Zigbee2MQTT device, a Shelly Gen2 device's
// full status (its components).

// tasmotaDiscovery publishes tasmota/discovery/<mac>/config and sensors.
func (d *dev) tasmotaDiscovery() {
	relays := make([]int, 8)
	names := make([]any, 8)
	light := 0
	if d.spec.Kind == "light" {
		light = 5 // RGBCW
		if d.spec.White {
			light = 2 // CT
		}
		names[0] = d.spec.ID
	} else {
		for i := range max(1, d.spec.Relays) {
			relays[i] = 1
			names[i] = d.spec.ID + "-" + string(rune('1'+i))
		}
	}
	mac := d.mac()
	d.pubRetainedJSON("tasmota/discovery/"+mac+"/config", map[string]any{
		"ip": "192.0.2.20", "dn": d.spec.ID, "fn": names, "hn": d.spec.Name, "mac": mac, "md": d.model(), "ty": 0, "if": 0,
		"ofln": "Offline", "onln": "Online", "state": []string{"OFF", "ON", "TOGGLE", "HOLD"}, "sw": strings.TrimSuffix(d.firmware(), "(tasmota)"),
		"t": d.spec.Name, "ft": d.sim.opts.TasmotaFullTopic, "tp": []string{"cmnd", "stat", "tele"}, "rl": relays,
		"swc": []int{-1, -1, -1, -1, -1, -1, -1, -1}, "swn": make([]any, 8), "btn": make([]int, 8),
		"so": map[string]int{"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0, "114": 0, "117": 0},
		"lk": 1, "lt_st": light, "sho": []int{}, "sht": []any{}, "ver": 1,
	})
	sn := map[string]any{"Time": time.Now().UTC().Format("2006-01-02T15:04:05")}
	if d.spec.Kind != "light" {
		sn["ENERGY"] = d.tasmotaEnergy()
	}
	d.pubRetainedJSON("tasmota/discovery/"+mac+"/sensors", map[string]any{"sn": sn, "ver": 1})
}

// z2mExposes is the exposes list of the device's definition.
func (d *dev) z2mExposes() []any {
	feature := func(typ, name string, extra map[string]any) map[string]any {
		m := map[string]any{"type": typ, "name": name, "property": name, "access": 7}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	state := feature("binary", "state", map[string]any{"value_on": "ON", "value_off": "OFF", "value_toggle": "TOGGLE"})
	if d.spec.Kind != "light" {
		out := []any{map[string]any{"type": "switch", "features": []any{state}}}
		for name, unit := range map[string]string{"power": "W", "voltage": "V", "current": "A", "energy": "kWh"} {
			out = append(out, map[string]any{"type": "numeric", "name": name, "property": name, "access": 5, "unit": unit})
		}
		return out
	}
	features := []any{state,
		feature("numeric", "brightness", map[string]any{"value_min": 0, "value_max": 254}),
		feature("numeric", "color_temp", map[string]any{"unit": "mired", "value_min": 153, "value_max": 500}),
	}
	if !d.spec.White {
		features = append(features, map[string]any{"type": "composite", "name": "color_xy", "property": "color", "access": 7,
			"features": []any{feature("numeric", "x", nil), feature("numeric", "y", nil)}})
	}
	return []any{map[string]any{"type": "light", "features": features}}
}

// shelly2FullStatus is a Shelly.GetStatus result: a plug's switch:0 or a
// light's rgbw:0 or cct:0, with the system components every device has.
func (d *dev) shelly2FullStatus() map[string]any {
	out := map[string]any{"sys": map[string]any{"mac": d.mac()}, "wifi": map[string]any{"sta_ip": "192.0.2.30", "status": "got ip"}, "mqtt": map[string]any{"connected": true}}
	for i, c := range d.components() {
		out[c] = d.shelly2Status(i)
	}
	return out
}

func (d *dev) pubRetainedJSON(topic string, v any) {
	b, _ := json.Marshal(v)
	d.pub(topic, string(b), true)
}
