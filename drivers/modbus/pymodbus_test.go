package modbus

import (
	"errors"
	"testing"
	"time"

	"hubd/drivers/modbus/pymodbustest"
	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// relay4 is the slave's relay module as a custom profile: four coils.
var relay4 = Profile{Name: "relay4", Channels: 4, Switch: &Register{Table: Coil}}

// pyDevices are the slave's devices: the relay's channels 1 and 3, channel
// 2 with the SDM120 attached, and the dimmer.
func pyDevices() []Device {
	return []Device{
		{ID: "relay-a", Unit: 1, Profile: "relay4", Channel: 1},
		{ID: "socket", Unit: 1, Profile: "relay4", Channel: 2, Meter: &Meter{Unit: 3, Profile: "sdm120"}, MeterEvery: 100 * time.Millisecond},
		{ID: "relay-c", Unit: 1, Profile: "relay4", Channel: 3},
		{ID: "dimmer", Unit: 2, Profile: "dimmer"},
	}
}

func startPyRig(t *testing.T, cfg BusConfig, devs ...Device) (*pymodbustest.Slave, *rig) {
	t.Helper()
	s := pymodbustest.Start(t)
	cfg.Name, cfg.Port = "rs485", s.Port
	if cfg.Baud == 0 {
		cfg.Baud = 19200
	}
	if devs == nil {
		devs = pyDevices()
	}
	r := startRig(t, cfg, []Profile{relay4}, devs...)
	for _, d := range devs {
		r.waitFor(t, d.ID+" online", func() bool { return r.snap(d.ID).Online })
	}
	return s, r
}

func TestDriver_PyModbus_SwitchesRelayChannelsThroughTheHub(t *testing.T) {
	s, r := startPyRig(t, BusConfig{})
	if err := r.exec(t, "socket", on(true)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 1, "co", 1); got != "1" {
		t.Fatalf("coil 1 (channel 2) is %s after on", got)
	}
	if s.Get(t, 1, "co", 0) != "0" || s.Get(t, 1, "co", 2) != "0" {
		t.Fatal("switching channel 2 moved another channel")
	}
	if st := r.snap("socket").State; !st.On {
		t.Fatal("hub does not hold the socket as on")
	}
	if err := r.exec(t, "socket", on(false)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 1, "co", 1); got != "0" {
		t.Fatalf("coil 1 is %s after off", got)
	}
	if err := r.exec(t, "relay-c", on(true)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 1, "co", 2); got != "1" {
		t.Fatalf("coil 2 (channel 3) is %s after on", got)
	}
}

func TestDriver_PyModbus_DimsAndRestoresTheLevel(t *testing.T) {
	s, r := startPyRig(t, BusConfig{})
	if err := r.exec(t, "dimmer", level(40)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 2, "hr", 0); got != "40" {
		t.Fatalf("dimmer register is %s after 40 %%", got)
	}
	if err := r.exec(t, "dimmer", on(false)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 2, "hr", 0); got != "0" {
		t.Fatalf("dimmer register is %s after off", got)
	}
	if st := r.snap("dimmer").State; st.On || st.Brightness != 40 {
		t.Fatalf("hub holds on=%v brightness=%d after off, want off at 40", st.On, st.Brightness)
	}
	if err := r.exec(t, "dimmer", on(true)); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, 2, "hr", 0); got != "40" {
		t.Fatalf("dimmer register is %s after on, want the last level 40", got)
	}
}

func TestDriver_PyModbus_MeterOnARelayChannel(t *testing.T) {
	s, r := startPyRig(t, BusConfig{})
	want := hub.State{Power: 288, Voltage: 230.5, Current: 1.25, Energy: 12.75}
	r.waitFor(t, "meter readings", func() bool {
		st := r.snap("socket").State
		return st.Set.Contains(hub.MeterFields) && st.Power == want.Power && st.Voltage == want.Voltage && st.Current == want.Current && st.Energy == want.Energy
	})
	if r.snap("relay-c").State.Set.Has(hub.FieldPower) {
		t.Fatal("a channel without a meter got meter readings")
	}
	s.Do(t, "float 3 12 1500.5")
	r.waitFor(t, "new power reading", func() bool { return r.snap("socket").State.Power == 1500.5 })
	// A change made at the device (a person at the panel) shows up too.
	s.Do(t, "set 1 co 2 1")
	r.waitFor(t, "relay-c on from the device", func() bool { return r.snap("relay-c").State.On })
}

func TestDriver_PyModbus_SilentSlaveGoesOfflineAndReturns(t *testing.T) {
	s, r := startPyRig(t, BusConfig{Timeout: 50 * time.Millisecond, Retries: -1, OfflineAfter: 2})
	s.Do(t, "mute")
	r.waitFor(t, "relay offline", func() bool { return !r.snap("relay-a").Online })
	err := r.exec(t, "relay-a", on(true))
	if !errors.Is(err, hub.ErrUnreachable) {
		t.Fatalf("command to a silent slave: %v, want ErrUnreachable", err)
	}
	st := r.drv.Status()[0]
	if st.Timeouts == 0 || slaveStat(st, 1).Timeouts == 0 {
		t.Fatalf("timeouts not counted: bus %d, unit 1 %+v", st.Timeouts, slaveStat(st, 1))
	}
	s.Do(t, "answer")
	r.waitFor(t, "relay back online", func() bool { return r.snap("relay-a").Online })
	if err := r.exec(t, "relay-a", on(true)); err != nil {
		t.Fatalf("command after the slave came back: %v", err)
	}
}

func slaveStat(st hub.BusStatus, unit int) hub.SlaveStatus {
	for _, s := range st.Slaves {
		if s.Addr == unit {
			return s
		}
	}
	return hub.SlaveStatus{}
}

func TestDriver_PyModbus_IllegalAddressIsNotSupported(t *testing.T) {
	// Channel 6 of the builtin 64-channel relay on a slave with 4 coils.
	devs := []Device{{ID: "relay-a", Unit: 1, Profile: "relay4", Channel: 1}}
	_, r := startPyRig(t, BusConfig{PollInterval: time.Hour}, devs...)
	n, err := newNode(Device{ID: "x", Unit: 1, Profile: "relay", Channel: 6}, mustProfiles(t))
	if err != nil {
		t.Fatal(err)
	}
	b := r.drv.buses[0]
	req := &request{ctx: t.Context(), node: n, set: on(true), done: make(chan error, 1)}
	b.cmds <- req
	err = <-req.done
	var ex *rtu.ExceptionError
	if !errors.Is(err, hub.ErrNotSupported) || !errors.As(err, &ex) || ex.Code != rtu.ExIllegalAddress {
		t.Fatalf("write to coil 5 of 4: %v, want ErrNotSupported with illegal data address", err)
	}
	if slaveStat(r.drv.Status()[0], 1).Exceptions == 0 {
		t.Fatal("exception not counted")
	}
	// The bus goes on: the real channel still switches.
	if err := r.exec(t, "relay-a", on(true)); err != nil {
		t.Fatal(err)
	}
}

func mustProfiles(t *testing.T) map[string]*Profile {
	t.Helper()
	p, err := Profiles([]Profile{relay4})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDriver_PyModbus_BusySlaveIsRetriedThenRefused(t *testing.T) {
	s, r := startPyRig(t, BusConfig{Retries: 2, PollInterval: time.Hour}) // commands only, after the first cycle
	s.Do(t, "busy 2")
	if err := r.exec(t, "relay-a", on(true)); err != nil {
		t.Fatalf("busy twice with two retries: %v", err)
	}
	if got := s.Get(t, 1, "co", 0); got != "1" {
		t.Fatalf("coil 0 is %s", got)
	}
	s.Do(t, "busy 100")
	err := r.exec(t, "relay-a", on(false))
	if !errors.Is(err, hub.ErrBusy) {
		t.Fatalf("always busy: %v, want ErrBusy", err)
	}
	if slaveStat(r.drv.Status()[0], 1).Exceptions < 5 {
		t.Fatalf("exceptions counted: %+v", r.drv.Status()[0].Slaves)
	}
	s.Do(t, "busy 0")
}

func TestDriver_PyModbus_BadCRCIsCountedAndRetried(t *testing.T) {
	s, r := startPyRig(t, BusConfig{Retries: 1, PollInterval: time.Hour})
	s.Do(t, "badcrc 1")
	if err := r.exec(t, "relay-a", on(true)); err != nil {
		t.Fatalf("one bad CRC with a retry: %v", err)
	}
	st := r.drv.Status()[0]
	if st.CRCErrors != 1 || slaveStat(st, 1).CRCErrors != 1 {
		t.Fatalf("CRC errors: bus %d, unit 1 %+v; want 1", st.CRCErrors, slaveStat(st, 1))
	}
	if got := s.Get(t, 1, "co", 0); got != "1" {
		t.Fatalf("coil 0 is %s", got)
	}
}

func TestDriver_PyModbus_SilentMeterLeavesTheRelayOnline(t *testing.T) {
	devs := []Device{{ID: "socket", Unit: 1, Profile: "relay4", Channel: 2, Meter: &Meter{Unit: 9, Profile: "sdm120"}, MeterEvery: time.Millisecond}}
	_, r := startPyRig(t, BusConfig{Timeout: 30 * time.Millisecond, Retries: -1}, devs...)
	waitUntil(t, "meter timeouts", func() bool { return slaveStat(r.drv.Status()[0], 9).Timeouts >= 3 })
	if !r.snap("socket").Online {
		t.Fatal("the relay went offline with its meter")
	}
	if r.snap("socket").State.Set.Has(hub.FieldPower) {
		t.Fatal("power from a meter that never answered")
	}
	if err := r.exec(t, "socket", on(true)); err != nil {
		t.Fatal(err)
	}
}
