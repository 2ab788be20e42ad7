package main

import (
	"hubd/drivers/modbus"
	"hubd/hub"
)

// keptDevices stands for a configuration's device list once the daemon
// has put it in force: the hub and the drivers hold the devices, and the
// list itself (224 bytes a device besides its capability lists, some
// 3 MB at 10,000 devices) would only be kept for the few questions asked
// of it later, which this answers.
type keptDevices struct {
	// hub is the running hub's devices, in the file's order (Hub.Devices):
	// the account commands and adoption derive the MQTT accounts from them
	// as from the file.
	hub func() []hub.Device
	// accounts is devices[].mqtt_account (mqttDeviceAccounts).
	accounts map[string]string
	// modbus is the Modbus devices, which a reload may not change
	// (checkModbusReload).
	modbus []modbus.Device
}

// kept is c as the running daemon keeps it once c is in force: the same
// but for its device list, given up for keptDevices; devices is the
// hub's (Hub.Devices). HubDevices, mqttDeviceAccounts, mqttAccounts and
// modbusOptions answer from it as they did from the list.
func (c *Config) kept(devices func() []hub.Device) *Config {
	if c.keptDevs != nil {
		return c
	}
	k := *c
	k.keptDevs = &keptDevices{hub: devices, accounts: c.mqttDeviceAccounts(), modbus: c.modbusDevices()}
	k.Devices = nil
	return &k
}

// modbusDevices is the configuration's Modbus devices.
func (c *Config) modbusDevices() []modbus.Device {
	if c.keptDevs != nil {
		return c.keptDevs.modbus
	}
	var out []modbus.Device
	for _, d := range c.Devices {
		if d.Driver == modbus.Name {
			out = append(out, d.modbusDevice())
		}
	}
	return out
}
