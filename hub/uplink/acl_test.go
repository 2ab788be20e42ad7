package uplink_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub/uplink"
	"hubd/store"
)

// shippedACL is the example ACL in systemd/, as a fleet would install it.
const shippedACL = "../../systemd/mosquitto-acl.conf"

// aclBroker runs Mosquitto with the shipped ACL file and a password file
// holding each of users with the password "pw-<user>".
func aclBroker(t *testing.T, extra string, users ...string) *mosquittotest.Broker {
	t.Helper()
	bin := mosquittotest.Tool("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	if bin == "" {
		t.Skip("mosquitto_passwd not installed: " + mosquittotest.Install)
	}
	acl, err := filepath.Abs(shippedACL)
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(t.TempDir(), "passwd")
	for i, u := range users {
		args := []string{"-b", passwd, u, "pw-" + u}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %s: %v %s", u, err, out)
		}
	}
	os.Chmod(passwd, 0o600)
	// user root: run as root (CI), Mosquitto would drop to its own user and
	// then fail to read the test's private files.
	return mosquittotest.StartConfig(t, fmt.Sprintf("user root\nallow_anonymous false\npassword_file %s\nacl_file %s\npersistence false\n%s", passwd, acl, extra))
}

// login connects a raw client as user and records what it receives.
func login(t *testing.T, broker, user string) (paho.Client, *watcher) {
	t.Helper()
	w := newWatcher()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("%s-%d", user, time.Now().UnixNano())).SetUsername(user).SetPassword("pw-" + user).SetOrderMatters(true)
	o.SetDefaultPublishHandler(w.record)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, w
}

func must(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
}

// granted reports whether the broker granted a subscription (a SUBACK
// of 0x80 is a refusal).
func granted(t *testing.T, c paho.Client, filter string) bool {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	must(t, tok)
	return tok.(*paho.SubscribeToken).Result()[filter] != 0x80
}

// As gateway A, with the shipped ACL: nothing under gateway B's prefix,
// neither published nor read; under its own prefix, both.
func TestACL_GatewayConfinedToItsPrefix(t *testing.T) {
	b := aclBroker(t, "", "gw-a", "gw-b", "fleet")
	a, aw := login(t, b.URL(), "gw-a")
	gb, _ := login(t, b.URL(), "gw-b")
	// The fleet watches everything.
	sub, fw := login(t, b.URL(), "fleet")
	if !granted(t, sub, "hubd/#") {
		t.Fatal("the fleet account may not read hubd/#")
	}

	// A publishes as B (refused, silently in MQTT 3.1.1), then as itself:
	// the fleet sees A's own message and never B's forged one.
	must(t, a.Publish("hubd/gw-b/v1/status", 1, true, `{"v":1,"status":"offline"}`))
	must(t, a.Publish("hubd/gw-a/v1/events", 1, false, "marker-a"))
	if m := fw.next(t, "hubd/gw-a/v1/events"); string(m.Payload) != "marker-a" {
		t.Fatalf("fleet got %q", m.Payload)
	}
	if got := fw.all("hubd/gw-b/v1/status"); len(got) != 0 {
		t.Fatalf("gateway A published under B's prefix: %q", got[0].Payload)
	}

	// A subscribes to B's prefix and to everything. Mosquitto 2 grants
	// the SUBACK and checks each message against the ACL as it delivers
	// it: B's command, B's events and the retained status B left never
	// reach A; A's own command, sent after them, does.
	granted(t, a, "hubd/gw-b/#")
	granted(t, a, "hubd/#")
	if !granted(t, a, "hubd/gw-a/v1/devices/+/set") {
		t.Fatal("gateway A may not read its own commands")
	}
	must(t, gb.Publish("hubd/gw-b/v1/status", 1, true, `{"v":1,"status":"online"}`))
	must(t, gb.Publish("hubd/gw-b/v1/events", 1, false, "b's event"))
	must(t, sub.Publish("hubd/gw-b/v1/devices/lamp-1/set", 1, false, `{"state":"ON"}`))
	must(t, sub.Publish("hubd/gw-a/v1/devices/lamp-1/set", 1, false, "marker"))
	if m := aw.next(t, "hubd/gw-a/v1/devices/lamp-1/set"); string(m.Payload) != "marker" {
		t.Fatalf("A got %q", m.Payload)
	}
	for _, topic := range []string{"hubd/gw-b/v1/devices/lamp-1/set", "hubd/gw-b/v1/events", "hubd/gw-b/v1/status"} {
		if got := aw.all(topic); len(got) != 0 {
			t.Errorf("gateway A received %s: %q", topic, got[0].Payload)
		}
	}
	// B may not write A's discovery config, only its own.
	must(t, gb.Publish("homeassistant/light/gw-a/lamp-1/config", 1, true, "forged"))
	if !granted(t, sub, "homeassistant/#") {
		t.Fatal("the fleet may not read discovery")
	}
	must(t, gb.Publish("homeassistant/light/gw-b/lamp-1/config", 1, true, "own"))
	if m := fw.next(t, "homeassistant/light/gw-b/lamp-1/config"); string(m.Payload) != "own" {
		t.Fatalf("fleet got %q", m.Payload)
	}
	if got := fw.all("homeassistant/light/gw-a/lamp-1/config"); len(got) != 0 {
		t.Fatal("gateway B published gateway A's discovery config")
	}
}

// The uplink itself works within the shipped ACL: its will, state,
// events, discovery configs and commands all fit its account's patterns.
func TestACL_UplinkWorksWithinItsAccount(t *testing.T) {
	b := aclBroker(t, "", "gw1", "fleet")
	sub, fw := login(t, b.URL(), "fleet")
	must(t, sub.Subscribe("hubd/#", 1, nil))
	must(t, sub.Subscribe("homeassistant/#", 1, nil))
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, Username: "gw1", Password: "pw-gw1", Commands: true, HomeAssistant: true}, store.QueueOptions{})
	fw.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	fw.next(t, "homeassistant/light/gw1/lamp-1/config")
	must(t, sub.Publish(root+"/devices/lamp-1/set", 1, false, `{"id":"acl-1","brightness":12}`))
	fw.nextWhere(t, root+"/devices/lamp-1/result", func(v map[string]any) bool { return v["id"] == "acl-1" && v["status"] == "done" })
	f.hub.Log("info", "test", "", "through the ACL")
	fw.nextWhere(t, root+"/events", func(v map[string]any) bool { return v["text"] == "through the ACL" })
}
