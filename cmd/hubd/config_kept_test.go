package main

import (
	"reflect"
	"testing"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// keptSpecs are MQTT devices of every dialect.
func keptSpecs() []mqttsim.Spec {
	return append(accountSpecs(),
		mqttsim.Spec{ID: "strip-1", Dialect: mqttsim.Tasmota, Name: "strip", Kind: hub.KindSocket},
		mqttsim.Spec{ID: "plug-2", Dialect: mqttsim.Shelly2, Name: "shellyplusplugs-a1", Kind: hub.KindSocket})
}

// The daemon keeps a config in force without its device list: the
// questions later asked of the list (the MQTT accounts, the Modbus
// devices a reload may not change) get the answers the whole file gave.
func TestKept_AnswersAsTheDeviceList(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", keptSpecs(), func(c *Config) {
		for i := range c.Devices {
			if c.Devices[i].ID == "plug-2" {
				c.Devices[i].MQTTAccount = "kitchen" // an account of its own
			}
		}
		// The second relay of strip-1: one login for both.
		for _, d := range c.Devices {
			if d.ID == "strip-1" {
				d.ID, d.Name, d.Channel = "strip-1b", "Strip relay 2", 2
				c.Devices = append(c.Devices, d)
				break
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.HubDevices()
	if err != nil {
		t.Fatal(err)
	}
	k := c.kept(func() []hub.Device { return devs })
	if k.Devices != nil || c.Devices == nil {
		t.Fatalf("kept config has %d devices listed, the file's %d", len(k.Devices), len(c.Devices))
	}
	if k.kept(nil) != k {
		t.Fatal("keeping a kept config made another")
	}
	want, err := c.mqttAccounts()
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.mqttAccounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 || !reflect.DeepEqual(got, want) {
		t.Fatalf("accounts of the kept config:\n%+v\nof the file:\n%+v", got, want)
	}
	if a := k.mqttDeviceAccounts(); a["plug-2"] != "kitchen" || len(a) != 1 {
		t.Fatalf("kept devices[].mqtt_account: %v", a)
	}
	if got, _ := k.HubDevices(); !reflect.DeepEqual(got, devs) {
		t.Fatalf("kept HubDevices: %d devices, want the hub's %d", len(got), len(devs))
	}
	for _, text := range []string{modbusConfig} {
		full, err := ParseConfig("m.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if o := modbusOptions(full.kept(nil)); len(o.Devices) == 0 || !reflect.DeepEqual(o, modbusOptions(full)) {
			t.Fatalf("Modbus options of the kept config: %+v, want %+v", o, modbusOptions(full))
		}
	}
}

// A running daemon's config has no device list once it has started, nor
// after a reload; its accounts follow the hub's devices.
func TestDaemon_KeepsNoDeviceList(t *testing.T) {
	dir := t.TempDir()
	path := mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", accountSpecs(), nil)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.mqttAccounts()
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: c}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	defer m.Hub.Close()
	defer m.DB.Close()
	if n := len(m.config().Devices); n != 0 {
		t.Fatalf("started daemon keeps a list of %d devices", n)
	}
	if got, err := m.config().mqttAccounts(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("accounts after start: %+v, %v; want %+v", got, err, want)
	}
	// A reload that adds a device: its account is there, the list is not.
	path = mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", keptSpecs(), nil)
	if err := m.Reload(path); err != nil {
		t.Fatal(err)
	}
	if n := len(m.config().Devices); n != 0 {
		t.Fatalf("reloaded daemon keeps a list of %d devices", n)
	}
	accts, err := m.config().mqttAccounts()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range accts {
		names = append(names, a.Name)
	}
	if len(accts) != len(want)+2 {
		t.Fatalf("accounts after a reload adding two devices: %v (before: %d)", names, len(want))
	}
}
