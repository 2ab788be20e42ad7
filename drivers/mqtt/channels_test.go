package mqtt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// output is the hub device of relay ch of a multi-relay spec.
func output(s mqttsim.Spec, id string, ch int) hub.Device {
	return hub.Device{ID: id, Name: id, Kind: hub.KindSocket, Driver: mqtt.DriverName, Address: s.ChannelAddress(ch), Fields: hub.Fields(hub.FieldOn)}
}

func setOn(t *testing.T, r *rig, id string, on bool) {
	t.Helper()
	c := hub.Command{Device: id, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: on}}
	if err := r.hub.Execute(context.Background(), c); err != nil {
		t.Fatalf("%s on=%v: %v", id, on, err)
	}
}

// Relays of one device are hub devices of their own: switching one
// leaves the others as they are, and each reads back its own state.
func TestDriver_MultiRelay_SwitchesOneChannelAlone(t *testing.T) {
	tas := mqttsim.Spec{ID: "tas-1", Dialect: mqttsim.Tasmota, Name: "relay4-x", Kind: hub.KindSocket, Relays: 4}
	sh1 := mqttsim.Spec{ID: "sh-1", Dialect: mqttsim.Shelly1, Name: "shellyswitch25-x", Kind: hub.KindSocket, Relays: 2}
	sh2 := mqttsim.Spec{ID: "pm-1", Dialect: mqttsim.Shelly2, Name: "shellyplus2pm-x", Kind: hub.KindSocket, Relays: 2}
	r := newRig(t, rigOpts{specs: []mqttsim.Spec{tas, sh1, sh2}, accounts: true,
		outputs: []hub.Device{output(tas, "tas-2", 2), output(tas, "tas-4", 4), output(sh1, "sh-2", 2), output(sh2, "pm-2", 2)}})
	for _, id := range []string{"tas-2", "tas-4", "sh-2", "pm-2"} {
		waitFor(t, 10*time.Second, id+" online with its state", func() bool {
			s := r.snap(id)
			return s.Online && s.State.Set.Has(hub.FieldOn)
		})
	}
	for _, c := range []struct {
		spec   mqttsim.Spec
		first  string
		second string
		ch     int
	}{{tas, "tas-1", "tas-2", 2}, {sh1, "sh-1", "sh-2", 2}, {sh2, "pm-1", "pm-2", 2}} {
		setOn(t, r, c.second, true)
		if !r.sim.OnChannel(c.spec.Name, c.ch) || r.sim.OnChannel(c.spec.Name, 1) {
			t.Fatalf("%s: channel %d on, channel 1 untouched: got %v and %v", c.spec.Name, c.ch, r.sim.OnChannel(c.spec.Name, c.ch), r.sim.OnChannel(c.spec.Name, 1))
		}
		if !r.snap(c.second).State.On || r.snap(c.first).State.On {
			t.Fatalf("%s: hub sees %s on=%v, %s on=%v", c.spec.Name, c.second, r.snap(c.second).State.On, c.first, r.snap(c.first).State.On)
		}
		setOn(t, r, c.first, true)
		setOn(t, r, c.second, false)
		if r.sim.OnChannel(c.spec.Name, c.ch) || !r.sim.OnChannel(c.spec.Name, 1) {
			t.Fatalf("%s: after channel 1 on and %d off: %v, %v", c.spec.Name, c.ch, r.sim.OnChannel(c.spec.Name, 1), r.sim.OnChannel(c.spec.Name, c.ch))
		}
	}
	if r.sim.OnChannel(tas.Name, 4) || r.snap("tas-4").State.On {
		t.Fatal("POWER4 was switched along")
	}
	// One device, one login: its outputs share the first one's account,
	// which reports for all of them (the emulator logs in as tas-1).
	for _, a := range r.drv.Accounts() {
		if a.Name == "tas-2" || a.Name == "sh-2" || a.Name == "pm-2" {
			t.Errorf("output has an account of its own: %+v", a)
		}
	}
	// Another device's account may not speak for a relay: refused and
	// counted, and the hub's view stays as it was.
	other := rawClient(t, r.url, "sh-1", acctPass("sh-1"))
	publishAcked(t, other, "stat/"+tas.Name+"/POWER4", false, "ON")
	if a := denied(r, "sh-1"); a.DeniedPublish != 1 {
		t.Fatalf("sh-1 publishing for tas-4: %+v, want 1 refusal", a)
	}
	own := rawClient(t, r.url, "tas-1", acctPass("tas-1"))
	publishAcked(t, own, "stat/"+tas.Name+"/POWER4", false, "ON")
	waitFor(t, 5*time.Second, "tas-4 on by its own device's word", func() bool { return r.snap("tas-4").State.On })
}

// A Gen2 light is driven over RPC and reads back what it was set to.
func TestDriver_Shelly2Light_RoundTrip(t *testing.T) {
	rgbw := mqttsim.Spec{ID: "rgbw", Dialect: mqttsim.Shelly2, Name: "shellyplusrgbwpm-x", Kind: hub.KindLight}
	cct := mqttsim.Spec{ID: "cct", Dialect: mqttsim.Shelly2, Name: "shellyprorgbwwpm-x", Kind: hub.KindLight, White: true}
	r := newRig(t, rigOpts{specs: []mqttsim.Spec{rgbw, cct}})
	r.waitState(t)
	ctx := context.Background()
	green := hub.Command{Device: "rgbw", Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldColor, hub.FieldBrightness),
		On: true, Color: hub.HSV{H: 120, S: 100, V: 40}, Brightness: 40}}
	if err := r.hub.Execute(ctx, green); err != nil {
		t.Fatal(err)
	}
	if on, bri, rgb, _ := r.sim.Light(rgbw.Name); !on || bri != 40 || rgb != [3]int{0, 255, 0} {
		t.Fatalf("rgbw light: on %v bri %d rgb %v", on, bri, rgb)
	}
	if s := r.snap("rgbw").State; s.Color != (hub.HSV{H: 120, S: 100, V: 40}) || s.Brightness != 40 || s.Mode != hub.ColorModeHSV {
		t.Fatalf("rgbw read back %+v", s)
	}
	warm := hub.Command{Device: "cct", Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
		On: true, Brightness: 70, TemperatureK: 3500}}
	if err := r.hub.Execute(ctx, warm); err != nil {
		t.Fatal(err)
	}
	if on, bri, _, k := r.sim.Light(cct.Name); !on || bri != 70 || k != 3500 {
		t.Fatalf("cct light: on %v bri %d %d K", on, bri, k)
	}
	if s := r.snap("cct").State; s.TemperatureK != 3500 || s.Brightness != 70 || s.Mode != hub.ColorModeTemperature {
		t.Fatalf("cct read back %+v", s)
	}
	// The device refuses a temperature outside its range: the command
	// fails with its words, nothing changes.
	err := r.drv.Execute(ctx, cct.Device(), hub.Command{Device: "cct", Set: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 2000}})
	if !errors.Is(err, mqtt.ErrRejected) || !errors.Is(err, hub.ErrInvalidValue) {
		t.Fatalf("out of range: %v", err)
	}
	if _, _, _, k := r.sim.Light(cct.Name); k != 3500 {
		t.Fatalf("refused temperature applied: %d K", k)
	}
}
