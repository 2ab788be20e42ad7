package hub

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Kind is what a device is to the people in the building.
type Kind string

const (
	KindLight  Kind = "light"
	KindSocket Kind = "socket"
)

// Field names one value of a device's state. Capabilities are expressed as
// the set of fields a device supports.
type Field uint8

const (
	FieldOn           Field = iota // bool: relay or lamp on
	FieldBrightness                // int percent 0..100
	FieldColor                     // HSV color
	FieldTemperatureK              // int kelvin (color temperature)
	FieldPower                     // float watts
	FieldVoltage                   // float volts
	FieldCurrent                   // float amperes
	FieldEnergy                    // float kilowatt-hours, cumulative

	NumFields = iota
)

var fieldNames = [NumFields]string{"on", "brightness", "color", "temperature_k", "power", "voltage", "current", "energy"}

func (f Field) String() string {
	if int(f) < NumFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// ParseField is the inverse of Field.String.
func ParseField(s string) (Field, bool) {
	for i, n := range fieldNames {
		if n == s {
			return Field(i), true
		}
	}
	return 0, false
}

// FieldSet is a set of fields, one bit each.
type FieldSet uint16

// Fields builds a set from its members.
func Fields(fs ...Field) FieldSet {
	var s FieldSet
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

func (s FieldSet) Has(f Field) bool              { return s&(1<<f) != 0 }
func (s FieldSet) With(f Field) FieldSet         { return s | 1<<f }
func (s FieldSet) Without(f Field) FieldSet      { return s &^ (1 << f) }
func (s FieldSet) Union(o FieldSet) FieldSet     { return s | o }
func (s FieldSet) Minus(o FieldSet) FieldSet     { return s &^ o }
func (s FieldSet) Contains(o FieldSet) bool      { return s&o == o }
func (s FieldSet) Empty() bool                   { return s == 0 }
func (s FieldSet) Intersect(o FieldSet) FieldSet { return s & o }

// List returns the members in field order.
func (s FieldSet) List() []Field {
	var out []Field
	for f := Field(0); f < NumFields; f++ {
		if s.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

func (s FieldSet) String() string {
	var b strings.Builder
	for i, f := range s.List() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// Common capability sets.
var (
	MeterFields = Fields(FieldPower, FieldVoltage, FieldCurrent, FieldEnergy)
	LightFields = Fields(FieldOn, FieldBrightness, FieldColor, FieldTemperatureK)
)

// HSV is a color: hue 0..360, saturation and value 0..100.
type HSV struct {
	H int `json:"h"`
	S int `json:"s"`
	V int `json:"v"`
}

// Valid reports whether every component is in range.
func (c HSV) Valid() bool {
	return c.H >= 0 && c.H <= 360 && c.S >= 0 && c.S <= 100 && c.V >= 0 && c.V <= 100
}

// ColorMode says which of a lamp's color fields is in effect.
type ColorMode uint8

const (
	ColorModeNone ColorMode = iota
	ColorModeHSV
	ColorModeTemperature
)

// State is a device's state: the values of the fields in Set, and the time
// each was last reported. Fields outside Set carry no meaning.
type State struct {
	Set          FieldSet
	On           bool
	Mode         ColorMode // which color field the lamp shows now (in the word of Set and On)
	Brightness   int       // percent 0..100
	Color        HSV
	TemperatureK int
	Power        float64 // W
	Voltage      float64 // V
	Current      float64 // A
	Energy       float64 // kWh

	// Updated is when each field was last reported (zero if never).
	Updated [NumFields]Stamp
}

// Stamp is a time as Unix nanoseconds, zero for none: a third of a
// time.Time, which counts with one State per device (10,000 devices
// keep 80,000 of them).
type Stamp int64

// StampOf is t as a Stamp; the zero time is zero, and a time outside the
// years 1678..2261 is held at the nearest end.
func StampOf(t time.Time) Stamp {
	const lo, hi = -9223372036, 9223372035 // whole seconds a Stamp holds
	switch sec := t.Unix(); {
	case t.IsZero():
		return 0
	case sec < lo:
		return Stamp(lo * int64(time.Second))
	case sec > hi:
		return Stamp(hi * int64(time.Second))
	}
	return Stamp(t.UnixNano())
}

// Time is s as a time in UTC; the zero time for zero.
func (s Stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

// Equal reports whether field f has the same value in s and o.
func (s *State) Equal(o *State, f Field) bool {
	if s.Set.Has(f) != o.Set.Has(f) {
		return false
	}
	switch f {
	case FieldOn:
		return s.On == o.On
	case FieldBrightness:
		return s.Brightness == o.Brightness
	case FieldColor:
		return s.Color == o.Color
	case FieldTemperatureK:
		return s.TemperatureK == o.TemperatureK
	case FieldPower:
		return s.Power == o.Power
	case FieldVoltage:
		return s.Voltage == o.Voltage
	case FieldCurrent:
		return s.Current == o.Current
	case FieldEnergy:
		return s.Energy == o.Energy
	}
	return true
}

// Merge copies the fields set in r into s, stamping them with at, and
// returns the fields whose value changed.
func (s *State) Merge(r *State, at time.Time) FieldSet {
	var changed FieldSet
	stamp := StampOf(at)
	for f := Field(0); f < NumFields; f++ {
		if !r.Set.Has(f) {
			continue
		}
		if !s.Equal(r, f) {
			changed = changed.With(f)
		}
		switch f {
		case FieldOn:
			s.On = r.On
		case FieldBrightness:
			s.Brightness = r.Brightness
		case FieldColor:
			s.Color = r.Color
		case FieldTemperatureK:
			s.TemperatureK = r.TemperatureK
		case FieldPower:
			s.Power = r.Power
		case FieldVoltage:
			s.Voltage = r.Voltage
		case FieldCurrent:
			s.Current = r.Current
		case FieldEnergy:
			s.Energy = r.Energy
		}
		s.Set = s.Set.With(f)
		s.Updated[f] = stamp
	}
	if r.Mode != ColorModeNone && r.Mode != s.Mode {
		s.Mode = r.Mode
		if r.Mode == ColorModeHSV {
			changed = changed.With(FieldColor)
		} else {
			changed = changed.With(FieldTemperatureK)
		}
	}
	return changed
}

// Validate checks that every set value is a finite number in its range.
func (s *State) Validate() error {
	bad := func(f Field, v any) error {
		return fmt.Errorf("%w: %s=%v", ErrInvalidValue, f, v)
	}
	if s.Set.Has(FieldBrightness) && (s.Brightness < 0 || s.Brightness > 100) {
		return bad(FieldBrightness, s.Brightness)
	}
	if s.Set.Has(FieldColor) && !s.Color.Valid() {
		return bad(FieldColor, s.Color)
	}
	if s.Set.Has(FieldTemperatureK) && (s.TemperatureK < 1000 || s.TemperatureK > 20000) {
		return bad(FieldTemperatureK, s.TemperatureK)
	}
	for _, f := range []Field{FieldPower, FieldVoltage, FieldCurrent, FieldEnergy} {
		if !s.Set.Has(f) {
			continue
		}
		v := s.Float(f)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < -1e9 || v > 1e9 {
			return bad(f, v)
		}
	}
	return nil
}

// Float returns a metering field's value.
func (s *State) Float(f Field) float64 {
	switch f {
	case FieldPower:
		return s.Power
	case FieldVoltage:
		return s.Voltage
	case FieldCurrent:
		return s.Current
	case FieldEnergy:
		return s.Energy
	}
	return 0
}

// Info is what a device says about itself when identified.
type Info struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Hardware     string `json:"hardware,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
}

// Device is a lamp or socket as configured: who it is, where it sits, which
// driver owns it, and what it can do.
type Device struct {
	ID     string
	Name   string
	Kind   Kind
	Room   string // id of the site node the device sits in
	Driver string // name of the owning driver ("serial", "mqtt")
	// Address locates the device within its driver: "bus0/5" for a serial
	// device, "tasmota/demo-lamp-2" for an MQTT one. Opaque to the hub.
	Address string
	// Fields the device supports.
	Fields FieldSet
	// Slow devices take longer than an API round trip to confirm; commands
	// to them are acknowledged as soon as they are sent.
	Slow bool
	// Pinned says which capabilities the configuration fixed; the others
	// follow what the device reports (Report.Caps, see Device.Learn).
	// (Next to Fields and Slow, in one word: the hub keeps a Device for
	// each of up to 10,000 devices.)
	Pinned Pin
	// Color temperature range in kelvin, when FieldTemperatureK is supported.
	TempMinK, TempMaxK int
	Info               Info
}

// Validate checks a device definition.
func (d *Device) Validate() error {
	if d.ID == "" || len(d.ID) > 128 {
		return fmt.Errorf("%w: id must be 1..128 characters", ErrInvalidDevice)
	}
	switch d.Kind {
	case KindLight, KindSocket:
	default:
		return fmt.Errorf("%w: %s: kind %q is not light or socket", ErrInvalidDevice, d.ID, d.Kind)
	}
	if d.Driver == "" {
		return fmt.Errorf("%w: %s: no driver", ErrInvalidDevice, d.ID)
	}
	if d.Fields.Has(FieldTemperatureK) {
		if d.TempMinK < 1000 || d.TempMaxK > 20000 || d.TempMinK >= d.TempMaxK {
			return fmt.Errorf("%w: %s: color temperature range %d..%d K", ErrInvalidDevice, d.ID, d.TempMinK, d.TempMaxK)
		}
	}
	return nil
}

// Snapshot is what the hub knows of a device at a moment.
type Snapshot struct {
	State    State
	LastSeen time.Time // last report of any kind from the device
	Online   bool      // the device (or its driver) says it is reachable
	Info     Info      // last identify
	Seq      uint64    // increases with every change to this device
	// Fault is the device's current problem; nil: none. Not persisted:
	// a restarted hub learns faults afresh.
	Fault *Fault
	// Link is the device's last reported link quality.
	Link Link
	// Caps is what the device last said it can do (zero: it never said),
	// kept so a restarted hub offers it as before, without waiting for
	// the device to say it again.
	Caps Caps
}

// Reachable reports whether the snapshot may be served as current: the
// device is online and was heard from within staleAfter (0: never stale).
func (s *Snapshot) Reachable(now time.Time, staleAfter time.Duration) bool {
	if !s.Online {
		return false
	}
	if staleAfter > 0 && now.Sub(s.LastSeen) > staleAfter {
		return false
	}
	return true
}
