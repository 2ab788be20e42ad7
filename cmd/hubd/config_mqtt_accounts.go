package main

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"hubd/drivers/mqtt"
)

// mqttDeviceAccounts is the config's devices[].mqtt_account: device id ->
// account, for the devices that name one (the others use
// mqtt.DefaultAccount).
func (c *Config) mqttDeviceAccounts() map[string]string {
	if c.keptDevs != nil {
		return c.keptDevs.accounts
	}
	out := map[string]string{}
	for _, d := range c.Devices {
		if d.MQTTAccount != "" {
			out[d.ID] = d.MQTTAccount
		}
	}
	return out
}

// mqttAccounts derives the device accounts of the config's MQTT devices and
// their ACLs, exactly as the embedded broker does.
func (c *Config) mqttAccounts() ([]mqtt.Account, error) {
	if c.MQTT == nil {
		return nil, nil
	}
	devs, err := c.HubDevices()
	if err != nil {
		return nil, err
	}
	m := c.MQTT
	return mqtt.Accounts(mqtt.Options{
		Devices: devs, DeviceAccounts: c.mqttDeviceAccounts(),
		TasmotaFullTopic: m.TasmotaFullTopic, Z2MBase: m.Z2MBase, ClientID: m.ClientID,
	})
}

// validateMQTTAccounts checks devices[].mqtt_account: a usable name, on
// an MQTT device, and not the hub's own username.
func (c *Config) validateMQTTAccounts(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	for i, d := range c.Devices {
		if d.MQTTAccount == "" {
			continue
		}
		line := lineOf(root, "devices", i, "mqtt_account")
		add := func(format string, args ...any) {
			es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case !isMQTTDriver(d.Driver):
			add("device %q: mqtt_account is for MQTT devices", d.ID)
		case mqtt.CheckAccountName(d.MQTTAccount) != nil:
			add("device %q: mqtt_account %q must be 1..64 bytes without spaces, ':', '/', '+' or '#'", d.ID, d.MQTTAccount)
		case c.MQTT != nil && d.MQTTAccount == c.MQTT.Username:
			add("device %q: mqtt_account %q is the hub's own MQTT username", d.ID, d.MQTTAccount)
		}
	}
	if c.MQTT == nil || c.MQTT.Username == "" {
		return es
	}
	// A device without mqtt_account is called after its id: that may not
	// be the hub's username either.
	for i, d := range c.Devices {
		if d.MQTTAccount == "" && isMQTTDriver(d.Driver) && d.ID == c.MQTT.Username {
			es = append(es, ConfigError{File: name, Line: lineOf(root, "devices", i, "id"),
				Msg: fmt.Sprintf("device %q: its MQTT account would be called like the hub's username %q: set mqtt_account", d.ID, c.MQTT.Username)})
		}
	}
	return es
}

// isMQTTDriver reports whether a device config's driver is one of the
// MQTT dialects (not serial or modbus), whose devices have accounts.
func isMQTTDriver(driver string) bool {
	switch driver {
	case "tasmota", "zigbee2mqtt", "shelly", "shelly2":
		return true
	}
	return false
}
