package uplink_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub/uplink"
	"hubd/store"
)

// shippedBridge is the example site-to-central bridge in systemd/.
const shippedBridge = "../../systemd/mosquitto-bridge.conf"

// bridgeTo is the shipped bridge configuration pointed at a central broker
// on loopback: its address, without TLS, with the test's password; every
// topic line and option as shipped.
func bridgeTo(t *testing.T, port int) string {
	t.Helper()
	f, err := os.Open(shippedBridge)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch key, _, _ := strings.Cut(line, " "); key {
		case "address":
			line = fmt.Sprintf("address 127.0.0.1:%d", port)
		case "bridge_cafile":
			continue
		case "remote_password":
			line = "remote_password pw-site-bridge"
		case "restart_timeout":
			line = "restart_timeout 1"
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// Ten gateways publish to a site broker, which the shipped bridge forwards
// to a central broker that enforces the shipped ACL; the fleet's account on
// the central broker sees every gateway's retained state and events, and
// its commands travel back down.
func TestFleet_TenGatewaysThroughABridge(t *testing.T) {
	central := aclBroker(t, "", "fleet", "site-bridge")
	site := mosquittotest.StartConfig(t, "allow_anonymous true\npersistence false\n"+bridgeTo(t, central.Port()))
	sub, fleet := login(t, central.URL(), "fleet")
	must(t, sub.Subscribe("hubd/#", 1, nil))
	// The bridge announces itself (retained "1") once it is up.
	if m := fleet.next(t, "hubd/_bridges/site-riverside/state"); string(m.Payload) != "1" {
		t.Fatalf("bridge state %q", m.Payload)
	}

	const n = 10
	gws := make([]*fixture, n)
	for i := range gws {
		gws[i] = newFixture(t, site.URL(), uplink.Options{QoS: 1, Gateway: fmt.Sprintf("gw%02d", i), Commands: true}, store.QueueOptions{})
	}
	for i, f := range gws {
		p := fmt.Sprintf("hubd/gw%02d/v1", i)
		fleet.nextWhere(t, p+"/status", func(v map[string]any) bool { return v["status"] == "online" })
		fleet.nextWhere(t, p+"/devices/socket-1/state", func(v map[string]any) bool { return v["online"] == true && v["power"] == 12.5 })
		f.hub.Log("info", "test", "lamp-1", "hello")
	}
	for i := range gws {
		ev := fleet.nextWhere(t, fmt.Sprintf("hubd/gw%02d/v1/events", i), func(v map[string]any) bool { return v["source"] == "test" })
		if ev["gateway"] != fmt.Sprintf("gw%02d", i) {
			t.Fatalf("event of gateway %d: %v", i, ev)
		}
	}
	// A newcomer on the central broker gets every gateway's state at once:
	// retained messages cross the bridge with their flag.
	late, lw := login(t, central.URL(), "fleet")
	must(t, late.Subscribe("hubd/+/v1/devices/+/state", 1, nil))
	for i := range gws {
		for _, dev := range []string{"lamp-1", "socket-1"} {
			if m := lw.next(t, fmt.Sprintf("hubd/gw%02d/v1/devices/%s/state", i, dev)); !m.Retained {
				t.Fatalf("gw%02d %s state is not retained on the central broker", i, dev)
			}
		}
	}
	// A command from the centre reaches gateway 3 through the bridge.
	must(t, sub.Publish("hubd/gw03/v1/devices/lamp-1/set", 1, false, `{"id":"fleet-1","brightness":64}`))
	fleet.nextWhere(t, "hubd/gw03/v1/devices/lamp-1/result", func(v map[string]any) bool { return v["id"] == "fleet-1" && v["status"] == "done" })
	if _, s, _ := gws[3].hub.Snapshot("lamp-1"); s.State.Brightness != 64 {
		t.Fatalf("gw03 lamp-1 brightness = %d", s.State.Brightness)
	}
}
