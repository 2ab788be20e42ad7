package main

import (
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

// modbusConfig has a Modbus bus with a relay channel that has a meter, a
// dimmer and a custom 8-channel relay profile on holding registers.
const modbusConfig = `
http:
  listen: 127.0.0.1:0
serial:
  - name: rs485
    port: /dev/ttyUSB1
    baud: 19200
    parity: E
    stop_bits: 1
    protocol: modbus
modbus_profiles:
  - name: relay8-hr
    channels: 8
    switch: {table: holding, address: 100, stride: 1}
devices:
  - id: relay-1
    kind: socket
    driver: modbus
    bus: rs485
    address: 1
    profile: relay
    channel: 2
    meter: {address: 3, profile: sdm120}
    meter_interval: 5s
  - id: dim-1
    kind: light
    driver: modbus
    bus: rs485
    address: 2
    profile: dimmer
  - id: light-8
    kind: light
    driver: modbus
    bus: rs485
    address: 4
    profile: relay8-hr
    channel: 8
site:
  - id: b
    name: B
    devices: [relay-1, dim-1, light-8]
`

func TestConfig_Modbus_BusesDevicesAndProfiles(t *testing.T) {
	c, err := ParseConfig("config.yaml", []byte(modbusConfig))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.HubDevices()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		addr   string
		fields hub.FieldSet
	}{
		"relay-1": {"rs485/1/2", hub.MeterFields.With(hub.FieldOn)},
		"dim-1":   {"rs485/2/1", hub.Fields(hub.FieldOn, hub.FieldBrightness)},
		"light-8": {"rs485/4/8", hub.Fields(hub.FieldOn)},
	}
	for _, d := range devs {
		w := want[d.ID]
		if d.Driver != "modbus" || d.Address != w.addr || d.Fields != w.fields {
			t.Errorf("%s: driver %s address %s fields %v; want modbus %s %v", d.ID, d.Driver, d.Address, d.Fields, w.addr, w.fields)
		}
	}
	o := modbusOptions(c)
	if len(o.Buses) != 1 || o.Buses[0].Baud != 19200 || o.Buses[0].Parity != 'E' || o.Buses[0].StopBits != 1 {
		t.Fatalf("buses %+v", o.Buses)
	}
	if m := o.Devices[0].Meter; m == nil || m.Unit != 3 || m.Profile != "sdm120" || o.Devices[0].MeterEvery != 5*time.Second {
		t.Fatalf("relay-1 %+v", o.Devices[0])
	}
	if len(serialOptions(c, devs, &Main{Hub: nil}).Buses) != 0 {
		t.Fatal("the modbus bus was given to the hubd-protocol driver too")
	}
}

func TestConfig_Modbus_DefaultBaudIs9600(t *testing.T) {
	c, err := ParseConfig("config.yaml", []byte(strings.Replace(modbusConfig, "    baud: 19200\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Serial[0].Baud != 9600 {
		t.Fatalf("baud %d, want 9600", c.Serial[0].Baud)
	}
}

func TestConfig_Modbus_ErrorsNameTheirLine(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"protocol", "protocol: modbus", "protocol: profibus", `config.yaml:10: serial bus "rs485": protocol "profibus"`},
		{"parity", "parity: E", "parity: X", `config.yaml:8: serial bus "rs485": parity "X"`},
		{"stop bits", "stop_bits: 1", "stop_bits: 3", `config.yaml:9: serial bus "rs485": stop_bits 3`},
		{"unknown profile", "profile: dimmer", "profile: dimmr", `config.yaml:25: modbus: invalid configuration: device dim-1: unknown profile "dimmr"`},
		{"channel", "channel: 8", "channel: 9", `config.yaml:31: modbus: invalid configuration: device light-8: profile "relay8-hr" has 8 channels, not 9`},
		{"unit", "address: 2\n", "address: 300\n", `config.yaml:25: modbus: invalid configuration: device dim-1: unit 0`},
		{"meter profile", "profile: sdm120", "profile: relay", `meter profile "relay" measures nothing`},
		{"profile table", "table: holding", "table: eeprom", `config.yaml:14: modbus profile "relay8-hr": switch: table "eeprom" is not coil`},
		{"profile type", "stride: 1}", "stride: 1, type: float32}", `config.yaml:12: modbus: invalid configuration: profile "relay8-hr": switch: holding float32 does not fit`},
		{"profile twice", "name: relay8-hr", "name: relay", `profile "relay" is defined twice`},
		{"ident table", "stride: 1}", "stride: 1}\n    ident: {table: rom, address: 1}", `config.yaml:15: modbus profile "relay8-hr": ident: table "rom"`},
		{"ident type", "stride: 1}", "stride: 1}\n    ident: {table: input, type: bool}", `profile "relay8-hr": ident: type bool does not fit the input table`},
		{"same channel", "channel: 2\n", "channel: 1\n    meter: {address: 3, profile: sdm120}\n  - id: relay-2\n    kind: socket\n    driver: modbus\n    bus: rs485\n    address: 1\n    channel: 1\n    profile: relay\n", "share rs485/1/1"},
		{"serial driver on modbus bus", "driver: modbus\n    bus: rs485\n    address: 2", "driver: serial\n    bus: rs485\n    address: 2", `device "dim-1": bus "rs485" speaks modbus`},
		{"modbus driver on hubd bus", "protocol: modbus", "protocol: hubd", `bus "rs485" is not a serial bus with protocol: modbus`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(modbusConfig, tc.from, tc.to, 1)
			if text == modbusConfig {
				t.Fatalf("%q not in the config", tc.from)
			}
			_, err := ParseConfig("config.yaml", []byte(text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReload_ModbusChangesNeedARestart(t *testing.T) {
	parse := func(text string) *Config {
		t.Helper()
		c, err := ParseConfig("config.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The config in force is kept without its device list (kept): its
	// Modbus devices are compared all the same.
	for _, old := range []*Config{parse(modbusConfig), parse(modbusConfig).kept(nil)} {
		if err := checkModbusReload(old, parse(strings.Replace(modbusConfig, "name: B", "name: Renamed", 1))); err != nil {
			t.Fatalf("a reload that leaves Modbus alone: %v", err)
		}
		for _, change := range [][2]string{
			{"channel: 8", "channel: 7"},
			{"baud: 19200", "baud: 9600"},
			{"address: 100", "address: 101"},
			{"meter_interval: 5s", "meter_interval: 6s"},
		} {
			if err := checkModbusReload(old, parse(strings.Replace(modbusConfig, change[0], change[1], 1))); err == nil {
				t.Errorf("%s -> %s was taken by a reload (old config kept: %v)", change[0], change[1], old.Devices == nil)
			}
		}
	}
}
