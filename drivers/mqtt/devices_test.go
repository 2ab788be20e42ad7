package mqtt_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// connState is what must not change while devices are set: one connection,
// never lost.
type connState struct {
	connects, attempts, reconnects uint64
	since                          time.Time
}

func (r *rig) conn(t *testing.T) connState {
	t.Helper()
	st, ss := r.drv.Status()[0], r.drv.Stats()
	if !st.Connected {
		t.Fatalf("driver not connected: %+v", st)
	}
	return connState{connects: ss.Connects, attempts: ss.Attempts, reconnects: st.Reconnects, since: st.Since}
}

func (r *rig) checkSameConn(t *testing.T, before connState) {
	t.Helper()
	if now := r.conn(t); now != before {
		t.Errorf("the broker connection changed: before %+v, after %+v", before, now)
	}
}

func devicesOf(specs ...[]mqttsim.Spec) []hub.Device {
	var out []hub.Device
	for _, ss := range specs {
		for _, s := range ss {
			out = append(out, s.Device())
		}
	}
	return out
}

// reconfigure tells the hub and then the driver, in the order cmd/hubd does.
func (r *rig) reconfigure(t *testing.T, devs []hub.Device) {
	t.Helper()
	// A nil site panics in hub.Reconfigure: pass the one in use.
	if err := r.hub.Reconfigure(devs, r.hub.Site()); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.SetDevices(devs); err != nil {
		t.Fatalf("SetDevices: %v", err)
	}
}

func TestDriver_SetDevices_AddedDevicesAreSubscribedAndQueried(t *testing.T) {
	// One new device per dialect; they are connected and have announced
	// themselves already, to nobody.
	extra := []mqttsim.Spec{
		{ID: "socket-3", Dialect: mqttsim.Shelly2, Name: "shellyplusplugs-abc", Kind: hub.KindSocket},
		{ID: "socket-4", Dialect: mqttsim.Tasmota, Name: "tasmota-plug-4", Kind: hub.KindSocket},
		{ID: "socket-5", Dialect: mqttsim.Z2M, Name: "floor1/plug", Kind: hub.KindSocket, Z2MLegacy: true},
		{ID: "socket-6", Dialect: mqttsim.Shelly1, Name: "shellyplug-s-6", Kind: hub.KindSocket},
	}
	r := newRig(t, rigOpts{specs: mqttsim.Demo(), extra: extra})
	r.waitState(t)
	before := r.conn(t)

	all := append(mqttsim.Demo(), extra...)
	r.reconfigure(t, devicesOf(all))
	// The devices send nothing by themselves (no telemetry): full state
	// arrives only if the driver subscribed and asked.
	r.specs = all
	r.waitState(t)

	ctx := context.Background()
	for _, s := range all {
		if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
			t.Errorf("command to %s: %v", s.ID, err)
		}
		if !r.sim.On(s.Name) {
			t.Errorf("%s not switched on", s.ID)
		}
	}
	r.checkSameConn(t, before)
}

func TestDriver_SetDevices_RemovedDevicesAreUnsubscribed(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	r.settle(t) // the replies to the connect's queries count as received too
	before := r.conn(t)

	var kept []mqttsim.Spec
	for _, s := range r.specs {
		if s.ID != "lamp-2" && s.ID != "socket-3" { // Tasmota (wildcards) and Shelly Gen2
			kept = append(kept, s)
		}
	}
	// The hub keeps every device, so a report leaking from the driver
	// would show in its snapshots.
	if err := r.drv.SetDevices(devicesOf(kept)); err != nil {
		t.Fatal(err)
	}
	seq := map[string]uint64{"lamp-2": r.snap("lamp-2").Seq, "socket-3": r.snap("socket-3").Seq}

	c := rawClient(t, r.url, devUser, devPass)
	publish := func(topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	power := func(w float64) {
		t.Helper()
		publish("shellies/shellyplug-s-demo2/relay/0/power", strconv.FormatFloat(w, 'f', -1, 64))
		waitFor(t, 5*time.Second, "socket-2 power", func() bool { return r.snap("socket-2").State.Power == w })
	}
	power(1111) // everything before this has arrived
	in0 := r.drv.Status()[0].MsgsIn
	publish("stat/demo-lamp-2/RESULT", `{"POWER":"ON","Dimmer":7}`)
	publish("tele/demo-lamp-2/LWT", "Offline")
	publish("shellyplusplugs-abc/status/switch:0", `{"id":0,"output":true,"apower":99,"voltage":230,"current":0.4,"aenergy":{"total":5}}`)
	publish("shellyplusplugs-abc/online", "false")
	power(2222)
	if got := r.drv.Status()[0].MsgsIn - in0; got != 1 {
		t.Errorf("driver received %d messages, want 1: removed devices still subscribed", got)
	}
	for id, s := range seq {
		if now := r.snap(id).Seq; now != s {
			t.Errorf("%s reported after removal: seq %d -> %d", id, s, now)
		}
	}
	err := r.drv.Execute(context.Background(), r.specs[0].Device(), hub.Command{Device: "lamp-2", Identify: true})
	if !errors.Is(err, mqtt.ErrUnknownDevice) {
		t.Errorf("command to a removed device: %v, want ErrUnknownDevice", err)
	}
	r.checkSameConn(t, before)
}

func TestDriver_SetDevices_RefusesBadListAndKeepsOldSet(t *testing.T) {
	extra := []mqttsim.Spec{{ID: "socket-4", Dialect: mqttsim.Tasmota, Name: "tasmota-plug-4", Kind: hub.KindSocket}}
	r := newRig(t, rigOpts{specs: mqttsim.Demo(), extra: extra})
	r.waitState(t)
	before := r.conn(t)
	good := devicesOf(mqttsim.Demo(), extra)
	dev := func(id, addr string) hub.Device {
		return hub.Device{ID: id, Kind: hub.KindSocket, Driver: mqtt.DriverName, Address: addr, Fields: hub.Fields(hub.FieldOn)}
	}
	tests := []struct {
		name string
		bad  hub.Device
		is   error
		want []string
	}{
		{"unknown dialect", dev("plug-9", "zwave:9"), mqtt.ErrBadAddress, []string{"plug-9", "zwave"}},
		{"slash in tasmota topic", dev("plug-9", "tasmota:a/b"), mqtt.ErrBadAddress, []string{"plug-9", "tasmota:a/b"}},
		{"empty name", dev("plug-9", "shelly:"), mqtt.ErrBadAddress, []string{"plug-9"}},
		{"wildcard", dev("plug-9", "z2m:a/+"), mqtt.ErrBadAddress, []string{"plug-9"}},
		{"no colon", dev("plug-9", "tasmota"), mqtt.ErrBadAddress, []string{"plug-9"}},
		{"duplicate topic", dev("plug-9", "tasmota:demo-lamp-2"), mqtt.ErrBadOptions, []string{"lamp-2", "plug-9", "share topic"}},
		{"duplicate z2m topic", dev("plug-9", "z2m:demo-lamp-3"), mqtt.ErrBadOptions, []string{"lamp-3", "plug-9", "share topic"}},
		{"id twice", dev("socket-2", "shelly:other"), mqtt.ErrBadOptions, []string{"socket-2", "twice"}},
		{"no id", dev("", "shelly:other"), mqtt.ErrBadOptions, []string{"shelly:other", "no id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			devs := append(append([]hub.Device(nil), good...), tc.bad)
			if err := r.drv.CheckDevices(devs); !errors.Is(err, tc.is) {
				t.Errorf("CheckDevices: %v, want %v", err, tc.is)
			}
			err := r.drv.SetDevices(devs)
			if !errors.Is(err, tc.is) {
				t.Fatalf("SetDevices: %v, want %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Nothing changed: socket-4 of the refused lists is unknown, the old
	// set answers.
	err := r.drv.Execute(context.Background(), extra[0].Device(), hub.Command{Device: "socket-4", Identify: true})
	if !errors.Is(err, mqtt.ErrUnknownDevice) {
		t.Errorf("device of a refused list: %v, want ErrUnknownDevice", err)
	}
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Errorf("old device after refused lists: %v", err)
	}
	if err := r.drv.CheckDevices(good); err != nil {
		t.Errorf("CheckDevices(good): %v", err)
	}
	// The good list still goes in afterwards.
	r.reconfigure(t, good)
	r.specs = append(mqttsim.Demo(), extra...)
	r.waitState(t)
	r.checkSameConn(t, before)
}

// Reloads racing commands, presses and message handling: the devices in
// every list keep working, and the race detector watches the rest.
func TestDriver_SetDevices_ConcurrentWithTraffic(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	before := r.conn(t)
	all := devicesOf(r.specs)
	var some, coming []hub.Device
	for _, d := range all {
		if d.ID != "socket-3" && d.ID != "lamp-3" {
			some = append(some, d)
		} else {
			coming = append(coming, d)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			devs := all
			if i%2 == 0 {
				devs = some
			}
			if err := r.drv.SetDevices(devs); err != nil {
				t.Errorf("SetDevices: %v", err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, name := range []string{"shellyplusplugs-abc", "demo-lamp-3", "demo-lamp-2"} {
				if err := r.sim.Press(name); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	ctx := context.Background()
	for i := range 20 {
		// socket-3 and lamp-3 come and go: unknown or sent, nothing else.
		for _, d := range coming {
			if err := r.drv.Execute(ctx, d, hub.Command{Device: d.ID, Identify: true}); err != nil && !errors.Is(err, mqtt.ErrUnknownDevice) {
				t.Errorf("%s: %v", d.ID, err)
			}
		}
		if err := r.hub.Execute(ctx, hub.Command{Device: "socket-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: i%2 == 0}}); err != nil {
			t.Errorf("socket-2 command %d during reloads: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if err := r.drv.SetDevices(all); err != nil {
		t.Fatal(err)
	}
	// Back in: commands are confirmed by the devices' echo again. (A Gen2
	// plug announces only a change, so each is flipped.)
	for _, s := range r.specs {
		if s.ID != "socket-3" && s.ID != "lamp-3" {
			continue
		}
		if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: !r.sim.On(s.Name)}}); err != nil {
			t.Errorf("%s after the reloads: %v", s.ID, err)
		}
	}
	r.checkSameConn(t, before)
}

// A list set while the driver is not connected is subscribed on connect.
func TestDriver_SetDevices_BeforeRun(t *testing.T) {
	specs := mqttsim.Demo()
	h, err := hub.New(devicesOf(specs), nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	drv, err := mqtt.New(mqtt.Options{Listen: "127.0.0.1:0", ClientID: "hubd-test", Apply: h.Apply, Devices: devicesOf(specs[:1])})
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.SetDevices(devicesOf(specs)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); drv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: drv.BrokerURL(), Devices: specs, Telemetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	for _, s := range specs {
		waitFor(t, 10*time.Second, s.ID+" state", func() bool {
			_, sn, _ := h.Snapshot(s.ID)
			return sn.Online && sn.State.Set.Contains(s.Fields())
		})
	}
}
