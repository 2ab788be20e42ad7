package mqttsim

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Shelly Gen2+ emulation, after Shelly's RPC documentation: a plug has
// switch:0 (Switch.*; with Relays n, switch:0..n-1, as a Plus 2PM), a
// light rgbw:0 (RGBW.*) or, White, cct:0 (CCT.*).
// Every call is answered on <src>/rpc; a change is announced with
// NotifyStatus on <prefix>/events/rpc and the whole component status on
// <prefix>/status/<component>.

// CCT range of the emulated cct light, which it declares in its config
// (ct_range): narrower than the common 2700..6500 K, so that a hub that
// reads it can be told from one that assumes.
const (
	CCTMinK = 3000
	CCTMaxK = 6000
)

// Gen2 RPC error codes the emulator answers with.
const (
	rpcInvalidArgument = -103
	rpcNotFound        = -105
	rpcNoHandler       = 404
)

// components are the device's output components.
func (d *dev) components() []string {
	if d.spec.Kind != "light" {
		out := make([]string, 1+len(d.st.more))
		for i := range out {
			out[i] = "switch:" + strconv.Itoa(i)
		}
		return out
	}
	return []string{d.component()}
}

// component is the device's first output component.
func (d *dev) component() string {
	switch {
	case d.spec.Kind != "light":
		return "switch:0"
	case d.spec.White:
		return "cct:0"
	}
	return "rgbw:0"
}

// namespace is the RPC namespace of the device's output component.
func (d *dev) namespace() string {
	switch d.component() {
	case "cct:0":
		return "CCT"
	case "rgbw:0":
		return "RGBW"
	}
	return "Switch"
}

// Light is a Gen2 light's state: on, brightness, rgb and, for cct, the
// color temperature in kelvin.
func (s *Sim) Light(name string) (on bool, brightness int, rgb [3]int, kelvin int) {
	d, err := s.dev(name)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.on, d.st.bri, d.st.rgb, d.st.kelvin
}

// shelly2Status is the status of output component id (a light has 0).
func (d *dev) shelly2Status(id int) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	switch d.component() {
	case "cct:0":
		return map[string]any{"id": 0, "source": "init", "output": st.on, "brightness": st.bri, "ct": st.kelvin}
	case "rgbw:0":
		return map[string]any{"id": 0, "source": "init", "output": st.on, "brightness": st.bri, "rgb": st.rgb[:], "white": st.white}
	}
	on := d.relayOn(id + 1)
	p := onOff(on, st.power, 0)
	return map[string]any{
		"id": id, "source": "init", "output": on, "apower": p, "voltage": st.voltage,
		"current": math.Round(p/st.voltage*1000) / 1000, "aenergy": map[string]any{"total": math.Round(st.energyWh*1000) / 1000},
		"temperature": map[string]float64{"tC": 40.1},
	}
}

// shelly2Config is the config of the output component.
func (d *dev) shelly2Config() map[string]any {
	c := map[string]any{"id": 0, "name": nil, "initial_state": "restore_last"}
	if d.component() == "cct:0" {
		c["ct_range"] = []int{CCTMinK, CCTMaxK}
	}
	return c
}

// rpcRequest is a Gen2 RPC request frame with the parameters of the
// output methods.
type rpcRequest struct {
	ID     json.RawMessage `json:"id"`
	Src    string          `json:"src"`
	Method string          `json:"method"`
	Params struct {
		ID         int       `json:"id"`
		On         *bool     `json:"on"`
		Brightness *float64  `json:"brightness"`
		CT         *float64  `json:"ct"`
		RGB        []float64 `json:"rgb"`
		White      *float64  `json:"white"`
	} `json:"params"`
}

func (d *dev) shelly2Cmd(p []byte) {
	var req rpcRequest
	if err := json.Unmarshal(p, &req); err != nil || req.Src == "" {
		return
	}
	reply := map[string]any{"id": req.ID, "src": d.spec.Name, "dst": req.Src}
	ns := d.namespace()
	changed := false
	switch fail := d.rpcFail.Load(); req.Method {
	case ns + ".Set", ns + ".Toggle":
		switch {
		case fail != nil:
			reply["error"] = fail
		case req.Params.ID < 0 || req.Params.ID >= len(d.components()):
			reply["error"] = rpcError{Code: rpcNotFound, Message: "Component not found"}
		default:
			wasOn := d.isOn(req.Params.ID)
			var e *rpcError
			changed, e = d.shelly2Set(&req)
			if e != nil {
				reply["error"] = e
				break
			}
			reply["result"] = nil
			if ns == "Switch" {
				reply["result"] = map[string]bool{"was_on": wasOn}
			}
		}
	case ns + ".GetStatus":
		reply["result"] = d.shelly2Status(req.Params.ID)
	case ns + ".GetConfig":
		reply["result"] = d.shelly2Config()
	case "Shelly.GetStatus":
		reply["result"] = d.shelly2FullStatus()
	case "Shelly.GetConfig":
		reply["result"] = map[string]any{d.component(): d.shelly2Config()}
	case "Shelly.GetDeviceInfo":
		reply["result"] = map[string]any{
			"name": nil, "id": d.spec.Name, "mac": d.mac(), "slot": 0, "model": d.model(), "gen": 2,
			"fw_id": "20231107-164738/" + d.firmware() + "-g8c7bb8d", "ver": d.firmware(), "app": "PlusPlugS",
			"auth_en": false, "auth_domain": nil,
		}
	default:
		reply["error"] = rpcError{Code: rpcNoHandler, Message: "No handler for " + req.Method}
	}
	d.pubJSON(req.Src+"/rpc", reply)
	if changed {
		d.shelly2Notify(req.Params.ID)
	}
}

func (d *dev) isOn(id int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.relayOn(id + 1)
}

// shelly2Report publishes every output component's status.
func (d *dev) shelly2Report() {
	for i, c := range d.components() {
		d.pubJSON(d.spec.Name+"/status/"+c, d.shelly2Status(i))
	}
}

// shelly2Set applies a Set or Toggle call; it reports whether the output
// changed, or the error a value out of the documented range earns.
func (d *dev) shelly2Set(req *rpcRequest) (bool, *rpcError) {
	pr := &req.Params
	bad := func(what string) (bool, *rpcError) {
		return false, &rpcError{Code: rpcInvalidArgument, Message: "Invalid argument '" + what + "'"}
	}
	if pr.Brightness != nil && (*pr.Brightness < 0 || *pr.Brightness > 100) {
		return bad("brightness")
	}
	if pr.CT != nil && (d.component() != "cct:0" || *pr.CT < CCTMinK || *pr.CT > CCTMaxK) {
		return bad("ct")
	}
	if pr.RGB != nil && (d.component() != "rgbw:0" || len(pr.RGB) != 3 || slicesOut(pr.RGB, 0, 255)) {
		return bad("rgb")
	}
	if pr.White != nil && (d.component() != "rgbw:0" || *pr.White < 0 || *pr.White > 255) {
		return bad("white")
	}
	d.cmds.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	was := *st
	switch {
	case req.Method == d.namespace()+".Toggle":
		d.setRelay(pr.ID+1, !d.relayOn(pr.ID+1))
	case pr.On != nil:
		d.setRelay(pr.ID+1, *pr.On)
	}
	if pr.Brightness != nil {
		st.bri = int(*pr.Brightness)
	}
	if pr.CT != nil {
		st.kelvin = int(*pr.CT)
	}
	for i, v := range pr.RGB {
		st.rgb[i] = int(v)
	}
	if pr.White != nil {
		st.white = int(*pr.White)
	}
	return was.on != st.on || was.bri != st.bri || was.kelvin != st.kelvin || was.rgb != st.rgb || was.white != st.white ||
		(pr.ID > 0 && st.more[pr.ID-1] != was.more[pr.ID-1]), nil
}

func slicesOut(v []float64, lo, hi float64) bool {
	for _, x := range v {
		if x < lo || x > hi {
			return true
		}
	}
	return false
}

// shelly2Notify announces a change of output component id: NotifyStatus
// with its new members and, for a plug, a second one with its power as
// the meter catches up.
func (d *dev) shelly2Notify(id int) {
	st := d.shelly2Status(id)
	comp := d.components()[id]
	changed := map[string]any{"id": id, "output": st["output"], "source": "MQTT"}
	for _, k := range []string{"brightness", "ct", "rgb", "white"} {
		if v, ok := st[k]; ok {
			changed[k] = v
		}
	}
	notify := func(m map[string]any) {
		d.pubJSON(d.spec.Name+"/events/rpc", map[string]any{
			"src": d.spec.Name, "dst": d.spec.Name + "/events", "method": "NotifyStatus",
			"params": map[string]any{"ts": float64(time.Now().UnixMilli()) / 1000, comp: m},
		})
	}
	notify(changed)
	if d.namespace() == "Switch" {
		notify(map[string]any{"id": id, "apower": st["apower"]})
	}
	d.pubJSON(d.spec.Name+"/status/"+comp, st)
}
