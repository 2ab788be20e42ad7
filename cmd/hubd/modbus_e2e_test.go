package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hubd/drivers/modbus/pymodbustest"
	"hubd/hub/yandex"
)

// writeModbusConfig is a config with the pymodbus slave's devices: relay
// channel 2 with the SDM120 attached, and the dimmer.
func writeModbusConfig(t *testing.T, port string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(`http:
  listen: 127.0.0.1:0
data_dir: %s
serial:
  - name: rs485
    port: %s
    baud: 19200
    protocol: modbus
    poll_interval: 100ms
modbus_profiles:
  - name: relay4
    channels: 4
    switch: {table: coil, address: 0}
    ident: {table: coil, address: 3, value: 0}   # only a 4-channel relay has coil 3
devices:
  - id: relay-1
    kind: socket
    driver: modbus
    bus: rs485
    address: 1
    profile: relay4
    channel: 2
    meter: {address: 3, profile: sdm120}
    meter_interval: 200ms
  - id: dim-1
    kind: light
    driver: modbus
    bus: rs485
    address: 2
    profile: dimmer
site:
  - id: b
    name: Building
    kind: building
    devices: [relay-1, dim-1]
yandex:
  users:
    - id: owner
      staff: true
      tokens: [%s]
`, filepath.Join(dir, "data"), port, yandex.HashToken(demoToken))
	p := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun_Modbus_ActionAndQueryAgainstPymodbus(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	s := pymodbustest.Start(t)
	d := startDaemon(t, "run", "-config", writeModbusConfig(t, s.Port))
	eventually(t, 10*time.Second, "relay-1 with its meter and dim-1 online", func() bool {
		got := query(t, d.addr, "relay-1", "dim-1")
		p, _ := got["relay-1"].value("power")
		_, dim := got["dim-1"].value("on")
		return p == "288" && dim
	})
	got := query(t, d.addr, "relay-1")["relay-1"]
	for inst, want := range map[string]string{"on": "false", "voltage": "230.5", "amperage": "1.25", "power": "288"} {
		if v, _ := got.value(inst); v != want {
			t.Errorf("relay-1 %s = %q, want %s (%+v)", inst, v, want, got)
		}
	}
	body := `{"payload":{"devices":[
		{"id":"relay-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},
		{"id":"dim-1","capabilities":[{"type":"devices.capabilities.range","state":{"instance":"brightness","value":40}}]}]}}`
	code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "a1", body)
	if code != 200 || strings.Count(string(data), `"DONE"`) != 2 {
		t.Fatalf("action: %d %s", code, data)
	}
	if v := s.Get(t, 1, "co", 1); v != "1" {
		t.Fatalf("relay coil 1 = %s after on", v)
	}
	if v := s.Get(t, 2, "hr", 0); v != "40" {
		t.Fatalf("dimmer register = %s after 40", v)
	}
	if on, _ := query(t, d.addr, "relay-1")["relay-1"].value("on"); on != "true" {
		t.Fatalf("query after action: on = %s", on)
	}
	// The slave falls silent: the relay becomes unreachable to Yandex.
	s.Do(t, "mute")
	eventually(t, 15*time.Second, "relay-1 unreachable", func() bool {
		return query(t, d.addr, "relay-1")["relay-1"].ErrorCode == "DEVICE_UNREACHABLE"
	})
}

func TestDemo_Modbus_Relay1InTheLobbySwitchesAndMeters(t *testing.T) {
	addr, m, _ := startDemo(t, DemoOptions{})
	if room, _ := m.Hub.Site().RoomOf("relay-1"); room == nil || room.Name != "Lobby" {
		t.Fatalf("relay-1 is in %+v, want the Lobby", room)
	}
	eventually(t, 10*time.Second, "relay-1 online with its meter", func() bool {
		_, ok := query(t, addr, "relay-1")["relay-1"].value("power")
		return ok
	})
	body := `{"payload":{"devices":[{"id":"relay-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	if code, data := yandexCall(t, addr, "/v1.0/user/devices/action", "a1", body); code != 200 || !strings.Contains(string(data), `"DONE"`) {
		t.Fatalf("action: %d %s", code, data)
	}
	// The emulated meter follows the relay: 120 W once it is on.
	eventually(t, 10*time.Second, "relay-1 drawing 120 W", func() bool {
		p, _ := query(t, addr, "relay-1")["relay-1"].value("power")
		return p == "120"
	})
	st := m.busStatus()
	if len(st) != 2 || st[1].Protocol != "modbus" || st[1].FramesIn == 0 {
		t.Fatalf("bus status %+v", st)
	}
}

func TestModbusScan_ListsSlavesProfilesAndConfiguredDevices(t *testing.T) {
	s := pymodbustest.Start(t)
	cfg := writeModbusConfig(t, s.Port)
	var out, errOut strings.Builder
	if err := run([]string{"modbus-scan", "-config", cfg, "-bus", "rs485", "-units", "1-4"}, nil, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{
		"rs485 (" + s.Port + "): 3 of 4 addresses answer",
		"unit 1: profile relay or relay4 (choose one); configured: relay-1",
		"unit 2: no profile recognizes it: give its devices a profile; configured: dim-1",
		"unit 3: profile sdm120 or sdm630 (choose one); configured: relay-1 (meter)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range [][]string{
		{"modbus-scan", "-config", cfg, "-bus", "nope"},
		{"modbus-scan", "-config", cfg, "-bus", "rs485", "-units", "0-3"},
		{"modbus-scan", "-config", cfg, "-bus", "rs485", "-units", "9-2"},
		{"modbus-scan", "-config", cfg, "-bus", "rs485", "-units", "x"},
	} {
		if err := run(bad, nil, &out, &errOut); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
