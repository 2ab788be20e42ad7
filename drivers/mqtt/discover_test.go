package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mosquittotest"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

func discoveryGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "discovery", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startDiscovery runs a driver with no devices on an embedded broker, and
// discovery on it into a table of max entries.
func startDiscovery(t *testing.T, max, probes int) (*mqtt.Driver, *mqtt.Discovery, *hub.Finds) {
	t.Helper()
	drv, err := mqtt.New(mqtt.Options{Listen: "127.0.0.1:0", ClientID: "hubd-disc", Apply: func(hub.Report) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	finds := hub.NewFinds(max)
	x, err := mqtt.NewDiscovery(drv, mqtt.DiscoverOptions{Found: finds.Put, Lost: finds.Remove, MaxProbes: probes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { drv.Run(ctx); done <- struct{}{} }()
	waitFor(t, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })
	go func() { x.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return drv, x, finds
}

// fakeGen2 answers Shelly.GetDeviceInfo and Shelly.GetStatus on
// <prefix>/rpc as a Gen2 device does, then says it is online.
func fakeGen2(t *testing.T, c paho.Client, prefix, info, status string) {
	t.Helper()
	answers := map[string]json.RawMessage{"Shelly.GetDeviceInfo": discoveryGolden(t, info), "Shelly.GetStatus": discoveryGolden(t, status)}
	tok := c.Subscribe(prefix+"/rpc", 0, func(c paho.Client, m paho.Message) {
		var req struct {
			ID     uint64 `json:"id"`
			Src    string `json:"src"`
			Method string `json:"method"`
		}
		if json.Unmarshal(m.Payload(), &req) != nil {
			return
		}
		b, _ := json.Marshal(map[string]any{"id": req.ID, "src": prefix, "dst": req.Src, "result": answers[req.Method]})
		c.Publish(req.Src+"/rpc", 0, false, b)
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Publish(prefix+"/online", 0, true, "true").Wait()
}

func TestDiscovery_SeesEveryFamilyOnTheBroker(t *testing.T) {
	drv, x, finds := startDiscovery(t, 0, 0)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	pub := func(topic, file string) {
		dev.Publish(topic, 0, true, discoveryGolden(t, file)).Wait()
	}
	pub("tasmota/discovery/DC4F22010A1B/config", "tasmota-4ch.json")
	pub("tasmota/discovery/DC4F22010A1B/sensors", "tasmota-plug-sensors.json")
	pub("tasmota/discovery/A4CF12343F21/config", "tasmota-bulb.json")
	pub("zigbee2mqtt/bridge/devices", "z2m-devices.json")
	pub("zigbee2mqtt/bridge/groups", "z2m-groups.json")
	dev.Publish("shellies/announce", 0, false, discoveryGolden(t, "shelly1-announce.json")).Wait()
	fakeGen2(t, dev, "shellyplusplugs-e86beae4a1b2", "shelly2-info-plug.json", "shelly2-status-plug.json")
	want := []string{"tasmota:relay4-0A1B", "tasmota:relay4-0A1B:2", "tasmota:relay4-0A1B:4", "tasmota:bulb-3F21",
		"z2m:hall/bulb", "z2m:hall/ct", "z2m:kitchen/plug", "z2m:hall/lights",
		"shelly:shellyplug-s-7C87CEB4A1B2", "shelly2:shellyplusplugs-e86beae4a1b2"}
	waitFor(t, 10*time.Second, "every device found", func() bool {
		for _, a := range want {
			if _, ok := finds.Get("mqtt", a); !ok {
				return false
			}
		}
		return true
	})
	if f, _ := finds.Get("mqtt", "tasmota:relay4-0A1B"); f.Caps.Fields != hub.MeterFields.With(hub.FieldOn) {
		t.Fatalf("metering relay: %s", f.Caps)
	}
	// A device reset clears its retained config: it is forgotten. The
	// garbage after it is counted, and a marker shows both were handled.
	dev.Publish("tasmota/discovery/DC4F22010A1B/config", 0, true, "").Wait()
	dev.Publish("tasmota/discovery/BADBADBADBAD/config", 0, false, "{not json").Wait()
	dev.Publish("shellies/announce", 0, false, `{"id":"marker-1","model":"SHSW-1"}`).Wait()
	waitFor(t, 10*time.Second, "marker", func() bool { _, ok := finds.Get("mqtt", "shelly:marker-1"); return ok })
	if _, ok := finds.Get("mqtt", "tasmota:relay4-0A1B"); ok {
		t.Fatal("withdrawn Tasmota device still listed")
	}
	if st := x.Stats(); st.Bad != 1 {
		t.Fatalf("stats %+v, want 1 bad", st)
	}
}

func TestDiscovery_FullTablesCount(t *testing.T) {
	drv, x, finds := startDiscovery(t, 2, 1)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	for _, id := range []string{"a", "b", "c"} {
		dev.Publish("shellies/announce", 0, false, `{"id":"sw-`+id+`","model":"SHSW-1"}`).Wait()
	}
	// Tasmota notes are bounded by MaxProbes (1): the second MAC is turned away.
	dev.Publish("tasmota/discovery/AAAAAAAAAAAA/config", 0, false, discoveryGolden(t, "tasmota-bulb.json")).Wait()
	dev.Publish("tasmota/discovery/BBBBBBBBBBBB/config", 0, false, strings.Replace(string(discoveryGolden(t, "tasmota-bulb.json")), "bulb-3F21", "bulb-2", 1)).Wait()
	waitFor(t, 10*time.Second, "drops counted", func() bool { return finds.Dropped() >= 1 && x.Stats().Dropped >= 2 })
	if n := finds.Len(); n != 2 {
		t.Fatalf("table holds %d, want its bound 2", n)
	}
}

// The emulator announces itself the way real devices do, and discovery
// finds each family with what it declares.
func TestDiscovery_FindsTheEmulatedNewDevices(t *testing.T) {
	drv, _, finds := startDiscovery(t, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: drv.BrokerURL(), Devices: mqttsim.DemoNew(), Telemetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	want := map[string]hub.FieldSet{
		"tasmota:demo-relay4":                   hub.MeterFields.With(hub.FieldOn),
		"tasmota:demo-relay4:4":                 hub.Fields(hub.FieldOn),
		"z2m:demo-ct-bulb":                      hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
		"shelly:shellyplug-s-demo9":             hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy),
		"shelly2:shellyplusplugs-demo9":         hub.MeterFields.With(hub.FieldOn),
		"shelly2:shellyplusrgbwpm-demo9:rgbw:0": hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor),
		"shelly:shellyswitch25-demo9":           hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy),
		"shelly:shellyswitch25-demo9:1":         hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy),
		"shelly2:shellyprorgbwwpm-demo9:cct:0":  hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
	}
	var missing []string
	defer func() {
		if t.Failed() {
			t.Logf("not found: %v", missing)
		}
	}()
	waitFor(t, 10*time.Second, "every emulated device found", func() bool {
		missing = missing[:0]
		for a := range want {
			if _, ok := finds.Get("mqtt", a); !ok {
				missing = append(missing, a)
			}
		}
		return len(missing) == 0
	})
	for a, fs := range want {
		if f, _ := finds.Get("mqtt", a); f.Caps.Fields != fs {
			t.Errorf("%s: %s, want %s", a, f.Caps, fs)
		}
	}
	if f, _ := finds.Get("mqtt", "z2m:demo-ct-bulb"); f.Caps.TempMinK != 2000 || f.Caps.TempMaxK != 6536 {
		t.Errorf("CT bulb range %d..%d", f.Caps.TempMinK, f.Caps.TempMaxK)
	}
	if f, _ := finds.Get("mqtt", "shelly2:shellyprorgbwwpm-demo9:cct:0"); f.Caps.TempMinK != mqttsim.CCTMinK || f.Caps.TempMaxK != mqttsim.CCTMaxK {
		t.Errorf("Gen2 cct range %d..%d, want its config's", f.Caps.TempMinK, f.Caps.TempMaxK)
	}
}

// A Gen1 device that connects after discovery asked everyone to announce,
// and whose own announce discovery missed, is asked on its own command
// topic when it says it is online, and found.
func TestDiscovery_Gen1OnlineIsAskedToAnnounce(t *testing.T) {
	drv, _, finds := startDiscovery(t, 0, 0)
	dev := rawClient(t, drv.BrokerURL(), "", "")
	asked := make(chan struct{}, 4)
	tok := dev.Subscribe("shellies/shelly1-late/command", 0, func(c paho.Client, m paho.Message) {
		if string(m.Payload()) == "announce" {
			asked <- struct{}{}
			c.Publish("shellies/announce", 0, false, `{"id":"shelly1-late","model":"SHSW-1","mac":"AABBCC001122","fw_ver":"v1.14.0"}`)
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	dev.Publish("shellies/shelly1-late/online", 0, true, "true").Wait()
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the device was not asked to announce itself")
	}
	waitFor(t, 5*time.Second, "the late device found", func() bool {
		_, ok := finds.Get("mqtt", "shelly:shelly1-late")
		return ok
	})
}

// z2mList is a bridge/devices list of n routers named lamp-<i>, each with
// a long description, as large networks send it.
func z2mList(n int, desc string) []byte {
	list := []map[string]any{}
	for i := range n {
		list = append(list, map[string]any{
			"ieee_address": fmt.Sprintf("0x00158d00%08x", i), "type": "Router", "friendly_name": fmt.Sprintf("lamp-%d", i),
			"supported": true, "interview_completed": true,
			"definition": map[string]any{"vendor": "IKEA", "model": "LED1624G9", "description": desc,
				"exposes": []any{map[string]any{"type": "light", "features": []any{
					map[string]any{"type": "binary", "name": "state", "property": "state", "access": 7, "value_on": "ON", "value_off": "OFF"}}}}},
		})
	}
	b, _ := json.Marshal(list)
	return b
}

// A Zigbee2MQTT network of hundreds of devices sends a list far larger
// than any device's own message: discovery reads it as the driver does.
func TestDiscovery_ReadsALargeBridgeList(t *testing.T) {
	drv, _, finds := startDiscovery(t, 1000, 1000)
	list := z2mList(400, strings.Repeat("a lamp ", 40))
	if len(list) <= mqtt.DefaultMaxPayload {
		t.Fatalf("the list is %d bytes, not over the %d a device's message may be", len(list), mqtt.DefaultMaxPayload)
	}
	dev := rawClient(t, drv.BrokerURL(), "", "")
	dev.Publish("zigbee2mqtt/bridge/devices", 0, true, list).Wait()
	waitFor(t, 10*time.Second, "the 400th lamp found", func() bool { _, ok := finds.Get("mqtt", "z2m:lamp-399"); return ok })
}

// On an external broker, once discovery has read a large message, the
// MQTT client does not keep it until its next keep-alive.
func TestDiscovery_DoesNotKeepALargeMessage(t *testing.T) {
	url := mosquittotest.Start(t).URL()
	drv, err := mqtt.New(mqtt.Options{Broker: url, ClientID: "hubd-disc-ext", Apply: func(hub.Report) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	finds := hub.NewFinds(10)
	x, err := mqtt.NewDiscovery(drv, mqtt.DiscoverOptions{Found: finds.Put, Lost: finds.Remove, MaxProbes: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	dev := rawClient(t, url, "", "")
	// Subscribed once a marker comes back through discovery's own filter.
	waitFor(t, 10*time.Second, "discovery subscribed", func() bool {
		dev.Publish("shellies/announce", 0, false, `{"id":"marker-1","model":"SHSW-1"}`).Wait()
		_, ok := finds.Get("mqtt", "shelly:marker-1")
		return ok
	})
	before := liveHeap()
	// 16 MB on a topic discovery hears and has no use for: far above what
	// the rest of the process moves its heap by.
	const size = 16 << 20
	dev.Publish("big/online", 0, false, make([]byte, size)).Wait()
	waitFor(t, 10*time.Second, "the message refused as oversize", func() bool { return x.Stats().Bad >= 1 })
	// The publisher's client keeps the last packet it wrote: one that
	// discovery does not hear takes its place.
	dev.Publish("elsewhere/x", 0, false, "x").Wait()
	// The client lets the message go when it reads the next packet: ours.
	waitFor(t, 10*time.Second, "the 16 MB message let go", func() bool { return liveHeap() < before+size/2 })
}

// liveHeap is the heap live after a full collection.
func liveHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
