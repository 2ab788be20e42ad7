package mqtt_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/hub"
)

// acctPass is a device account's password in the rigs with accounts.
func acctPass(account string) string { return "pw-" + account }

// observer is the hub's account subscribed to filters plus a marker topic:
// what it got before the marker is everything the broker routed before.
type observer struct {
	c   paho.Client
	got chan string
}

const markerTopic = "test/marker"

func newObserver(t *testing.T, r *rig, filters ...string) *observer {
	t.Helper()
	o := &observer{c: rawClient(t, r.url, hubUser, hubPass), got: make(chan string, 64)}
	m := map[string]byte{markerTopic: 1}
	for _, f := range filters {
		m[f] = 1
	}
	tok := o.c.SubscribeMultiple(m, func(_ paho.Client, msg paho.Message) {
		o.got <- msg.Topic() + " " + string(msg.Payload())
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	return o
}

// before publishes a marker and returns what arrived ahead of it
// (retained messages of the filters included).
func (o *observer) before(t *testing.T) []string {
	t.Helper()
	mark := fmt.Sprint(time.Now().UnixNano())
	o.c.Publish(markerTopic, 1, false, mark).WaitTimeout(5 * time.Second)
	var out []string
	for {
		select {
		case m := <-o.got:
			if m == markerTopic+" "+mark {
				return out
			}
			out = append(out, m)
		case <-time.After(5 * time.Second):
			t.Fatal("marker never arrived")
		}
	}
}

func publishAcked(t *testing.T, c paho.Client, topic string, retain bool, payload string) {
	t.Helper()
	// QoS 1: the PUBACK comes after the broker has judged the publish.
	if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func denied(r *rig, account string) mqtt.AccountStatus {
	for _, a := range r.drv.Accounts() {
		if a.Name == account {
			return a
		}
	}
	return mqtt.AccountStatus{Name: "(missing " + account + ")"}
}

// The attacker holds socket-2's (a Shelly plug's) credentials.
func TestAccounts_PlugCannotCommandForgeReadAllOrWriteHubd(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:3]})
	r.waitState(t)
	r.settle(t)
	obs := newObserver(t, r, "cmnd/demo-lamp-2/#", "tele/demo-lamp-2/#", "hubd/#")
	obs.before(t) // drain the retained ones
	lamp := r.snap("lamp-2")
	evil := rawClient(t, r.url, "socket-2", acctPass("socket-2"))

	publishAcked(t, evil, "cmnd/demo-lamp-2/POWER", false, "ON")
	publishAcked(t, evil, "tele/demo-lamp-2/STATE", false, `{"POWER":"ON","Dimmer":100}`)
	publishAcked(t, evil, "hubd/hubd-test/availability", true, "offline")
	if got := obs.before(t); len(got) != 0 {
		t.Errorf("the plug's forged messages were routed: %q", got)
	}
	if r.sim.On("demo-lamp-2") != lamp.State.On {
		t.Error("the lamp was switched by the plug's account")
	}
	if after := r.snap("lamp-2"); after.Seq != lamp.Seq || after.State.On != lamp.State.On {
		t.Errorf("forged state reached the hub: before %+v after %+v", lamp, after)
	}
	if a := denied(r, "socket-2"); a.DeniedPublish != 3 {
		t.Errorf("socket-2 denied publishes = %d, want 3 (%+v)", a.DeniedPublish, a)
	}

	for _, f := range []string{"#", "cmnd/#", "cmnd/demo-lamp-2/#", "hubd/#", "shellies/+/relay/0/command"} {
		tok := evil.Subscribe(f, 1, func(paho.Client, paho.Message) {})
		tok.WaitTimeout(5 * time.Second)
		if code := tok.(*paho.SubscribeToken).Result()[f]; code != 0x80 {
			t.Errorf("subscribe %q granted %#x, want 0x80", f, code)
		}
	}
	own := "shellies/shellyplug-s-demo2/relay/0/command"
	tok := evil.Subscribe(own, 1, func(paho.Client, paho.Message) {})
	tok.WaitTimeout(5 * time.Second)
	if code := tok.(*paho.SubscribeToken).Result()[own]; code != 1 {
		t.Errorf("subscribe to its own command topic: %#x, want granted QoS 1", code)
	}
	if a := denied(r, "socket-2"); a.DeniedSubscribe != 5 {
		t.Errorf("socket-2 denied subscribes = %d, want 5", a.DeniedSubscribe)
	}
}

// Every dialect's device, on its own account, works as before: reports
// and commands pass and nothing of theirs is refused.
func TestAccounts_DevicesOwnTrafficPasses(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true})
	r.waitState(t)
	ctx := context.Background()
	for _, s := range r.specs {
		for _, on := range []bool{true, false} {
			if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: on}}); err != nil {
				t.Errorf("%s on=%v: %v", s.ID, on, err)
			}
		}
	}
	accts := r.drv.Accounts()
	if len(accts) != 5 { // lamp-2, socket-2, socket-3, socket-4, zigbee2mqtt
		t.Errorf("accounts %+v", accts)
	}
	for _, a := range accts {
		if a.DeniedPublish != 0 || a.DeniedSubscribe != 0 {
			t.Errorf("account %s had its own traffic refused: %+v", a.Name, a)
		}
	}
}

func TestAccounts_LoginNeedsTheAccountsPasswordAndADevice(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:1]})
	r.waitState(t)
	for _, cr := range [][2]string{
		{"lamp-2", "wrong"},
		{"lamp-2", acctPass("socket-2")},
		{"socket-2", acctPass("socket-2")}, // a password, but no device uses the account
		{devUser, acctPass(devUser)},
	} {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(r.url).SetClientID("intruder").SetUsername(cr[0]).SetPassword(cr[1]).SetConnectTimeout(3 * time.Second))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
			t.Errorf("%s/%s connected, want refused", cr[0], cr[1])
		}
	}
	rawClient(t, r.url, "lamp-2", acctPass("lamp-2")) // and the right one gets in
}

func TestAccounts_SetDeviceAccounts_MovesADeviceToAnotherAccount(t *testing.T) {
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[:2]})
	r.waitState(t)
	if err := r.drv.SetDeviceAccounts(map[string]string{"socket-2": "plugs"}); err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(r.url).SetClientID("old").SetUsername("socket-2").SetPassword(acctPass("socket-2")).SetConnectTimeout(3 * time.Second))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Error("the old account still logs in")
	}
	plugs := rawClient(t, r.url, "plugs", acctPass("plugs"))
	publishAcked(t, plugs, "shellies/shellyplug-s-demo2/relay/0/power", false, "77")
	waitFor(t, 5*time.Second, "power from the new account", func() bool { return r.snap("socket-2").State.Power == 77 })
	publishAcked(t, plugs, "tele/demo-lamp-2/STATE", false, `{"POWER":"ON"}`)
	if a := denied(r, "plugs"); a.DeniedPublish != 1 || len(a.Devices) != 1 || a.Devices[0] != "socket-2" {
		t.Errorf("plugs: %+v", a)
	}
	if err := r.drv.SetDeviceAccounts(map[string]string{"socket-2": "no good"}); err == nil {
		t.Error("a bad account name was taken")
	}
}

// Shelly Gen2 replies come on a topic per device, which only that
// device's account may write.
func TestAccounts_Gen2ReplyTopicIsItsOwn(t *testing.T) {
	specs := testSpecs()
	r := newRig(t, rigOpts{accounts: true, specs: append(specs[1:2], specs[3])}) // socket-2 (Gen1), socket-3 (Gen2)
	r.waitState(t)
	gen2 := rawClient(t, r.url, "socket-3", acctPass("socket-3"))
	gen1 := rawClient(t, r.url, "socket-2", acctPass("socket-2"))
	publishAcked(t, gen2, "hubd/hubd-test/shellyplus-other/rpc", false, `{"id":1,"result":{}}`)
	publishAcked(t, gen1, "hubd/hubd-test/shellyplusplugs-abc/rpc", false, `{"id":1,"result":{}}`)
	if a, b := denied(r, "socket-3"), denied(r, "socket-2"); a.DeniedPublish != 1 || b.DeniedPublish != 1 {
		t.Errorf("replies on others' topics: socket-3 denied %d, socket-2 denied %d; want 1 each", a.DeniedPublish, b.DeniedPublish)
	}
	// Its own replies pass: the hub's command is confirmed.
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Errorf("socket-3 command: %v", err)
	}
	if a := denied(r, "socket-3"); a.DeniedPublish != 1 {
		t.Errorf("socket-3's own replies refused: %+v", a)
	}
}

// A client logged in before its account's password changed may do
// nothing more; one logged in after may.
func TestAccounts_OldLoginMutedWhenThePasswordChanges(t *testing.T) {
	var mu sync.Mutex
	stamp := "v1"
	cur := func(string) string { mu.Lock(); defer mu.Unlock(); return stamp }
	r := newRig(t, rigOpts{accounts: true, specs: testSpecs()[1:2], stamp: cur})
	r.waitState(t)
	power := "shellies/shellyplug-s-demo2/relay/0/power"
	old := rawClient(t, r.url, "socket-2", acctPass("socket-2"))
	publishAcked(t, old, power, false, "11")
	waitFor(t, 5*time.Second, "power from the first login", func() bool { return r.snap("socket-2").State.Power == 11 })

	mu.Lock()
	stamp = "v2" // rotated
	mu.Unlock()
	obs := newObserver(t, r, power)
	publishAcked(t, old, power, false, "22")
	if got := obs.before(t); len(got) != 0 {
		t.Errorf("the old login's publish was routed: %q", got)
	}
	tok := old.Subscribe("shellies/shellyplug-s-demo2/relay/0/command", 1, func(paho.Client, paho.Message) {})
	tok.WaitTimeout(5 * time.Second)
	if code := tok.(*paho.SubscribeToken).Result()["shellies/shellyplug-s-demo2/relay/0/command"]; code != 0x80 {
		t.Errorf("the old login's subscribe: %#x, want 0x80", code)
	}
	if a := denied(r, "socket-2"); a.DeniedPublish != 1 || a.DeniedSubscribe != 1 {
		t.Errorf("socket-2 refusals %+v, want 1 and 1", a)
	}
	fresh := rawClient(t, r.url, "socket-2", acctPass("socket-2"))
	publishAcked(t, fresh, power, false, "33")
	waitFor(t, 5*time.Second, "power from the new login", func() bool { return r.snap("socket-2").State.Power == 33 })
}
