package serial

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/hub"
)

// portSnapshot is what must not change while devices are set: the port was
// opened once and stayed open.
func portSnapshot(t *testing.T, r *rig) hub.BusStatus {
	t.Helper()
	st := r.drv.Status()[0]
	if !st.Open || st.Reconnects != 0 || st.OpenSince.IsZero() {
		t.Fatalf("port not steadily open: %+v", st)
	}
	return st
}

func checkSamePort(t *testing.T, r *rig, before hub.BusStatus) {
	t.Helper()
	st := r.drv.Status()[0]
	if !st.Open || st.Reconnects != before.Reconnects || !st.OpenSince.Equal(before.OpenSince) {
		t.Errorf("port was reopened: before %+v, after %+v", before, st)
	}
}

func (r *rig) nodeOf(id string) *node {
	r.drv.mu.RLock()
	defer r.drv.mu.RUnlock()
	return r.drv.devs[id].node
}

// reconfigure tells the hub and then the driver, in the order cmd/hubd does.
func (r *rig) reconfigure(t *testing.T, devs ...hub.Device) {
	t.Helper()
	if err := r.hub.Reconfigure(devs, r.hub.Site()); err != nil { // a nil site panics in hub.Reconfigure
		t.Fatal(err)
	}
	if err := r.drv.SetDevices(devs); err != nil {
		t.Fatalf("SetDevices: %v", err)
	}
}

func TestDriver_SetDevices_AddedDeviceIsIdentifiedAndReported(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "lamp online", func() bool { return r.online("lamp-1") })
	before := portSnapshot(t, r)
	lampNode := r.nodeOf("lamp-1")

	// A technician wires a socket to the bus, then adds it to the config.
	sock := newSocket(t, 2)
	if err := r.h.Bus().Add(sock); err != nil {
		t.Fatal(err)
	}
	r.reconfigure(t, lampDev("lamp-1", 1), socketDev("socket-1", 2))

	waitFor(t, "socket identified and reporting", func() bool {
		d, s, _ := r.hub.Snapshot("socket-1")
		return s.Online && d.Info.Model != "" && s.State.Set.Has(hub.FieldVoltage)
	})
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatalf("command to the added socket: %v", err)
	}
	if !sock.State(time.Now()).On {
		t.Error("socket relay not switched")
	}
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatalf("command to the lamp that stayed: %v", err)
	}
	if r.nodeOf("lamp-1") != lampNode {
		t.Error("the lamp that stayed lost what the driver knew of it")
	}
	if st := r.drv.Status()[0]; st.Devices != 2 {
		t.Errorf("status devices = %d, want 2", st.Devices)
	}
	checkSamePort(t, r, before)
}

func TestDriver_SetDevices_RemovedDeviceIsNoLongerPolled(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	devs := []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}
	r := startRig(t, BusConfig{}, devs, lamp, sock)
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") })
	before := portSnapshot(t, r)

	// The hub still knows socket-1, so a report leaking from the driver
	// would show in its snapshot.
	if err := r.drv.SetDevices(devs[:1]); err != nil {
		t.Fatal(err)
	}
	_, sockSnap, _ := r.hub.Snapshot("socket-1")
	// Two whole exchanges with the lamp after SetDevices returned: any
	// exchange with the socket that was on the wire then is over.
	l0 := lamp.Executed()
	waitFor(t, "two lamp polls", func() bool { return lamp.Executed() >= l0+2 })
	s0 := sock.Executed()
	sock.Press(time.Now()) // news the driver would fetch if it still polled
	waitFor(t, "five more lamp polls", func() bool { return lamp.Executed() >= l0+7 })
	if got := sock.Executed(); got != s0 {
		t.Errorf("removed socket was polled %d more times", got-s0)
	}
	if _, s, _ := r.hub.Snapshot("socket-1"); s.Seq != sockSnap.Seq {
		t.Errorf("report for the removed socket: before %+v after %+v", sockSnap, s)
	}
	err := r.drv.Execute(context.Background(), devs[1], hub.Command{Device: "socket-1", Identify: true})
	if !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("command to a removed device: %v", err)
	}
	if st := r.drv.Status()[0]; st.Devices != 1 {
		t.Errorf("status devices = %d, want 1", st.Devices)
	}
	checkSamePort(t, r, before)
}

func TestDriver_SetDevices_DropsQueuedCommandsOfRemovedDevice(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	devs := []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}
	r := startRig(t, BusConfig{PollInterval: time.Hour, Timeout: 3 * time.Second}, devs, lamp, sock)
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") })

	// The slow lamp holds the bus while a command for the socket queues.
	lamp.Faults().SetDelay(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lampDone := make(chan error, 1)
	go func() { lampDone <- r.drv.Execute(ctx, devs[0], hub.Command{Device: "lamp-1", Identify: true}) }()
	waitFor(t, "lamp busy blinking", func() bool { return lamp.Identifies() == 1 })
	s0 := sock.Executed()
	sockDone := make(chan error, 1)
	go func() {
		sockDone <- r.drv.Execute(ctx, devs[1], hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	}()
	b := r.drv.buses[0]
	waitFor(t, "socket command queued", func() bool { return len(b.cmds) == 1 })
	if err := r.drv.SetDevices(devs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := <-sockDone; !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("queued command of a removed device: %v, want ErrUnknownDevice", err)
	}
	if err := <-lampDone; err != nil {
		t.Errorf("lamp command: %v", err)
	}
	if sock.Executed() != s0 || sock.State(time.Now()).On {
		t.Error("the dropped command reached the socket")
	}
}

func TestDriver_SetDevices_RefusesBadListAndKeepsOldSet(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp, sock)
	waitFor(t, "lamp online", func() bool { return r.online("lamp-1") })
	before := portSnapshot(t, r)
	lampNode := r.nodeOf("lamp-1")

	withAddr := func(d hub.Device, a string) hub.Device { d.Address = a; return d }
	good := []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}
	tests := []struct {
		name string
		bad  hub.Device
		want []string // in the error text
	}{
		{"unknown bus", withAddr(lampDev("lamp-9", 9), "bus7/9"), []string{"lamp-9", `"bus7"`, "restart"}},
		{"address zero", withAddr(lampDev("lamp-9", 9), "bus0/0"), []string{"lamp-9", "bus0/0"}},
		{"address too big", withAddr(lampDev("lamp-9", 9), "bus0/248"), []string{"lamp-9", "1..247"}},
		{"no number", withAddr(lampDev("lamp-9", 9), "bus0"), []string{"lamp-9", `"bus0"`}},
		{"shared address", lampDev("lamp-9", 2), []string{"socket-1", "lamp-9", "bus0/2"}},
		{"id twice", lampDev("socket-1", 9), []string{"socket-1", "twice"}},
		{"no id", lampDev("", 9), []string{"bus0/9", "no id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			devs := append(append([]hub.Device(nil), good...), tc.bad)
			err := r.drv.CheckDevices(devs)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("CheckDevices: %v, want ErrConfig", err)
			}
			err = r.drv.SetDevices(devs)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("SetDevices: %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Nothing changed: the socket of the refused lists was never polled,
	// and the lamp works as before.
	l0 := lamp.Executed()
	waitFor(t, "three lamp polls", func() bool { return lamp.Executed() >= l0+3 })
	if n := sock.Executed(); n != 0 {
		t.Errorf("socket of a refused list was polled %d times", n)
	}
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatalf("lamp after refused lists: %v", err)
	}
	if r.nodeOf("lamp-1") != lampNode || r.drv.Status()[0].Devices != 1 {
		t.Error("a refused list changed the device set")
	}
	if err := r.drv.CheckDevices(good); err != nil {
		t.Errorf("CheckDevices(good): %v", err)
	}
	if r.drv.Status()[0].Devices != 1 {
		t.Error("CheckDevices changed the device set")
	}
	checkSamePort(t, r, before)
}

func TestDriver_SetDevices_MovedAddressIsRemovedAndAdded(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	// The config first has the socket at a wrong address, where nobody answers.
	wrong := socketDev("socket-1", 3)
	r := startRig(t, BusConfig{Retries: -1, OfflineAfter: 1, Timeout: 50 * time.Millisecond}, []hub.Device{lampDev("lamp-1", 1), wrong}, lamp, sock)
	waitFor(t, "lamp online", func() bool { return r.online("lamp-1") })
	before := portSnapshot(t, r)
	old := r.nodeOf("socket-1")
	r.reconfigure(t, lampDev("lamp-1", 1), socketDev("socket-1", 2))
	waitFor(t, "socket online at its real address", func() bool { return r.online("socket-1") })
	if r.nodeOf("socket-1") == old || !old.gone.Load() {
		t.Error("a moved device kept its old node")
	}
	checkSamePort(t, r, before)
}

func TestDriver_SetDevices_BeforeRun(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRigDevices(t, nil, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "lamp set before Run comes online", func() bool { return r.online("lamp-1") })
}

// startRigDevices starts the rig's driver with drvDevs, then sets
// hubDevs on it before Run.
func startRigDevices(t *testing.T, drvDevs, hubDevs []hub.Device, fw ...firmware.Device) *rig {
	t.Helper()
	h, err := firmware.StartPTY(t.TempDir(), fw...)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := hub.New(hubDevs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{h: h, hub: hb, done: make(chan struct{})}
	drv, err := New(Options{Buses: []BusConfig{{Name: "bus0", Port: h.Path(), PollInterval: 50 * time.Millisecond}}, Devices: drvDevs, Apply: hb.Apply})
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.SetDevices(hubDevs); err != nil {
		t.Fatal(err)
	}
	r.drv = drv
	hb.SetDriver(Name, drv)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		drv.Run(ctx)
	}()
	t.Cleanup(r.stop)
	return r
}

// Reloads racing commands and polls: the lamp that is in every list keeps
// answering, and the race detector watches the rest.
func TestDriver_SetDevices_ConcurrentWithExecute(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	with := []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}
	r := startRig(t, BusConfig{}, with, lamp, sock)
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") })
	before := portSnapshot(t, r)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			devs := with
			if i%2 == 0 {
				devs = with[:1]
			}
			if err := r.drv.SetDevices(devs); err != nil {
				t.Errorf("SetDevices: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// The socket may be in or out at any moment: its commands succeed or
	// fail as unknown, never anything else.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := r.drv.Execute(ctx, with[1], hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: i%2 == 0}})
			cancel()
			if err != nil && !errors.Is(err, ErrUnknownDevice) {
				t.Errorf("socket command %d: %v", i, err)
			}
		}
	}()
	for i := range 20 {
		err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: i + 1}})
		if err != nil {
			t.Errorf("lamp command %d during reloads: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if err := r.drv.SetDevices(with); err != nil {
		t.Fatal(err)
	}
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "socket-1", Identify: true}); err != nil {
		t.Errorf("socket after the reloads: %v", err)
	}
	checkSamePort(t, r, before)
}
