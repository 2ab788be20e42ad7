package main

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/drivers/modbus"
	"hubd/hub"
)

// Serial bus protocols: hubd's own (the default) and Modbus RTU.
const (
	protocolHubd   = "hubd"
	protocolModbus = "modbus"
)

// ModbusConfig is what Modbus adds at the top of the file. Inlined in
// Config.
type ModbusConfig struct {
	ModbusProfiles []ModbusProfileConfig `yaml:"modbus_profiles"`
}

// SerialLine is the part of a serial bus's config that Modbus adds:
// character format and protocol. Inlined in SerialConfig.
type SerialLine struct {
	Parity   string `yaml:"parity"`    // N (default), E or O
	StopBits int    `yaml:"stop_bits"` // 1 (default) or 2
	Protocol string `yaml:"protocol"`  // hubd (default) or modbus
}

// ModbusDevice is the part of a device's config that Modbus adds.
// Inlined in DeviceConfig; Address is the slave's unit address.
type ModbusDevice struct {
	Profile       string             `yaml:"profile"`        // builtin or modbus_profiles name
	Channel       int                `yaml:"channel"`        // 1-based channel of the profile; default 1
	Meter         *ModbusMeterConfig `yaml:"meter"`          // an energy meter attached to this device
	MeterInterval time.Duration      `yaml:"meter_interval"` // default 10s
}

// ModbusMeterConfig is an energy meter on the same bus.
type ModbusMeterConfig struct {
	Address int    `yaml:"address"`
	Profile string `yaml:"profile"`
}

// ModbusProfileConfig is a custom profile (drivers/modbus.Profile).
type ModbusProfileConfig struct {
	Name     string                `yaml:"name"`
	Channels int                   `yaml:"channels"`
	Switch   *ModbusRegisterConfig `yaml:"switch"`
	Level    *ModbusRegisterConfig `yaml:"level"`
	Power    *ModbusRegisterConfig `yaml:"power"`
	Voltage  *ModbusRegisterConfig `yaml:"voltage"`
	Current  *ModbusRegisterConfig `yaml:"current"`
	Energy   *ModbusRegisterConfig `yaml:"energy"`
	Ident    *ModbusIdentConfig    `yaml:"ident"` // for modbus-scan
}

// ModbusIdentConfig is a register that reads, optionally with value, on
// the profile's devices: how modbus-scan recognizes them.
type ModbusIdentConfig struct {
	ModbusRegisterConfig `yaml:",inline"`
	Value                *float64 `yaml:"value"`
}

// ModbusRegisterConfig is one register of a profile.
type ModbusRegisterConfig struct {
	Table     string  `yaml:"table"`      // coil, discrete, holding, input
	Address   int     `yaml:"address"`    // 0-based protocol address
	Type      string  `yaml:"type"`       // bool, uint16, int16, uint32, int32, float32
	Scale     float64 `yaml:"scale"`      // value = stored * scale; default 1
	WordOrder string  `yaml:"word_order"` // big (high word first, default) or little
	ByteOrder string  `yaml:"byte_order"` // big (default) or little
	Stride    int     `yaml:"stride"`     // address step between channels
}

func (s SerialConfig) isModbus() bool { return s.Protocol == protocolModbus }

// defaultBaud is 9600 for Modbus (meters' factory setting), 115200 for
// hubd's protocol.
func (s SerialConfig) defaultBaud() int {
	if s.isModbus() {
		return 9600
	}
	return 115200
}

// validateModbus checks what Modbus adds: bus protocols and line formats,
// custom profiles, and Modbus devices against buses and profiles.
func (c *Config) validateModbus(root *yaml.Node, add func(line int, format string, args ...any)) {
	protocol := map[string]string{}
	for i, s := range c.Serial {
		switch s.Protocol {
		case "", protocolHubd, protocolModbus:
		default:
			add(lineOf(root, "serial", i, "protocol"), "serial bus %q: protocol %q is not hubd or modbus", s.Name, s.Protocol)
		}
		switch s.Parity {
		case "", "N", "E", "O":
		default:
			add(lineOf(root, "serial", i, "parity"), "serial bus %q: parity %q is not N, E or O", s.Name, s.Parity)
		}
		if s.StopBits != 0 && s.StopBits != 1 && s.StopBits != 2 {
			add(lineOf(root, "serial", i, "stop_bits"), "serial bus %q: stop_bits %d is not 1 or 2", s.Name, s.StopBits)
		}
		if !s.isModbus() && (s.Parity != "" || s.StopBits != 0) {
			add(lineOf(root, "serial", i), "serial bus %q: parity and stop_bits are for protocol: modbus (hubd's protocol is 8N1)", s.Name)
		}
		protocol[s.Name] = s.Protocol
	}
	bad := false
	for i, p := range c.ModbusProfiles {
		named := true
		for key, r := range p.registers() {
			if msg := r.badName(); msg != "" {
				add(lineOf(root, "modbus_profiles", i, key), "modbus profile %q: %s: %s", p.Name, key, msg)
				named = false
			}
		}
		prof := p.toProfile()
		if !named {
			bad = true
		} else if err := prof.Validate(); err != nil {
			add(lineOf(root, "modbus_profiles", i), "%v", err)
			bad = true
		}
	}
	if bad {
		return
	}
	if _, err := modbus.Profiles(c.modbusProfiles()); err != nil {
		add(lineOf(root, "modbus_profiles"), "%v", err)
		return
	}
	for i, d := range c.Devices {
		onModbus := protocol[d.Bus] == protocolModbus
		switch {
		case d.Driver == "serial" && onModbus:
			add(lineOf(root, "devices", i, "bus"), "device %q: bus %q speaks modbus; use driver: modbus", d.ID, d.Bus)
		case d.Driver != modbus.Name:
			continue
		case !onModbus:
			add(lineOf(root, "devices", i, "bus"), "device %q: bus %q is not a serial bus with protocol: modbus", d.ID, d.Bus)
			continue
		}
		if d.Driver == modbus.Name {
			one := modbus.Options{Buses: []modbus.BusConfig{{Name: d.Bus, Port: "-"}}, Devices: []modbus.Device{d.modbusDevice()}, Profiles: c.modbusProfiles()}
			if _, err := modbus.New(one); err != nil {
				add(lineOf(root, "devices", i), "%v", err)
				bad = true
			}
		}
	}
	if !bad {
		// The whole set: two devices on one channel, a bus defined twice.
		if _, err := modbus.New(modbusOptions(c)); err != nil {
			add(lineOf(root, "devices"), "%v", err)
		}
	}
}

// modbusProfiles are the custom profiles of the file.
func (c *Config) modbusProfiles() []modbus.Profile {
	var out []modbus.Profile
	for _, p := range c.ModbusProfiles {
		out = append(out, p.toProfile())
	}
	return out
}

func (p ModbusProfileConfig) toProfile() modbus.Profile {
	return modbus.Profile{
		Name: p.Name, Channels: p.Channels,
		Switch: p.Switch.toRegister(), Level: p.Level.toRegister(),
		Power: p.Power.toRegister(), Voltage: p.Voltage.toRegister(),
		Current: p.Current.toRegister(), Energy: p.Energy.toRegister(),
		Ident: p.Ident.toIdent(),
	}
}

func (id *ModbusIdentConfig) toIdent() *modbus.Ident {
	if id == nil {
		return nil
	}
	return &modbus.Ident{Register: *id.toRegister(), Value: id.Value}
}

// registers are p's registers by their key in the file.
func (p ModbusProfileConfig) registers() map[string]*ModbusRegisterConfig {
	out := map[string]*ModbusRegisterConfig{}
	for k, r := range map[string]*ModbusRegisterConfig{"switch": p.Switch, "level": p.Level, "power": p.Power, "voltage": p.Voltage, "current": p.Current, "energy": p.Energy} {
		if r != nil {
			out[k] = r
		}
	}
	if p.Ident != nil {
		out["ident"] = &p.Ident.ModbusRegisterConfig
	}
	return out
}

// badName says what in r does not parse, or "".
func (r *ModbusRegisterConfig) badName() string {
	order := func(s string) bool { return s == "" || s == "big" || s == "little" }
	if _, ok := modbus.ParseTable(r.Table); !ok {
		return fmt.Sprintf("table %q is not coil, discrete, holding or input", r.Table)
	}
	if _, ok := modbus.ParseType(r.Type); !ok && r.Type != "" {
		return fmt.Sprintf("type %q is not bool, uint16, int16, uint32, int32 or float32", r.Type)
	}
	if r.Address < 0 || r.Address > 0xFFFF || r.Stride < 0 || r.Stride > 0xFFFF {
		return fmt.Sprintf("address %d and stride %d must be 0..65535", r.Address, r.Stride)
	}
	if !order(r.WordOrder) || !order(r.ByteOrder) {
		return fmt.Sprintf("word_order %q and byte_order %q must be big or little", r.WordOrder, r.ByteOrder)
	}
	return ""
}

// toRegister converts a register whose names parse (badName is "").
func (r *ModbusRegisterConfig) toRegister() *modbus.Register {
	if r == nil {
		return nil
	}
	t, _ := modbus.ParseTable(r.Table)
	ty, _ := modbus.ParseType(r.Type)
	return &modbus.Register{Table: t, Type: ty, Addr: uint16(r.Address), Stride: uint16(r.Stride), Scale: r.Scale,
		WordSwap: r.WordOrder == "little", ByteSwap: r.ByteOrder == "little"}
}

func (d DeviceConfig) modbusDevice() modbus.Device {
	md := modbus.Device{ID: d.ID, Bus: d.Bus, Unit: unitOf(d.Address), Profile: d.Profile, Channel: d.Channel, MeterEvery: d.MeterInterval}
	if m := d.Meter; m != nil {
		md.Meter = &modbus.Meter{Unit: unitOf(m.Address), Profile: m.Profile}
	}
	return md
}

// unitOf maps an address outside 1..247 to 0, which modbus.New refuses.
func unitOf(a int) uint8 {
	if a < modbus.UnitMin || a > modbus.UnitMax {
		return 0
	}
	return uint8(a)
}

// modbusHubDevice fills in the hub's view of a Modbus device: its address
// and, unless the file lists capabilities, the fields of its profile and
// meter.
func (c *Config) modbusHubDevice(d DeviceConfig, dev *hub.Device) {
	dev.Driver = modbus.Name
	dev.Address = modbus.Address(d.Bus, unitOf(d.Address), d.Channel)
	if len(d.Capabilities) > 0 {
		return
	}
	profiles, err := modbus.Profiles(c.modbusProfiles())
	if err != nil {
		return
	}
	dev.Fields = modbus.Fields(d.modbusDevice(), profiles)
}

// modbusOptions builds the driver's options from the file.
func modbusOptions(c *Config) modbus.Options {
	var o modbus.Options
	for _, s := range c.Serial {
		if !s.isModbus() {
			continue
		}
		var parity byte
		if s.Parity != "" {
			parity = s.Parity[0]
		}
		o.Buses = append(o.Buses, modbus.BusConfig{
			Name: s.Name, Port: s.Port, PollInterval: s.PollInterval, Timeout: s.Timeout,
			Line: modbus.Line{Baud: s.Baud, Parity: parity, StopBits: s.StopBits},
		})
	}
	o.Devices = c.modbusDevices()
	o.Profiles = c.modbusProfiles()
	return o
}

// describeModbus is check-config's summary of the Modbus side.
func describeModbus(c *Config) string {
	buses, devs := 0, 0
	for _, s := range c.Serial {
		if s.isModbus() {
			buses++
		}
	}
	for _, d := range c.Devices {
		if d.Driver == modbus.Name {
			devs++
		}
	}
	if buses == 0 {
		return ""
	}
	return fmt.Sprintf(", %d modbus buses with %d devices and %d custom profiles", buses, devs, len(c.ModbusProfiles))
}
