package main

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/mqttsim"
)

// The whole daemon, every device on its own account, tried from the LAN
// with one plug's credentials: it cannot switch the lamp, forge the lamp's
// state as Yandex sees it, read "#" or pose as the hub; the devices' own
// traffic works.
func TestSecurity_PlugAccountCannotRunTheBuilding(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	broker := freePort(t)
	specs := accountSpecs()
	cfg := mqttRunConfig(t, dir, broker, "hubd", "hub-pass-1", specs, nil)
	login := storeDeviceAccounts(t, cfg)
	d := startDaemon(t, "run", "-config", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: "tcp://" + broker, Devices: specs, Login: login, Telemetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	eventually(t, 15*time.Second, "every device online on its own account", func() bool {
		return mustScrape(t, d.addr).sum("hubd_devices", `state="online"`) == float64(len(specs))
	})
	lampOn := func() string { v, _ := query(t, d.addr, "lamp-1")["lamp-1"].value("on"); return v }
	if lampOn() != "false" {
		t.Fatalf("lamp-1 on = %q before the attack", lampOn())
	}

	hubC, err := mqttConnect(broker, "observer", "hubd", "hub-pass-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer hubC.Disconnect(0)
	seen := make(chan string, 16)
	filters := map[string]byte{"cmnd/lamp-one/#": 1, "tele/lamp-one/#": 1, "hubd/#": 1, "test/marker": 1}
	hubC.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) { seen <- m.Topic() + " " + string(m.Payload()) }).WaitTimeout(5 * time.Second)
	untilMarker(t, hubC, seen, "retained") // the hub's retained availability

	user, pass := login(specs[1]) // the plug's
	evil, err := mqttConnect(broker, "evil", user, pass, 5*time.Second)
	if err != nil {
		t.Fatalf("the plug's own credentials: %v", err)
	}
	defer evil.Disconnect(0)
	for _, p := range [][2]string{
		{"cmnd/lamp-one/POWER", "ON"},
		{"tele/lamp-one/STATE", `{"POWER":"ON","Dimmer":100}`},
		{"hubd/hubd-fault-test/availability", "offline"},
	} {
		if tok := evil.Publish(p[0], 1, false, p[1]); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	if got := untilMarker(t, hubC, seen, "end"); len(got) > 0 {
		t.Errorf("the plug's messages reached the broker's subscribers: %q", got)
	}
	if sim.On("lamp-one") || lampOn() != "false" {
		t.Errorf("the plug's account switched or forged the lamp (device on %v, Yandex on %q)", sim.On("lamp-one"), lampOn())
	}
	tok := evil.Subscribe("#", 1, func(paho.Client, paho.Message) {})
	tok.WaitTimeout(5 * time.Second)
	if code := tok.(*paho.SubscribeToken).Result()["#"]; code != 0x80 {
		t.Errorf("the plug's subscribe to # got %#x, want 0x80", code)
	}
	met := mustScrape(t, d.addr)
	if p, s := met.sum("hubd_mqtt_acl_denied_total", `account="plug-1"`, `action="publish"`), met.sum("hubd_mqtt_acl_denied_total", `account="plug-1"`, `action="subscribe"`); p != 3 || s != 1 {
		t.Errorf("plug-1's refusals in /metrics: %v publishes, %v subscribes; want 3 and 1", p, s)
	}

	// The hub's own command still goes through, confirmed by the plug.
	body := `{"payload":{"devices":[{"id":"plug-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	if code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "a1", body); code != 200 || !strings.Contains(string(data), `"DONE"`) {
		t.Fatalf("switching the plug: %d %s", code, data)
	}
	if !sim.On("shellyplug-s-1") {
		t.Error("the plug did not switch on the hub's command")
	}
	if n := mustScrape(t, d.addr).sum("hubd_mqtt_acl_denied_total"); n != 4 {
		t.Errorf("refusals after the devices' own traffic = %v, want only the plug's 4", n)
	}
}

// untilMarker publishes a marker through c and returns what seen got
// before it.
func untilMarker(t *testing.T, c paho.Client, seen chan string, tag string) []string {
	t.Helper()
	c.Publish("test/marker", 1, false, tag).WaitTimeout(5 * time.Second)
	var got []string
	for {
		select {
		case m := <-seen:
			if m == "test/marker "+tag {
				return got
			}
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("marker %q never arrived", tag)
		}
	}
}

// The demo's MQTT devices log in with their own device accounts, and all
// their traffic, commands answered included, stays within their ACLs.
func TestDemo_MQTTDevicesOnTheirOwnAccounts(t *testing.T) {
	start := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	addr, m, _ := startDemo(t, DemoOptions{})
	ids := []string{"lamp-2", "socket-2", "lamp-3"}
	eventually(t, 15*time.Second, "the demo's MQTT devices online", func() bool {
		q := query(t, addr, ids...)
		for _, id := range ids {
			if _, ok := q[id].value("on"); !ok {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		body := `{"payload":{"devices":[{"id":"` + id + `","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
		if code, data := yandexCall(t, addr, "/v1.0/user/devices/action", "a-"+id, body); code != 200 || !strings.Contains(string(data), `"DONE"`) {
			t.Errorf("%s: %d %s", id, code, data)
		}
	}
	accts := m.MQTT.Accounts()
	if len(accts) != 3 {
		t.Errorf("demo accounts %+v, want lamp-2, socket-2 and zigbee2mqtt", accts)
	}
	for _, a := range accts {
		if a.DeniedPublish+a.DeniedSubscribe != 0 {
			t.Errorf("demo account %s refused its own traffic: %+v", a.Name, a)
		}
		// The demo made each account's password for its devices now.
		if cr, ok := m.mqttCreds.get(a.Name); !ok || cr.Changed.Before(start) {
			t.Errorf("demo account %s: password %v set at %v, want one made by this demo", a.Name, ok, cr.Changed)
		}
	}
}
