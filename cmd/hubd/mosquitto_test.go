package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
)

// startBroker runs a real Mosquitto for the test; it skips without
// mosquitto or mosquitto_pub.
func startBroker(t *testing.T) *mosquittotest.Broker {
	t.Helper()
	if mosquittotest.Tool("mosquitto_pub") == "" {
		t.Skip("mosquitto_pub not installed: " + mosquittotest.Install)
	}
	return mosquittotest.Start(t)
}

// mosquittoPub publishes with Mosquitto's own client.
func mosquittoPub(t *testing.T, b *mosquittotest.Broker, topic, payload string) {
	t.Helper()
	out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", fmt.Sprint(b.Port()), "-t", topic, "-m", payload).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %s: %v %s", topic, err, out)
	}
}

// The MQTT issue's acceptance check, word for word: hubd demo on an
// external Mosquitto, state published with mosquitto_pub shows in
// devices/query; Mosquitto restarted, the devices answer again.
func TestDemo_Mosquitto_PublishedStateShowsInQuery(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	b := startBroker(t)
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir(), "-broker", b.URL())
	eventually(t, 15*time.Second, "MQTT devices online", func() bool {
		q := query(t, d.addr, "lamp-2", "socket-2", "lamp-3")
		for _, id := range []string{"lamp-2", "socket-2", "lamp-3"} {
			if _, ok := q[id].value("on"); !ok {
				return false
			}
		}
		return true
	})
	// The emulated devices are on (so a published OFF is a real change).
	on := `{"payload":{"devices":[` +
		`{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},` +
		`{"id":"lamp-3","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},` +
		`{"id":"socket-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	if code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "on", on); code != 200 || strings.Count(string(data), "DONE") != 3 {
		t.Fatalf("switching on: %d %s", code, data)
	}

	mosquittoPub(t, b, "tele/demo-lamp-2/STATE", `{"POWER":"OFF","Dimmer":20}`)
	eventually(t, 5*time.Second, "lamp-2 off at 20%", func() bool {
		l := query(t, d.addr, "lamp-2")["lamp-2"]
		on, _ := l.value("on")
		bri, _ := l.value("brightness")
		return on == "false" && bri == "20"
	})
	mosquittoPub(t, b, "zigbee2mqtt/demo-lamp-3", `{"state":"OFF"}`)
	eventually(t, 5*time.Second, "lamp-3 off", func() bool {
		on, _ := query(t, d.addr, "lamp-3")["lamp-3"].value("on")
		return on == "false"
	})
	mosquittoPub(t, b, "shellies/shellyplug-s-demo2/relay/0/power", "42.5")
	eventually(t, 5*time.Second, "socket-2 at 42.5 W", func() bool {
		p, _ := query(t, d.addr, "socket-2")["socket-2"].value("power")
		return p == "42.5"
	})

	// Garbage on a subscribed topic changes nothing.
	mosquittoPub(t, b, "tele/demo-lamp-2/STATE", `{"POWER":"OFF","Dimmer":"bright"`)
	mosquittoPub(t, b, "zigbee2mqtt/demo-lamp-3", `not json at all`)
	// A marker on the same topic, after the garbage: once it is applied,
	// the garbage before it has been handled too.
	mosquittoPub(t, b, "tele/demo-lamp-2/STATE", `{"POWER":"ON"}`)
	eventually(t, 5*time.Second, "lamp-2 on (the marker)", func() bool {
		on, _ := query(t, d.addr, "lamp-2")["lamp-2"].value("on")
		return on == "true"
	})
	if bri, _ := query(t, d.addr, "lamp-2")["lamp-2"].value("brightness"); bri != "20" {
		t.Fatalf("garbage changed lamp-2 brightness to %s", bri)
	}

	// Mosquitto goes away and comes back: the hub reconnects and its
	// devices answer commands again.
	b.Stop()
	time.Sleep(500 * time.Millisecond)
	b.Run()
	lampOn := `{"payload":{"devices":[{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	eventually(t, 30*time.Second, "lamp-2 answers after the broker restart", func() bool {
		code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "again", lampOn)
		return code == 200 && strings.Contains(string(data), "DONE")
	})
}
