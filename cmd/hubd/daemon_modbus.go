package main

import (
	"errors"
	"reflect"

	"hubd/drivers/modbus"
	"hubd/hub"
)

// openModbus builds the Modbus driver when the file has Modbus buses.
func (m *Main) openModbus() error {
	o := modbusOptions(m.Config)
	if len(o.Buses) == 0 {
		return nil
	}
	o.Apply, o.Logger, o.Events = m.Hub.Apply, m.Log, m.Hub.Log
	d, err := modbus.New(o)
	if err != nil {
		return err
	}
	m.Modbus = d
	m.Hub.SetDriver(modbus.Name, d)
	return nil
}

// busStatus is every serial bus, of either protocol, for the status page
// and /metrics.
func (m *Main) busStatus() []hub.BusStatus {
	var out []hub.BusStatus
	if m.Serial != nil {
		out = append(out, m.Serial.Status()...)
	}
	if m.Modbus != nil {
		out = append(out, m.Modbus.Status()...)
	}
	return out
}

// checkModbusReload refuses a reload that changes Modbus buses, devices or
// profiles: the driver takes them only at start.
func checkModbusReload(old, c *Config) error {
	if !reflect.DeepEqual(modbusOptions(old), modbusOptions(c)) {
		return errors.New("reload: changing modbus buses, devices or profiles needs a restart")
	}
	return nil
}
