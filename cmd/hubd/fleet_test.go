package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// fleetGateway is the config of gateway name: a Tasmota lamp and a Shelly
// plug on the site broker, the uplink to the same broker.
func fleetGateway(name, site, dir string) string {
	return fmt.Sprintf(`gateway: {name: %[1]s}
http: {listen: "127.0.0.1:0"}
data_dir: %[3]s
mqtt: {broker: "%[2]s", client_id: "devices-%[1]s", refresh_interval: 5s}
devices:
  - {id: lamp, kind: light, driver: tasmota, topic: %[1]s-lamp}
  - {id: plug, kind: socket, driver: shelly, topic: shellyplug-s-%[1]s}
uplink: {broker: "%[2]s", commands: true}
`, name, site, dir)
}

// fleetSub follows a broker's hubd/# for the test: the last payload of
// each topic, and a wake-up on every message.
type fleetSub struct {
	mu   sync.Mutex
	last map[string][]byte
	news chan struct{}
}

func subscribeFleet(t *testing.T, url string) *fleetSub {
	s := &fleetSub{last: map[string][]byte{}, news: make(chan struct{}, 1)}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("fleet-%d", time.Now().UnixNano()))
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.last[m.Topic()] = append([]byte(nil), m.Payload()...)
		s.mu.Unlock()
		select {
		case s.news <- struct{}{}:
		default:
		}
	})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("fleet subscriber: %v", tok.Error())
	}
	if tok := c.Subscribe("hubd/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("fleet subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return s
}

// waitAll waits until ok holds for what the subscriber has seen.
func (s *fleetSub) waitAll(t *testing.T, what string, ok func(last map[string][]byte) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		done := ok(s.last)
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-s.news:
		case <-deadline:
			s.mu.Lock()
			for k, v := range s.last {
				t.Logf("%s %s", k, v)
			}
			s.mu.Unlock()
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

// Ten whole daemons (config file, store, MQTT driver with emulated
// devices, uplink) publish through a site Mosquitto that a Mosquitto bridge
// forwards to a central one; a subscriber on the central broker sees every
// gateway's retained device state, online, and its events.
func TestFleet_TenDaemonsThroughABridge(t *testing.T) {
	t.Parallel() // its own brokers, daemons and temp dirs
	central := mosquittotest.Start(t)
	site := mosquittotest.StartConfig(t, fmt.Sprintf("allow_anonymous true\npersistence false\n"+
		"connection central\naddress 127.0.0.1:%d\ncleansession false\ntry_private true\nrestart_timeout 1\n"+
		"notifications true\nnotification_topic hubd/_bridges/site/state\n"+
		"topic hubd/+/v1/# out 1\ntopic hubd/+/v1/devices/+/set in 1\n", central.Port()))
	fleet := subscribeFleet(t, central.URL())
	fleet.waitAll(t, "bridge up", func(last map[string][]byte) bool { return string(last["hubd/_bridges/site/state"]) == "1" })

	const n = 10
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var specs []mqttsim.Spec
	mains := make([]*Main, n)
	for i := range n {
		name := fmt.Sprintf("gw%02d", i)
		c, err := ParseConfig(name+".yaml", []byte(fleetGateway(name, site.URL(), t.TempDir())))
		if err != nil {
			t.Fatal(err)
		}
		m := &Main{Config: c}
		if err := m.Open(); err != nil {
			t.Fatal(err)
		}
		mains[i] = m
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
		specs = append(specs,
			mqttsim.Spec{ID: name + "-lamp", Dialect: mqttsim.Tasmota, Name: name + "-lamp", Kind: hub.KindLight},
			mqttsim.Spec{ID: name + "-plug", Dialect: mqttsim.Shelly1, Name: "shellyplug-s-" + name, Kind: hub.KindSocket})
	}
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: site.URL(), Devices: specs, Telemetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	fleet.waitAll(t, "every gateway's devices online on the central broker", func(last map[string][]byte) bool {
		for i := range n {
			for _, dev := range []string{"lamp", "plug"} {
				var st struct{ Online bool }
				if json.Unmarshal(last[fmt.Sprintf("hubd/gw%02d/v1/devices/%s/state", i, dev)], &st) != nil || !st.Online {
					return false
				}
			}
		}
		return true
	})
	for i, m := range mains {
		m.Hub.Log("info", "test", "", fmt.Sprintf("hello from %d", i))
	}
	fleet.waitAll(t, "every gateway's event on the central broker", func(last map[string][]byte) bool {
		for i := range n {
			var ev struct{ Text string }
			if json.Unmarshal(last[fmt.Sprintf("hubd/gw%02d/v1/events", i)], &ev) != nil || ev.Text != fmt.Sprintf("hello from %d", i) {
				return false
			}
		}
		return true
	})
}
