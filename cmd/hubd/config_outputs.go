package main

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt"
)

// MQTTOutput is what names one output of a multi-output MQTT device in a
// device entry, beside its topic. Inlined in DeviceConfig, with the
// `channel` key the Modbus devices use (ModbusDevice.Channel), 1-based:
//
//	tasmota   channel: n     POWER<n>, 1..8 (1 or none: POWER, the first)
//	shelly    channel: n     relay/<n-1>, 1..4 (1 or none: relay/0)
//	shelly2   component: c   switch:N, light:N, cct:N, rgb:N or rgbw:N (none: switch:0)
type MQTTOutput struct {
	Component string `yaml:"component,omitempty"`
}

// mqttAddress is the mqtt driver's address of MQTT device entry d. An
// output the entry names wrongly is left out (validateOutputs says so).
func mqttAddress(d DeviceConfig) string {
	a := mqtt.Address{Dialect: configDialect[d.Driver], Topic: d.Topic}
	switch d.Driver {
	case "tasmota":
		if d.Channel >= 2 && d.Channel <= mqtt.MaxTasmotaChannel {
			a.Channel = d.Channel
		}
	case "shelly":
		if d.Channel >= 2 && d.Channel <= mqtt.MaxShelly1Relay+1 {
			a.Channel = d.Channel - 1
		}
	case "shelly2":
		if _, err := mqtt.SplitAddress(mqtt.DialectShelly2 + ":x:" + d.Component); d.Component != "" && err == nil {
			a.Component = d.Component
		}
	}
	return a.String()
}

// configDialect maps the config's MQTT driver names to address dialects.
var configDialect = map[string]string{}

func init() {
	for dialect, driver := range dialectDriver {
		configDialect[driver] = dialect
	}
}

// setMQTTOutput fills the topic and output of entry d from a found
// device's address.
func setMQTTOutput(d *DeviceConfig, a mqtt.Address) {
	d.Driver, d.Topic = dialectDriver[a.Dialect], a.Topic
	switch a.Dialect {
	case mqtt.DialectTasmota:
		if a.Channel > 0 {
			d.Channel = a.Channel
		}
	case mqtt.DialectShelly1:
		if a.Channel > 0 {
			d.Channel = a.Channel + 1
		}
	case mqtt.DialectShelly2:
		if a.Component != "" && a.Component != "switch:0" {
			d.Component = a.Component
		}
	}
}

// validateOutputs checks the channel and component of MQTT devices: in
// range, and only where the driver has them.
func (c *Config) validateOutputs(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	for i, d := range c.Devices {
		add := func(key, format string, args ...any) {
			es = append(es, ConfigError{File: name, Line: lineOf(root, "devices", i, key), Msg: fmt.Sprintf("device %q: ", d.ID) + fmt.Sprintf(format, args...)})
		}
		top := map[string]int{"tasmota": mqtt.MaxTasmotaChannel, "shelly": mqtt.MaxShelly1Relay + 1}[d.Driver]
		switch {
		case d.Channel == 0 || d.Driver == "modbus" || d.Driver == "serial":
		case top == 0:
			add("channel", "driver %s has no channel%s", d.Driver, map[bool]string{true: " (a Gen2 output is named by component: switch:1, light:0, cct:0, ...)"}[d.Driver == "shelly2"])
		case d.Channel < 1 || d.Channel > top:
			add("channel", "%s channel %d is outside 1..%d", d.Driver, d.Channel, top)
		}
		if d.Component == "" {
			continue
		}
		if d.Driver != "shelly2" {
			add("component", "component is for shelly2 devices")
			continue
		}
		if _, err := mqtt.SplitAddress(mqtt.DialectShelly2 + ":x:" + d.Component); err != nil {
			add("component", "component %s is not switch, light, cct, rgb or rgbw :0..%d (switch:0 is the default: leave it out)", strconv.Quote(d.Component), mqtt.MaxShelly2ComponentID)
		}
	}
	return es
}
