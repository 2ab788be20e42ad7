package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

const (
	hubUser, hubPass = "hub", "hub-secret"
	devUser, devPass = "dev", "dev-secret"
)

// rig is a hub, the MQTT driver and emulated devices on one broker.
type rig struct {
	hub   *hub.Hub
	drv   *mqtt.Driver
	sim   *mqttsim.Sim
	specs []mqttsim.Spec
	url   string
}

type rigOpts struct {
	broker     string // "" = embedded on 127.0.0.1:0
	specs      []mqttsim.Spec
	telemetry  time.Duration
	fullTopic  string
	reconnect  time.Duration
	extra      []mqttsim.Spec      // run by the simulator, unknown to the hub and driver
	staleAfter time.Duration       // the hub's; 0: its default
	refresh    time.Duration       // the driver's RefreshInterval; 0: its default
	logger     *slog.Logger        // the driver's; nil: discard
	accounts   bool                // devices log in with device accounts (acctPass), not devUser
	stamp      func(string) string // the driver's PasswordStamp (with accounts)
	comClients int                 // the driver's CommissioningClients
	outputs    []hub.Device        // more hub devices: other outputs of the specs' devices
}

func testSpecs() []mqttsim.Spec {
	return append(mqttsim.Demo(),
		mqttsim.Spec{ID: "socket-3", Dialect: mqttsim.Shelly2, Name: "shellyplusplugs-abc", Kind: hub.KindSocket},
		mqttsim.Spec{ID: "socket-4", Dialect: mqttsim.Tasmota, Name: "tasmota-plug-4", Kind: hub.KindSocket},
		mqttsim.Spec{ID: "socket-5", Dialect: mqttsim.Z2M, Name: "floor1/plug", Kind: hub.KindSocket, Z2MLegacy: true},
	)
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.specs == nil {
		o.specs = testSpecs()
	}
	if o.telemetry == 0 {
		o.telemetry = -1
	}
	var devs []hub.Device
	for _, s := range o.specs {
		devs = append(devs, s.Device())
	}
	devs = append(devs, o.outputs...)
	h, err := hub.New(devs, nil, hub.Options{CommandTimeout: 3 * time.Second, StaleAfter: o.staleAfter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	mo := mqtt.Options{
		Broker:               o.broker,
		Listen:               "127.0.0.1:0",
		Username:             hubUser,
		Password:             hubPass,
		Users:                map[string]string{devUser: devPass},
		ClientID:             "hubd-test",
		TasmotaFullTopic:     o.fullTopic,
		Devices:              devs,
		Apply:                h.Apply,
		ReconnectMax:         o.reconnect,
		Events:               h.LogEvent,
		RefreshInterval:      o.refresh,
		Logger:               o.logger,
		CommissioningClients: o.comClients,
	}
	if o.broker != "" {
		mo.Username, mo.Password, mo.Users = "", "", nil
	}
	if o.accounts {
		mo.CheckPassword = func(a string, pw []byte) bool { return string(pw) == acctPass(a) }
		mo.PasswordStamp = o.stamp
	}
	drv, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	h.SetDriver(mqtt.DriverName, drv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := drv.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "driver connected", func() bool { return drv.Status()[0].Connected })
	r := &rig{hub: h, drv: drv, specs: o.specs, url: drv.BrokerURL()}
	so := mqttsim.Options{Broker: r.url, Devices: append(slices.Clone(o.specs), o.extra...), Telemetry: o.telemetry, TasmotaFullTopic: o.fullTopic}
	if o.broker == "" {
		so.Username, so.Password = devUser, devPass
	}
	if o.accounts {
		so.Login = func(s mqttsim.Spec) (string, string) {
			a := mqtt.DefaultAccount(s.Device())
			return a, acctPass(a)
		}
	}
	sim, err := mqttsim.Start(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	r.sim = sim
	return r
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) snap(id string) hub.Snapshot {
	_, s, _ := r.hub.Snapshot(id)
	return s
}

// waitState waits until every device is online and reports all its fields.
func (r *rig) waitState(t testing.TB) {
	t.Helper()
	for _, s := range r.specs {
		waitFor(t, 10*time.Second, s.ID+" online with full state", func() bool {
			sn := r.snap(s.ID)
			return sn.Online && sn.State.Set.Contains(s.Fields())
		})
	}
}

// settle waits until no device's snapshot changes for 300 ms: the
// devices' info replies (STATUS2, announce, bridge list) can arrive after
// waitState and move a device's sequence number.
func (r *rig) settle(t testing.TB) {
	t.Helper()
	seqs := func() string {
		var b strings.Builder
		for _, s := range r.specs {
			fmt.Fprint(&b, r.snap(s.ID).Seq, " ")
		}
		return b.String()
	}
	last := seqs()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := seqs()
		if now == last {
			return
		}
		last = now
	}
	t.Fatal("device snapshots still changing after 10 s")
}

func rawClient(t testing.TB, url, user, pass string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("raw-%d", time.Now().UnixNano())).
		SetUsername(user).SetPassword(pass).SetConnectTimeout(5 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("raw client connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func TestDriver_Embedded_ReportsArriveOnConnect(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	if s := r.snap("socket-3"); s.State.Voltage != 230 {
		t.Errorf("shelly2 voltage = %v, want 230", s.State.Voltage)
	}
	st := r.drv.Status()[0]
	if !st.Embedded || st.MsgsIn == 0 || st.MsgsOut == 0 || st.BadMsgs != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestDriver_Execute_ConfirmedByEcho(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	ctx := context.Background()
	cmds := []hub.Command{
		{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}},
		{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), On: true, Brightness: 30, TemperatureK: 3000}},
		{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldColor), Color: hub.HSV{H: 240, S: 90, V: 60}}},
		{Device: "lamp-3", Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 77}},
		{Device: "lamp-3", Set: hub.State{Set: hub.Fields(hub.FieldColor), Color: hub.HSV{H: 10, S: 50, V: 40}}},
		{Device: "lamp-3", Set: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 4500}},
		{Device: "socket-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}},
		{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}},
		{Device: "socket-4", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}},
		{Device: "socket-5", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}},
		{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: false}},
	}
	for _, c := range cmds {
		if err := r.hub.Execute(ctx, c); err != nil {
			t.Errorf("%s %v: %v", c.Device, c.Set.Set, err)
		}
	}
	for _, s := range r.specs {
		want := s.ID != "socket-3"
		if got := r.sim.On(s.Name); got != want {
			t.Errorf("%s on = %v, want %v", s.ID, got, want)
		}
	}
	if s := r.snap("lamp-3"); s.State.TemperatureK < 4400 || s.State.TemperatureK > 4600 || s.State.Mode != hub.ColorModeTemperature {
		t.Errorf("lamp-3 after CT: %+v", s.State)
	}
	// Identify carries no values: sent and acknowledged at once.
	for _, id := range []string{"lamp-2", "lamp-3", "socket-2", "socket-3"} {
		if err := r.hub.Execute(ctx, hub.Command{Device: id, Identify: true}); err != nil {
			t.Errorf("identify %s: %v", id, err)
		}
	}
	// Meters can not be set.
	err := r.drv.Execute(ctx, r.specs[1].Device(), hub.Command{Device: "socket-2", Set: hub.State{Set: hub.Fields(hub.FieldPower), Power: 5}})
	if !errors.Is(err, hub.ErrNotSupported) {
		t.Errorf("setting power: err = %v, want ErrNotSupported", err)
	}
}

func TestDriver_DevicePressReported(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	for _, s := range r.specs {
		before := r.snap(s.ID).State.On
		if err := r.sim.Press(s.Name); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, s.ID+" toggled", func() bool { return r.snap(s.ID).State.On != before })
	}
}

func TestDriver_CustomFullTopic(t *testing.T) {
	specs := []mqttsim.Spec{{ID: "lamp-2", Dialect: mqttsim.Tasmota, Name: "demo-lamp-2", Kind: hub.KindLight}}
	r := newRig(t, rigOpts{specs: specs, fullTopic: "tasmota/%topic%/%prefix%/"})
	r.waitState(t)
	c := hub.Command{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 12}}
	if err := r.hub.Execute(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func TestDriver_DeviceWill_MarksOfflineThenBack(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	// The hub's changes, not polls of its state: a device is offline for
	// only about half a second before it reconnects by itself.
	sub := r.hub.Subscribe(4096)
	defer r.hub.Unsubscribe(sub)
	for _, s := range r.specs {
		if err := r.sim.Drop(s.Name); err != nil {
			t.Fatal(err)
		}
	}
	wentOff, cameBack := map[string]bool{}, map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(cameBack) < len(r.specs) {
		select {
		case c := <-sub.C:
			if c.Kind != hub.ChangeState && c.Kind != hub.ChangeOnline {
				continue
			}
			if !c.Snapshot.Online {
				// The broker delivered the device's will: that is the cause.
				if f := c.Snapshot.Fault; f == nil || f.Code != hub.CauseWill || f.Severity != hub.SeverityError {
					t.Fatalf("%s went offline with diagnosis %+v, want the will", c.Device, f)
				}
				wentOff[c.Device] = true
			} else if wentOff[c.Device] {
				if c.Snapshot.Fault != nil {
					t.Fatalf("%s is back but keeps %+v", c.Device, c.Snapshot.Fault)
				}
				cameBack[c.Device] = true
			}
		case <-deadline:
			t.Fatalf("after 15 s: offline %v, back online %v (of %d devices)", wentOff, cameBack, len(r.specs))
		}
	}
	t.Logf("%+v", r.drv.Status())
}

// subscribedTopics lists every topic the driver listens on for specs.
func subscribedTopics(specs []mqttsim.Spec) []string {
	var out []string
	for _, s := range specs {
		switch s.Dialect {
		case mqttsim.Tasmota:
			for _, k := range []string{"stat/%s/RESULT", "stat/%s/POWER", "tele/%s/STATE", "tele/%s/SENSOR", "tele/%s/LWT", "stat/%s/STATUS8"} {
				out = append(out, fmt.Sprintf(k, s.Name))
			}
		case mqttsim.Z2M:
			out = append(out, "zigbee2mqtt/"+s.Name, "zigbee2mqtt/"+s.Name+"/availability")
		case mqttsim.Shelly1:
			for _, k := range []string{"relay/0", "relay/0/power", "relay/0/energy", "online", "light/0/status"} {
				out = append(out, "shellies/"+s.Name+"/"+k)
			}
		case mqttsim.Shelly2:
			out = append(out, s.Name+"/status/switch:0", s.Name+"/events/rpc", s.Name+"/online")
		}
	}
	for _, s := range specs {
		if s.Dialect == mqttsim.Shelly2 {
			out = append(out, "hubd/hubd-test/"+s.Name+"/rpc")
		}
	}
	return out
}

func TestDriver_BadPayloads_CountedStateUntouched(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	r.settle(t)
	before := map[string]hub.Snapshot{}
	for _, s := range r.specs {
		before[s.ID] = r.snap(s.ID)
	}
	bad0, drop0 := r.drv.Status()[0].BadMsgs, r.drv.Stats().Dropped
	payloads := [][]byte{
		[]byte("\xff\xfe\x00garbage{"),
		[]byte(`{"POWER":"ON","Dimmer":4`), // truncated
		[]byte(`[1,2,3]`),                  // wrong shape
		[]byte(`{"POWER":1,"state":1,"output":"x","method":1,"id":"x","ison":"x"}`), // wrong types
		[]byte(`{"POWER":"ON","pad":"` + strings.Repeat("x", 70<<10) + `"}`),        // oversize
		[]byte(`{"Dimmer":250,"brightness":-4,"aenergy":{"total":-1},"id":1e30}`),   // out of range
	}
	topics := subscribedTopics(r.specs)
	c := rawClient(t, r.url, devUser, devPass)
	n := 0
	for _, topic := range topics {
		for i, p := range payloads {
			if i == 5 && (strings.HasSuffix(topic, "LWT") || strings.HasSuffix(topic, "/online") || strings.HasSuffix(topic, "availability") ||
				strings.HasSuffix(topic, "/POWER") || strings.HasPrefix(topic, "shellies/") || strings.HasSuffix(topic, "events/rpc")) {
				continue // the out-of-range object is garbage there anyway, but counted once per family is enough
			}
			tok := c.Publish(topic, 1, false, p)
			tok.Wait()
			if tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			n++
		}
	}
	// A burst can overflow a device's queue: those are dropped unread.
	counted := func() uint64 { return r.drv.Status()[0].BadMsgs - bad0 + r.drv.Stats().Dropped - drop0 }
	waitFor(t, 10*time.Second, fmt.Sprintf("%d bad messages counted", n), func() bool { return counted() >= uint64(n) })
	time.Sleep(100 * time.Millisecond) // let any stray apply land before comparing
	if got := counted(); got != uint64(n) {
		t.Errorf("bad+dropped messages = %d, want %d", got, n)
	}
	t.Logf("%d bad, %d dropped", r.drv.Status()[0].BadMsgs-bad0, r.drv.Stats().Dropped-drop0)
	for _, s := range r.specs {
		after := r.snap(s.ID)
		if after.Seq != before[s.ID].Seq || after.State.Set != before[s.ID].State.Set || !after.Online {
			t.Errorf("%s changed by bad payloads: before %+v after %+v", s.ID, before[s.ID], after)
		}
	}
	// Still answering.
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Errorf("command after garbage: %v", err)
	}
}

// A burst far larger than a device's queue ends on its last value; which
// ones were dropped on the way depends on scheduling (the drop rule itself
// is TestEnqueue_Full_DropsOldestKeepsLatest).
func TestDriver_Burst_LastValueWins(t *testing.T) {
	specs := []mqttsim.Spec{{ID: "socket-2", Dialect: mqttsim.Shelly1, Name: "shellyplug-s-demo2", Kind: hub.KindSocket}}
	r := newRig(t, rigOpts{specs: specs})
	r.waitState(t)
	c := rawClient(t, r.url, devUser, devPass)
	const n = 2000
	var toks []paho.Token
	for i := 1; i <= n; i++ {
		toks = append(toks, c.Publish("shellies/shellyplug-s-demo2/relay/0/power", 0, false, fmt.Sprint(i)))
	}
	for _, tok := range toks {
		tok.Wait()
	}
	waitFor(t, 10*time.Second, "last power value applied", func() bool { return r.snap("socket-2").State.Power == n })
	t.Logf("dropped %d of %d", r.drv.Stats().Dropped, n)
}

func TestBroker_Auth(t *testing.T) {
	r := newRig(t, rigOpts{specs: mqttsim.Demo()[:1]})
	r.waitState(t)
	for _, cr := range [][2]string{{"", ""}, {devUser, "wrong"}, {"nobody", devPass}, {hubUser, devPass}} {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(r.url).SetClientID("intruder").SetUsername(cr[0]).SetPassword(cr[1]).SetConnectTimeout(3 * time.Second))
		tok := c.Connect()
		tok.WaitTimeout(5 * time.Second)
		if tok.Error() == nil {
			c.Disconnect(0)
			t.Errorf("user %q password %q: connected, want refused", cr[0], cr[1])
		}
	}
	// A device account may not overwrite the hub's availability.
	c := rawClient(t, r.url, devUser, devPass)
	c.Publish(r.drv.AvailabilityTopic(), 1, true, "offline").WaitTimeout(2 * time.Second)
	got := make(chan string, 4)
	c = rawClient(t, r.url, devUser, devPass)
	c.Subscribe(r.drv.AvailabilityTopic(), 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }).Wait()
	select {
	case v := <-got:
		if v != "online" {
			t.Errorf("hub availability = %q, want online", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no retained hub availability")
	}
}

func TestNew_RejectsBadOptions(t *testing.T) {
	apply := func(hub.Report) error { return nil }
	cases := []mqtt.Options{
		{Apply: nil},
		{Apply: apply, Broker: "http://x"},
		{Apply: apply, Broker: "tcp://"},
		{Apply: apply, TasmotaFullTopic: "%topic%/"},
		{Apply: apply, TasmotaFullTopic: "+/%prefix%/%topic%"},
		{Apply: apply, Listen: "0.0.0.0:0"}, // anonymous on a public address
		{Apply: apply, Broker: "tcp://x:1", Devices: []hub.Device{{ID: "a", Driver: "mqtt", Address: "zwave:x"}}},
		{Apply: apply, Broker: "tcp://x:1", Devices: []hub.Device{{ID: "a", Driver: "mqtt", Address: "tasmota:"}}},
		{Apply: apply, Broker: "tcp://x:1", Devices: []hub.Device{{ID: "a", Driver: "mqtt", Address: "z2m:/x"}}},
		{Apply: apply, Broker: "tcp://x:1", Devices: []hub.Device{{ID: "a", Driver: "mqtt", Address: "tasmota:x"}, {ID: "b", Driver: "mqtt", Address: "tasmota:x"}}},
	}
	for i, o := range cases {
		if _, err := mqtt.New(o); err == nil {
			t.Errorf("case %d: New accepted %+v", i, o)
		}
	}
}

// hubAvailability reads the retained hub availability through a fresh client.
func hubAvailability(t *testing.T, url, topic string) string {
	c := rawClient(t, url, "", "")
	got := make(chan string, 1)
	var once sync.Once
	c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { once.Do(func() { got <- string(m.Payload()) }) }).Wait()
	select {
	case v := <-got:
		return v
	case <-time.After(3 * time.Second):
		return ""
	}
}

// TestDriver_PowerCut_WillUntilPowerBack: a device that loses power stays
// diagnosed by its will until it is powered again.
func TestDriver_PowerCut_WillUntilPowerBack(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	sp := r.specs[0]
	if err := r.sim.PowerCut(sp.Name, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the will", func() bool {
		f := r.snap(sp.ID).Fault
		return f != nil && f.Code == hub.CauseWill && !r.snap(sp.ID).Online
	})
	// The marker: a device dropped after the cut went and came back
	// (Drop keeps it away half a second); the cut one must still be away.
	other := r.specs[1]
	if err := r.sim.Drop(other.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, other.ID+" dropped", func() bool { return !r.snap(other.ID).Online })
	waitFor(t, 10*time.Second, other.ID+" back", func() bool { return r.snap(other.ID).Online })
	if s := r.snap(sp.ID); s.Online || s.Fault == nil || s.Fault.Code != hub.CauseWill {
		t.Fatalf("%s came back without power: online %v fault %+v", sp.ID, s.Online, s.Fault)
	}
	if err := r.sim.PowerOn(sp.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "back on power", func() bool { return r.snap(sp.ID).Online && r.snap(sp.ID).Fault == nil })
}
