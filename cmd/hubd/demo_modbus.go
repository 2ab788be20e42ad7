package main

import (
	"fmt"
	"time"

	"hubd/drivers/modbus/modbussim"
	"hubd/firmware"
)

// The demo's Modbus bus: modbussim.Demo on a PTY, relay-1 in the Lobby
// being channel 1 of the relay at unit 1 with the SDM120 at unit 3.
const demoModbusBus = "demo-modbus"

// startDemoModbus serves the demo's Modbus slaves on a PTY in dir.
func startDemoModbus(dir string) (*firmware.Harness, error) {
	bus, err := modbussim.NewBus(modbussim.Demo()...)
	if err != nil {
		return nil, err
	}
	h, err := firmware.StartServer(dir, bus)
	if err != nil {
		return nil, fmt.Errorf("demo: modbus emulator: %w", err)
	}
	return h, nil
}

// addDemoModbus adds the Modbus bus on port and relay-1 in the Lobby to c.
func addDemoModbus(c *Config, port string) {
	c.Serial = append(c.Serial, SerialConfig{Name: demoModbusBus, Port: port, Baud: 19200, PollInterval: time.Second,
		Timeout: 200 * time.Millisecond, SerialLine: SerialLine{Protocol: protocolModbus}})
	c.Devices = append(c.Devices, DeviceConfig{ID: "relay-1", Name: "Lobby relay socket", Kind: "socket", Driver: "modbus",
		Bus: demoModbusBus, Address: 1, ModbusDevice: ModbusDevice{Profile: "relay", Channel: 1,
			Meter: &ModbusMeterConfig{Address: 3, Profile: "sdm120"}, MeterInterval: 2 * time.Second}})
	var walk func(ns []*NodeConfig)
	walk = func(ns []*NodeConfig) {
		for _, n := range ns {
			if n.ID == "lobby" {
				n.Devices = append(n.Devices, "relay-1")
			}
			walk(n.Children)
		}
	}
	walk(c.Site)
}
