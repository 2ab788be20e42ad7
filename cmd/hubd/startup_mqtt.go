package main

import (
	"hubd/drivers/mqtt"
	"hubd/hub"
)

// openMQTTAside builds the MQTT driver (its topic tables and device
// accounts for every device: 100-150 ms with 10,000) on another core
// while the hub is made from the same devices and its saved states; the
// returned wait gives its error once it is done. The driver reaches the
// hub only through Apply and Events (mqttOptions), which it calls from
// Run on.
func (m *Main) openMQTTAside(c *Config, devs []hub.Device) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		// The options read the config and the credentials, which nothing
		// changes while Open runs.
		d, err := mqtt.New(mqttOptions(c, devs, m))
		m.MQTT = d
		done <- err
	}()
	return func() error { return <-done }
}
