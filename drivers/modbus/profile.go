package modbus

import (
	"fmt"
	"math"

	"hubd/hub"
)

// Table is one of Modbus's four data tables.
type Table uint8

const (
	Coil     Table = iota + 1 // read/write bits
	Discrete                  // read-only bits
	Holding                   // read/write 16-bit registers
	Input                     // read-only 16-bit registers
)

var tableNames = map[Table]string{Coil: "coil", Discrete: "discrete", Holding: "holding", Input: "input"}

func (t Table) String() string {
	if n, ok := tableNames[t]; ok {
		return n
	}
	return fmt.Sprintf("table(%d)", uint8(t))
}

// ParseTable is the inverse of Table.String.
func ParseTable(s string) (Table, bool) {
	for t, n := range tableNames {
		if n == s {
			return t, true
		}
	}
	return 0, false
}

func (t Table) bits() bool { return t == Coil || t == Discrete }

// Type is how a value is stored in its registers.
type Type uint8

const (
	Bool    Type = iota + 1 // one coil or discrete input
	Uint16                  // one register
	Int16                   // one register, two's complement
	Uint32                  // two registers
	Int32                   // two registers, two's complement
	Float32                 // two registers, IEEE 754
)

var typeNames = map[Type]string{Bool: "bool", Uint16: "uint16", Int16: "int16", Uint32: "uint32", Int32: "int32", Float32: "float32"}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, bool) {
	for t, n := range typeNames {
		if n == s {
			return t, true
		}
	}
	return 0, false
}

// width is how many coils or registers a value of t takes.
func (t Type) width() int {
	if t == Uint32 || t == Int32 || t == Float32 {
		return 2
	}
	return 1
}

// Register says where one value lives and how it is stored. The value the
// hub sees is the stored number times Scale.
type Register struct {
	Table Table
	Addr  uint16 // protocol address (0-based), of channel 1
	Type  Type   // zero: Bool in coil and discrete tables, Uint16 in registers
	Scale float64
	// WordSwap: a 32-bit value comes low word first (the default is high
	// word first, as Eastron meters send it).
	WordSwap bool
	// ByteSwap: the two bytes of each register are swapped (little endian).
	ByteSwap bool
	// Stride is the address distance between two channels; zero: the
	// value's width, so channel n is at Addr + (n-1)*width.
	Stride uint16
}

// normal fills in Register's zero values.
func (r Register) normal() Register {
	if r.Type == 0 {
		r.Type = Uint16
		if r.Table.bits() {
			r.Type = Bool
		}
	}
	if r.Scale == 0 {
		r.Scale = 1
	}
	if r.Stride == 0 {
		r.Stride = uint16(r.Type.width())
	}
	return r
}

// at is r for channel ch (1-based).
func (r Register) at(ch int) Register {
	r = r.normal()
	r.Addr += uint16(ch-1) * r.Stride
	return r
}

// Profile maps a kind of device to its registers. A device is one channel
// of it: a relay module's channel is a socket or a switched lamp, a
// dimmer's channel a dimmable lamp, a meter measures one circuit.
type Profile struct {
	Name     string
	Channels int // how many channels the device has; 0: 1

	// Switch is the on/off of a channel: a coil, or a holding register
	// where non-zero is on (1 is written for on).
	Switch *Register
	// Level is the brightness of a channel, a holding register, in percent
	// after Scale. Without a Switch, level 0 is off, and "on" restores the
	// last level.
	Level *Register

	// Measurements, read at the device's meter interval: watts, volts,
	// amperes, kilowatt-hours after Scale. They are per device, not per
	// channel (Stride is ignored).
	Power, Voltage, Current, Energy *Register

	// Ident recognizes the profile's devices in a bus scan; nil: a scan
	// never proposes the profile.
	Ident *Ident
}

// Ident is a register that reads on a profile's devices, optionally with a
// given value (after Scale).
type Ident struct {
	Register
	Value *float64 // nil: any value
}

// MaxChannels bounds Profile.Channels.
const MaxChannels = 256

// measures lists the measurement registers of p with their fields.
func (p *Profile) measures() []fieldReg {
	var out []fieldReg
	for _, m := range []struct {
		f hub.Field
		r *Register
	}{{hub.FieldPower, p.Power}, {hub.FieldVoltage, p.Voltage}, {hub.FieldCurrent, p.Current}, {hub.FieldEnergy, p.Energy}} {
		if m.r != nil {
			out = append(out, fieldReg{m.f, m.r.normal()})
		}
	}
	return out
}

type fieldReg struct {
	field hub.Field
	reg   Register
}

// Fields is what a channel of p gives the hub.
func (p *Profile) Fields() hub.FieldSet {
	var s hub.FieldSet
	if p.Switch != nil || p.Level != nil {
		s = s.With(hub.FieldOn)
	}
	if p.Level != nil {
		s = s.With(hub.FieldBrightness)
	}
	for _, m := range p.measures() {
		s = s.With(m.field)
	}
	return s
}

// Validate checks a profile; its errors wrap ErrConfig and name the
// profile and register at fault.
func (p *Profile) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: profile %q: %s", ErrConfig, p.Name, fmt.Sprintf(format, args...))
	}
	if p.Name == "" {
		return bad("has no name")
	}
	if p.Channels < 0 || p.Channels > MaxChannels {
		return bad("channels %d is outside 0..%d", p.Channels, MaxChannels)
	}
	if p.Fields().Empty() {
		return bad("has no switch, level or measurement")
	}
	chans := max(p.Channels, 1)
	if r := p.Switch; r != nil {
		if err := r.check(chans, r.Table == Coil || (r.Table == Holding && r.normal().Type.width() == 1)); err != nil {
			return bad("switch: %v (a switch is a coil or a 16-bit holding register)", err)
		}
	}
	if r := p.Level; r != nil {
		if err := r.check(chans, r.Table == Holding && r.normal().Type.width() == 1); err != nil {
			return bad("level: %v (a level is a 16-bit holding register)", err)
		}
	}
	for _, m := range p.measures() {
		if err := m.reg.check(1, !m.reg.Table.bits()); err != nil {
			return bad("%v: %v (a measurement is a holding or input register)", m.field, err)
		}
	}
	if id := p.Ident; id != nil {
		if err := id.Register.check(1, true); err != nil {
			return bad("ident: %v", err)
		}
	}
	return nil
}

// check validates r for chans channels; fits says whether its table and
// type suit the use.
func (r Register) check(chans int, fits bool) error {
	if _, ok := tableNames[r.Table]; !ok {
		return fmt.Errorf("table %v is not coil, discrete, holding or input", r.Table)
	}
	n := r.normal()
	if _, ok := typeNames[n.Type]; !ok {
		return fmt.Errorf("unknown type %v", n.Type)
	}
	if n.Table.bits() != (n.Type == Bool) {
		return fmt.Errorf("type %v does not fit the %v table", n.Type, n.Table)
	}
	if !fits {
		return fmt.Errorf("%v %v does not fit", n.Table, n.Type)
	}
	if math.IsNaN(n.Scale) || math.IsInf(n.Scale, 0) {
		return fmt.Errorf("scale %v is not a number", n.Scale)
	}
	if last := int(n.Addr) + (chans-1)*int(n.Stride) + n.Type.width(); last > 0x10000 {
		return fmt.Errorf("address %d with %d channels runs past 65535", n.Addr, chans)
	}
	return nil
}

// Builtin profiles. Eastron's registers are from the SDM120 and SDM630
// Modbus protocol documents: input registers, float32, high word first.
var Builtin = []Profile{
	{Name: "relay", Channels: 64, Switch: &Register{Table: Coil, Addr: 0}, Ident: &Ident{Register: Register{Table: Coil}}},
	{Name: "dimmer", Channels: 16, Level: &Register{Table: Holding, Addr: 0}},
	{
		Name:    "sdm120",
		Voltage: &Register{Table: Input, Addr: 0x0000, Type: Float32},
		Current: &Register{Table: Input, Addr: 0x0006, Type: Float32},
		Power:   &Register{Table: Input, Addr: 0x000C, Type: Float32},
		Energy:  &Register{Table: Input, Addr: 0x0156, Type: Float32},
		Ident:   sdmIdent,
	},
	{
		Name:    "sdm630",
		Voltage: &Register{Table: Input, Addr: 0x002A, Type: Float32}, // average line to neutral
		Current: &Register{Table: Input, Addr: 0x0030, Type: Float32}, // sum of line currents
		Power:   &Register{Table: Input, Addr: 0x0034, Type: Float32}, // total system power
		Energy:  &Register{Table: Input, Addr: 0x0156, Type: Float32}, // total active energy
		Ident:   sdmIdent,
	},
}

// sdmIdent: Eastron meters answer their total energy register. It does not
// tell an SDM120 from an SDM630: a scan proposes both and asks.
var sdmIdent = &Ident{Register: Register{Table: Input, Addr: 0x0156, Type: Float32}}

// Profiles merges custom profiles with the builtin ones and validates
// them all. A custom profile may not reuse a builtin name.
func Profiles(custom []Profile) (map[string]*Profile, error) {
	out := map[string]*Profile{}
	for i := range Builtin {
		p := Builtin[i]
		out[p.Name] = &p
	}
	for i := range custom {
		p := custom[i]
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("%w: profile %q is defined twice (or is a builtin)", ErrConfig, p.Name)
		}
		out[p.Name] = &p
	}
	return out, nil
}
