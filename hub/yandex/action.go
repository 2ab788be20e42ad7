package yandex

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"hubd/hub"
)

// maxParallel bounds the devices one action request drives at once.
const maxParallel = 64

type actionResult struct {
	Status    string `json:"status"`
	ErrorCode string `json:"error_code,omitempty"`
	ErrorMsg  string `json:"error_message,omitempty"`
}

type actionCapOut struct {
	Type  string `json:"type"`
	State struct {
		Instance     string       `json:"instance"`
		ActionResult actionResult `json:"action_result"`
	} `json:"state"`
}

type actionDevOut struct {
	ID           string         `json:"id"`
	Capabilities []actionCapOut `json:"capabilities,omitempty"`
	ActionResult *actionResult  `json:"action_result,omitempty"`
}

type actionResponse struct {
	RequestID string `json:"request_id"`
	Payload   struct {
		Devices []actionDevOut `json:"devices"`
	} `json:"payload"`
}

func resultOf(err error) actionResult {
	if err == nil {
		return actionResult{Status: "DONE"}
	}
	_, code := classify(err)
	return actionResult{Status: "ERROR", ErrorCode: code, ErrorMsg: err.Error()}
}

// devPlan is what one device of an action request turns into.
type devPlan struct {
	out     actionDevOut
	capErrs []error // per capability: nil means "sent with the command"
	cmd     hub.Command
	run     bool
}

// plan checks each capability against the device and builds one command
// with every valid one.
func (h *Handler) plan(d actionDevice, sc hub.Scope) devPlan {
	p := devPlan{out: actionDevOut{ID: d.ID}}
	dev, snap, ok := h.hub.Snapshot(d.ID)
	if !ok || !sc.Staff && !h.hub.InScope(sc, d.ID) {
		r := resultOf(fmt.Errorf("%w: %q", hub.ErrNotFound, d.ID))
		p.out.ActionResult = &r
		return p
	}
	if !h.hub.Reachable(&snap) {
		r := resultOf(fmt.Errorf("%w: %s is offline or silent", hub.ErrUnreachable, d.ID))
		p.out.ActionResult = &r
		return p
	}
	p.cmd = hub.Command{Device: d.ID, Source: "yandex"}
	p.capErrs = make([]error, len(d.Capabilities))
	p.out.Capabilities = make([]actionCapOut, len(d.Capabilities))
	for i, c := range d.Capabilities {
		p.out.Capabilities[i].Type = c.Type
		p.out.Capabilities[i].State.Instance = c.State.Instance
		p.capErrs[i] = applyCap(&p.cmd.Set, &dev, &snap.State, c)
		if p.capErrs[i] == nil {
			p.run = true
		}
	}
	return p
}

// applyCap adds one capability of an action to set.
func applyCap(set *hub.State, dev *hub.Device, cur *hub.State, c actionCap) error {
	relative := c.State.Relative != nil && *c.State.Relative
	inst := c.State.Instance
	unsupported := func() error {
		return fmt.Errorf("%w: %s has no %s/%s", hub.ErrNotSupported, dev.ID, c.Type, clip(inst, 64))
	}
	invalid := func(why string) error {
		return fmt.Errorf("%w: %s %s", hub.ErrInvalidValue, clip(inst, 64), why)
	}
	if len(c.State.Value) == 0 || string(c.State.Value) == "null" {
		return fmt.Errorf("%w: %s: no value", ErrInvalidAction, clip(inst, 64))
	}
	switch c.Type {
	case capOnOff:
		if inst != "on" || !dev.Fields.Has(hub.FieldOn) {
			return unsupported()
		}
		if relative {
			return fmt.Errorf("%w: on_off can not be relative", ErrInvalidAction)
		}
		var v bool
		if err := json.Unmarshal(c.State.Value, &v); err != nil {
			return invalid("must be true or false")
		}
		set.On, set.Set = v, set.Set.With(hub.FieldOn)
		return nil

	case capRange:
		if inst != "brightness" || !dev.Fields.Has(hub.FieldBrightness) {
			return unsupported()
		}
		v, ok := number(c.State.Value)
		if !ok {
			return invalid("must be a number")
		}
		n := int(math.Round(v))
		if relative {
			if !cur.Set.Has(hub.FieldBrightness) {
				if cur.Set.Has(hub.FieldOn) && !cur.On {
					return fmt.Errorf("%w: %s has no brightness to change", ErrDeviceOff, dev.ID)
				}
				return fmt.Errorf("%w: %s: current brightness unknown", hub.ErrNotSupported, dev.ID)
			}
			n = min(max(cur.Brightness+n, brightMin), brightMax)
		} else if v < brightMin || v > brightMax {
			return invalid(fmt.Sprintf("%v is outside %d..%d", v, brightMin, brightMax))
		}
		set.Brightness, set.Set = n, set.Set.With(hub.FieldBrightness)
		return nil

	case capColor:
		if relative {
			return fmt.Errorf("%w: color can not be relative", ErrInvalidAction)
		}
		switch inst {
		case "hsv":
			if !dev.Fields.Has(hub.FieldColor) {
				return unsupported()
			}
			var raw struct{ H, S, V *float64 }
			if err := json.Unmarshal(c.State.Value, &raw); err != nil || raw.H == nil || raw.S == nil || raw.V == nil {
				return invalid(`must be {"h","s","v"}`)
			}
			hsv := hub.HSV{H: int(math.Round(*raw.H)), S: int(math.Round(*raw.S)), V: int(math.Round(*raw.V))}
			if !hsv.Valid() {
				return invalid("is outside h 0..360, s and v 0..100")
			}
			setColor(set, hsv)
			return nil
		case "rgb":
			if !dev.Fields.Has(hub.FieldColor) {
				return unsupported()
			}
			v, ok := number(c.State.Value)
			if !ok || v != math.Trunc(v) || v < 0 || v > maxRGB {
				return invalid("must be an integer 0..16777215")
			}
			setColor(set, rgbToHSV(int(v)))
			return nil
		case "temperature_k":
			v, ok := number(c.State.Value)
			if !ok {
				return invalid("must be a number")
			}
			if v < minKelvin || v > maxKelvin {
				return invalid(fmt.Sprintf("%v K is outside %d..%d K", v, minKelvin, maxKelvin))
			}
			k := int(math.Round(v))
			switch {
			case dev.Fields.Has(hub.FieldTemperatureK):
				// The platform's palette (1500..9000 K) is wider than most
				// lamps: take the nearest white the lamp can make.
				k = min(max(k, dev.TempMinK), dev.TempMaxK)
				set.Set = set.Set.With(hub.FieldTemperatureK).Without(hub.FieldColor)
				set.TemperatureK, set.Mode = k, hub.ColorModeTemperature
			case dev.Fields.Has(hub.FieldColor):
				// A color-only lamp shows the tint of that white instead.
				hsv := rgbToHSV(kelvinToRGB(k))
				hsv.V = 100
				if cur.Set.Has(hub.FieldColor) && cur.Color.V > 0 {
					hsv.V = cur.Color.V
				}
				setColor(set, hsv)
			default:
				return unsupported()
			}
			return nil
		}
		return unsupported()
	}
	return unsupported()
}

func setColor(set *hub.State, c hub.HSV) {
	set.Set = set.Set.With(hub.FieldColor).Without(hub.FieldTemperatureK)
	set.Color, set.Mode = c, hub.ColorModeHSV
}

// number decodes a JSON number.
func number(raw json.RawMessage) (float64, bool) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

type execDone struct {
	i   int
	err error
}

// serveAction runs each device's command in parallel and answers by
// ActionTimeout at the latest, whatever the devices do.
func (h *Handler) serveAction(c *call, w http.ResponseWriter, r *http.Request) error {
	if err := h.readBody(c, r); err != nil {
		return err
	}
	devs, err := decodeAction(c.body)
	c.nDevs = len(devs)
	for _, d := range devs {
		if len(c.ids) >= 8 {
			break
		}
		c.ids = append(c.ids, d.ID)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.ActionTimeout)
	defer cancel()

	plans := make([]devPlan, len(devs))
	done := make(chan execDone, len(devs))
	sem := make(chan struct{}, maxParallel)
	waiting := 0
	for i, d := range devs {
		plans[i] = h.plan(d, c.scope)
		if !plans[i].run {
			continue
		}
		waiting++
		cmd := plans[i].cmd
		go func(i int) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				done <- execDone{i, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())}
				return
			}
			err := h.hub.Execute(ctx, cmd)
			<-sem
			done <- execDone{i, err}
		}(i)
	}
	results := make([]error, len(devs))
	finished := make([]bool, len(devs))
wait:
	for waiting > 0 {
		select {
		case d := <-done:
			results[d.i], finished[d.i] = d.err, true
			waiting--
		case <-ctx.Done():
			break wait
		}
	}

	var resp actionResponse
	resp.RequestID = c.rid
	resp.Payload.Devices = make([]actionDevOut, len(devs))
	failed := 0
	for i := range plans {
		p := &plans[i]
		if p.run {
			execErr := results[i]
			if !finished[i] {
				execErr = fmt.Errorf("%w: %s within %v", ErrTimeout, p.cmd.Device, h.opts.ActionTimeout)
			}
			for k, e := range p.capErrs {
				if e == nil {
					e = execErr
				}
				p.out.Capabilities[k].State.ActionResult = resultOf(e)
			}
		} else {
			for k, e := range p.capErrs {
				p.out.Capabilities[k].State.ActionResult = resultOf(e)
			}
		}
		if p.out.ActionResult != nil || hasError(p.out.Capabilities) {
			failed++
		}
		resp.Payload.Devices[i] = p.out
	}
	b, err := json.Marshal(&resp)
	if err != nil {
		return err
	}
	c.result = fmt.Sprintf("%d/%d devices ok", len(devs)-failed, len(devs))
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

func hasError(cs []actionCapOut) bool {
	for _, c := range cs {
		if c.State.ActionResult.Status != "DONE" {
			return true
		}
	}
	return false
}
