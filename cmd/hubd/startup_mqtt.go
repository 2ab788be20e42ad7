package main

import (
	"hubd/drivers/mqtt"
	"hubd/hub"
)

// openMQTTAside builds the MQTT driver (its topic tables and device
// accounts for every device: 100-150 ms with 10,000) on another core
// while the hub is made from the same devices and its saved states; the
// returned wait gives its error once it is done. The driver reaches the
// hub only through Apply and Events, which nothing calls before Run.
func (m *Main) openMQTTAside(c *Config, devs []hub.Device) (wait func() error) {
	o := mqttOptions(c, devs, m)
	o.Apply = func(r hub.Report) error { return m.Hub.Apply(r) }
	o.Events = func(ev hub.Event) { m.Hub.LogEvent(ev) }
	done := make(chan error, 1)
	go func() {
		d, err := mqtt.New(o)
		m.MQTT = d
		done <- err
	}()
	return func() error { return <-done }
}
