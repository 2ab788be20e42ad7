package modbus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"hubd/drivers/modbus/modbussim"
	"hubd/firmware"
	"hubd/hub"
)

// startSim serves modbussim slaves on a PTY that the test can unplug.
func startSim(t *testing.T, slaves ...*modbussim.Slave) *firmware.Harness {
	t.Helper()
	bus, err := modbussim.NewBus(slaves...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := firmware.StartServer(t.TempDir(), bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestDriver_PortVanishes_DevicesReturn(t *testing.T) {
	relay := modbussim.NewRelay(1, 4)
	h := startSim(t, relay)
	r := startRig(t, BusConfig{Name: "bus0", Port: h.Path(), Line: Line{Baud: 115200}, MaxBackoff: 200 * time.Millisecond},
		nil, Device{ID: "relay-a", Unit: 1, Profile: "relay", Channel: 1})
	r.waitFor(t, "online", func() bool { return r.snap("relay-a").Online })
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "offline with the port gone", func() bool { return !r.snap("relay-a").Online })
	if err := r.exec(t, "relay-a", on(true)); err == nil {
		t.Fatal("a command went through with the port gone")
	}
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "online again", func() bool { return r.snap("relay-a").Online })
	if err := r.exec(t, "relay-a", on(true)); err != nil {
		t.Fatal(err)
	}
	if !relay.Coil(0) {
		t.Fatal("coil 0 is off after on")
	}
	if st := r.drv.Status()[0]; st.Reconnects < 1 || !st.Open {
		t.Fatalf("status %+v", st)
	}
}

func TestDriver_CommandsGoAheadOfPolls(t *testing.T) {
	// 32 relays at 9600 baud, paced as on a cable: one poll cycle takes
	// about 32 * 23 ms. A command must not wait for the cycle to end.
	slaves, r := startRelays(t, 32, 9600)
	last := "r32"
	start := time.Now()
	if err := r.exec(t, last, on(true)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	cycle := 32 * 23 * time.Millisecond
	if took > cycle/2 {
		t.Fatalf("command took %v; a poll cycle is about %v", took, cycle)
	}
	if !slaves[31].Coil(0) {
		t.Fatal("relay 32 is off")
	}
}

// startRelays is n one-channel relays r1..rn on a bus paced at baud, with
// the driver polling them back to back; it returns once all are online.
func startRelays(t testing.TB, n, baud int) ([]*modbussim.Slave, *rig) {
	t.Helper()
	var slaves []*modbussim.Slave
	var devs []Device
	for u := 1; u <= n; u++ {
		slaves = append(slaves, modbussim.NewRelay(uint8(u), 1))
		devs = append(devs, Device{ID: fmt.Sprintf("r%d", u), Unit: uint8(u), Profile: "relay"})
	}
	bus, err := modbussim.NewBus(slaves...)
	if err != nil {
		t.Fatal(err)
	}
	bus.Baud = baud
	h, err := firmware.StartServer(t.TempDir(), bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r := startRig(t, BusConfig{Name: "bus0", Port: h.Path(), Line: Line{Baud: baud}, PollInterval: time.Millisecond}, nil, devs...)
	last := devs[len(devs)-1].ID
	r.waitFor(t, "every relay online", func() bool { return r.snap(last).Online })
	return slaves, r
}

func TestDriver_Identify_IsNotSupported(t *testing.T) {
	relay := modbussim.NewRelay(1, 1)
	h := startSim(t, relay)
	r := startRig(t, BusConfig{Name: "bus0", Port: h.Path(), Line: Line{Baud: 115200}}, nil, Device{ID: "relay-a", Unit: 1, Profile: "relay"})
	r.waitFor(t, "online", func() bool { return r.snap("relay-a").Online })
	err := r.drv.Execute(t.Context(), hub.Device{ID: "relay-a"}, hub.Command{Device: "relay-a", Identify: true})
	if !errors.Is(err, hub.ErrNotSupported) {
		t.Fatalf("identify: %v, want ErrNotSupported", err)
	}
	if relay.Coil(0) {
		t.Fatal("identify switched the relay")
	}
}
