package modbus

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// read is one request and the values its reply carries.
type read struct {
	unit  uint8
	req   rtu.Request
	items []fieldReg
}

// maxHole is the widest run of unused registers a merged read may span:
// reading a few spare registers is cheaper than another round trip.
const maxHole = 8

// planReads groups the registers of one unit into as few reads as it can.
func planReads(unit uint8, regs []fieldReg) []read {
	regs = append([]fieldReg(nil), regs...)
	sort.SliceStable(regs, func(i, j int) bool {
		if regs[i].reg.Table != regs[j].reg.Table {
			return regs[i].reg.Table < regs[j].reg.Table
		}
		return regs[i].reg.Addr < regs[j].reg.Addr
	})
	var out []read
	for _, fr := range regs {
		r := fr.reg
		end := int(r.Addr) + r.Type.width()
		if n := len(out); n > 0 {
			last := &out[n-1]
			start, lastEnd := int(last.req.Addr), int(last.req.Addr)+int(last.req.Value)
			limit := rtu.MaxReadRegisters
			if r.Table.bits() {
				limit = rtu.MaxReadBits
			}
			if funcOf(r.Table) == last.req.Func && int(r.Addr) <= lastEnd+maxHole && max(end, lastEnd)-start <= limit {
				last.req.Value = uint16(max(end, lastEnd) - start)
				last.items = append(last.items, fr)
				continue
			}
		}
		out = append(out, read{unit: unit, req: rtu.Request{Func: funcOf(r.Table), Addr: r.Addr, Value: uint16(end - int(r.Addr))}, items: []fieldReg{fr}})
	}
	return out
}

func funcOf(t Table) rtu.FuncCode {
	switch t {
	case Coil:
		return rtu.ReadCoils
	case Discrete:
		return rtu.ReadDiscrete
	case Holding:
		return rtu.ReadHolding
	}
	return rtu.ReadInput
}

// Address is the hub address of a device: "bus/unit/channel".
func Address(bus string, unit uint8, channel int) string {
	return fmt.Sprintf("%s/%d/%d", bus, unit, max(channel, 1))
}

// ParseAddress splits an address made by Address; the channel may be left
// out ("bus/unit" is channel 1).
func ParseAddress(a string) (bus string, unit uint8, channel int, err error) {
	parts := strings.Split(a, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return "", 0, 0, fmt.Errorf("%w: address %q is not bus/unit/channel", ErrConfig, a)
	}
	u, err := strconv.Atoi(parts[1])
	if err != nil || u < UnitMin || u > UnitMax {
		return "", 0, 0, fmt.Errorf("%w: address %q: unit must be %d..%d", ErrConfig, a, UnitMin, UnitMax)
	}
	channel = 1
	if len(parts) == 3 {
		channel, err = strconv.Atoi(parts[2])
		if err != nil || channel < 1 || channel > MaxChannels {
			return "", 0, 0, fmt.Errorf("%w: address %q: channel must be 1..%d", ErrConfig, a, MaxChannels)
		}
	}
	return parts[0], uint8(u), channel, nil
}

// Unit addresses a slave may have (0 is broadcast, 248..255 reserved).
const (
	UnitMin = 1
	UnitMax = 247
)

// node is one device as its bus goroutine sees it. Only that goroutine
// touches it after New.
type node struct {
	id         string
	unit       uint8
	sw, lvl    *Register // this channel's switch and level, if any
	state      []read    // switch and level
	meter      []read    // measurements, of the device itself or its meter
	meterEvery time.Duration
	nextMeter  time.Time
	lastLevel  int // last non-zero level, restored by "on" without a switch
	online     bool
	fails      int
	nextTry    time.Time
}

// newNode lays out one device against the profiles.
func newNode(d Device, profiles map[string]*Profile) (*node, error) {
	p := profiles[d.Profile]
	if p == nil {
		return nil, fmt.Errorf("%w: device %s: unknown profile %q", ErrConfig, d.ID, d.Profile)
	}
	ch := max(d.Channel, 1)
	if ch > max(p.Channels, 1) {
		return nil, fmt.Errorf("%w: device %s: profile %q has %d channels, not %d", ErrConfig, d.ID, p.Name, max(p.Channels, 1), ch)
	}
	if d.Unit < UnitMin || d.Unit > UnitMax {
		return nil, fmt.Errorf("%w: device %s: unit %d is outside %d..%d", ErrConfig, d.ID, d.Unit, UnitMin, UnitMax)
	}
	n := &node{id: d.ID, unit: d.Unit, meterEvery: d.MeterEvery, lastLevel: 100}
	if n.meterEvery <= 0 {
		n.meterEvery = DefaultMeterEvery
	}
	var st []fieldReg
	if p.Switch != nil {
		r := p.Switch.at(ch)
		n.sw = &r
		st = append(st, fieldReg{hub.FieldOn, r})
	}
	if p.Level != nil {
		r := p.Level.at(ch)
		n.lvl = &r
		st = append(st, fieldReg{hub.FieldBrightness, r})
	}
	n.state = planReads(d.Unit, st)
	n.meter = planReads(d.Unit, p.measures())
	if m := d.Meter; m != nil {
		mp := profiles[m.Profile]
		if mp == nil {
			return nil, fmt.Errorf("%w: device %s: meter: unknown profile %q", ErrConfig, d.ID, m.Profile)
		}
		if len(mp.measures()) == 0 {
			return nil, fmt.Errorf("%w: device %s: meter profile %q measures nothing", ErrConfig, d.ID, m.Profile)
		}
		if m.Unit < UnitMin || m.Unit > UnitMax {
			return nil, fmt.Errorf("%w: device %s: meter unit %d is outside %d..%d", ErrConfig, d.ID, m.Unit, UnitMin, UnitMax)
		}
		n.meter = append(n.meter, planReads(m.Unit, mp.measures())...)
	}
	return n, nil
}

// Fields is what the device d gives the hub: its profile's fields and its
// meter's measurements.
func Fields(d Device, profiles map[string]*Profile) hub.FieldSet {
	var s hub.FieldSet
	if p := profiles[d.Profile]; p != nil {
		s = p.Fields()
	}
	if d.Meter != nil {
		if p := profiles[d.Meter.Profile]; p != nil {
			s = s.Union(p.Fields().Intersect(hub.MeterFields))
		}
	}
	return s
}
