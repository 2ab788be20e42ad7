package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// poll does one device's share of a cycle: its switch and level, and its
// measurements when they are due. It returns port errors and the error of
// a failed switch or level read.
func (b *bus) poll(ctx context.Context, n *node) error {
	now := time.Now()
	attempts := 1 + b.cfg.Retries
	if !n.online && n.fails >= b.cfg.OfflineAfter {
		// An offline slave gets one try now and then, so that a bus of
		// dead slaves does not starve the live ones.
		if now.Before(n.nextTry) {
			return nil
		}
		n.nextTry = now.Add(max(5*b.cfg.PollInterval, 2*time.Second))
		attempts = 1
	}
	var st hub.State
	for _, rd := range n.state {
		data, err := b.transact(ctx, rd.unit, rd.req, attempts)
		if err != nil {
			return b.failed(n, err)
		}
		if err := n.fill(&st, rd, data); err != nil {
			return b.failed(n, err)
		}
	}
	if len(n.meter) > 0 && !now.Before(n.nextMeter) {
		n.nextMeter = now.Add(n.meterEvery)
		if err := b.readMeter(ctx, n, &st, attempts); err != nil {
			return err
		}
	}
	if len(n.state) == 0 && st.Set.Empty() {
		return nil // a meter between two readings
	}
	b.alive(n, st)
	return nil
}

// readMeter reads n's measurements into st. A meter that fails does not
// take a relay channel offline; a device that is only a meter does go.
func (b *bus) readMeter(ctx context.Context, n *node, st *hub.State, attempts int) error {
	for _, rd := range n.meter {
		if err := b.pending(); err != nil {
			return err
		}
		data, err := b.transact(ctx, rd.unit, rd.req, attempts)
		if err == nil {
			err = n.fill(st, rd, data)
		}
		if err == nil {
			continue
		}
		if len(n.state) == 0 {
			return b.failed(n, err)
		}
		if errors.Is(err, ErrPortGone) {
			return err
		}
		b.log.Debug("meter read failed", "device", n.id, "unit", rd.unit, "err", err)
	}
	return nil
}

// fill decodes rd's reply into st.
func (n *node) fill(st *hub.State, rd read, data []byte) error {
	for _, it := range rd.items {
		v, err := decode(it.reg, rd.req.Addr, data)
		if err != nil {
			return err
		}
		switch it.field {
		case hub.FieldOn:
			st.On = v != 0
		case hub.FieldBrightness:
			lvl := int(math.Round(min(max(v, 0), 100)))
			if n.sw == nil {
				st.On = lvl > 0
				st.Set = st.Set.With(hub.FieldOn)
			}
			if lvl == 0 {
				continue // off: the level to come back to stays as it was
			}
			st.Brightness, n.lastLevel = lvl, lvl
		case hub.FieldPower:
			st.Power = v
		case hub.FieldVoltage:
			st.Voltage = v
		case hub.FieldCurrent:
			st.Current = v
		case hub.FieldEnergy:
			st.Energy = v
		}
		st.Set = st.Set.With(it.field)
	}
	return nil
}

// alive reports a device's state (and so that it answers).
func (b *bus) alive(n *node, st hub.State) {
	n.fails = 0
	n.online = true
	b.apply(hub.Report{Device: n.id, State: st, Avail: hub.AvailOnline})
}

// failed counts a failed poll and reports the device offline after
// OfflineAfter of them. It passes port errors through.
func (b *bus) failed(n *node, err error) error {
	if errors.Is(err, ErrPortGone) {
		return err
	}
	n.fails++
	if n.fails == b.cfg.OfflineAfter {
		n.nextTry = time.Now().Add(max(5*b.cfg.PollInterval, 2*time.Second))
		b.log.Warn("device not answering", "device", n.id, "unit", n.unit, "err", err)
		if n.online {
			b.event("warn", n.id, fmt.Sprintf("slave %d stopped answering: %v", n.unit, err))
		}
		n.online = false
		b.apply(hub.Report{Device: n.id, Avail: hub.AvailOffline})
	}
	return err
}

// supports checks a command against what the device can do.
func (n *node) supports(cmd hub.Command) error {
	can := hub.FieldSet(0)
	if n.sw != nil || n.lvl != nil {
		can = can.With(hub.FieldOn)
	}
	if n.lvl != nil {
		can = can.With(hub.FieldBrightness)
	}
	if extra := cmd.Set.Set.Minus(can); !extra.Empty() {
		return fmt.Errorf("%w: %s cannot set %v", hub.ErrNotSupported, n.id, extra)
	}
	return nil
}

// writes are the requests that apply set to n.
func (n *node) writes(set hub.State) ([]rtu.Request, error) {
	var out []rtu.Request
	if set.Set.Has(hub.FieldOn) && n.sw != nil {
		if n.sw.Table == Coil {
			v := uint16(rtu.CoilOff)
			if set.On {
				v = rtu.CoilOn
			}
			out = append(out, rtu.Request{Func: rtu.WriteCoil, Addr: n.sw.Addr, Value: v})
		} else {
			v := uint16(0)
			if set.On {
				v = 1
			}
			out = append(out, rtu.Request{Func: rtu.WriteRegister, Addr: n.sw.Addr, Value: v})
		}
	}
	if n.lvl == nil {
		return out, nil
	}
	level := -1
	switch {
	case set.Set.Has(hub.FieldOn) && !set.On && n.sw == nil:
		level = 0
	case set.Set.Has(hub.FieldBrightness):
		level = set.Brightness
	case set.Set.Has(hub.FieldOn) && n.sw == nil:
		level = n.lastLevel
	}
	if level < 0 {
		return out, nil
	}
	if level > 100 {
		return nil, fmt.Errorf("%w: brightness %d", hub.ErrInvalidValue, level)
	}
	v, err := encode16(*n.lvl, float64(level))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hub.ErrInvalidValue, err)
	}
	return append(out, rtu.Request{Func: rtu.WriteRegister, Addr: n.lvl.Addr, Value: v}), nil
}

// command carries one command: the writes, then a read back of the
// switch and level, which is reported and compared with what was asked.
// It returns only a port error; the command's own result goes to r.done.
func (b *bus) command(r *request) error {
	if err := r.ctx.Err(); err != nil {
		r.done <- err
		return nil
	}
	err := b.carry(r)
	r.done <- err
	if errors.Is(err, ErrPortGone) {
		return err
	}
	return nil
}

func (b *bus) carry(r *request) error {
	n := r.node
	reqs, err := n.writes(r.set)
	if err != nil {
		return err
	}
	attempts := 1 + b.cfg.Retries
	for _, w := range reqs {
		if _, err := b.transact(r.ctx, n.unit, w, attempts); err != nil {
			return exceptionErr(err)
		}
	}
	var st hub.State
	for _, rd := range n.state {
		data, err := b.transact(r.ctx, rd.unit, rd.req, attempts)
		if err != nil {
			return exceptionErr(err)
		}
		if err := n.fill(&st, rd, data); err != nil {
			return err
		}
	}
	b.alive(n, st)
	want := r.set
	switch {
	case want.Set.Has(hub.FieldOn) && st.On != want.On:
		return fmt.Errorf("%w: %s is %s", ErrNotConfirmed, n.id, onOff(st.On))
	case want.Set.Has(hub.FieldBrightness) && st.On && st.Brightness != want.Brightness:
		return fmt.Errorf("%w: %s is at %d%%, not %d%%", ErrNotConfirmed, n.id, st.Brightness, want.Brightness)
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// exceptionErr maps a slave's exception to the hub's errors.
func exceptionErr(err error) error {
	var ex *rtu.ExceptionError
	if !errors.As(err, &ex) {
		return err
	}
	switch ex.Code {
	case rtu.ExIllegalFunction, rtu.ExIllegalAddress:
		return fmt.Errorf("%w: %w", hub.ErrNotSupported, err)
	case rtu.ExIllegalValue:
		return fmt.Errorf("%w: %w", hub.ErrInvalidValue, err)
	case rtu.ExDeviceBusy, rtu.ExAcknowledge:
		return fmt.Errorf("%w: %w", hub.ErrBusy, err)
	}
	return err
}
