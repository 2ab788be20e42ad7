package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/firmware/wire"
	"hubd/hub"
)

// rig is the real driver on the real firmware over a real PTY, wired to a
// real hub.
type rig struct {
	h      *firmware.Harness
	hub    *hub.Hub
	drv    *Driver
	cancel context.CancelFunc
	done   chan struct{}

	evMu   sync.Mutex
	events []string
}

func lampDev(id string, addr int) hub.Device {
	return hub.Device{ID: id, Kind: hub.KindLight, Driver: Name, Address: fmt.Sprintf("bus0/%d", addr),
		Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500}
}

func socketDev(id string, addr int) hub.Device {
	return hub.Device{ID: id, Kind: hub.KindSocket, Driver: Name, Address: fmt.Sprintf("bus0/%d", addr),
		Fields: hub.MeterFields.With(hub.FieldOn)}
}

func startRig(t *testing.T, cfg BusConfig, devs []hub.Device, fw ...firmware.Device) *rig {
	t.Helper()
	h, err := firmware.StartPTY(t.TempDir(), fw...)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{h: h, hub: hb, done: make(chan struct{})}
	cfg.Name, cfg.Port = "bus0", h.Path()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	drv, err := New(Options{
		Buses: []BusConfig{cfg}, Devices: devs, Apply: hb.Apply,
		Events: func(ev hub.Event) {
			r.evMu.Lock()
			r.events = append(r.events, ev.Level+" "+ev.Text)
			r.evMu.Unlock()
			hb.LogEvent(ev)
		},
	})
	if err != nil {
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

func (r *rig) stop() {
	r.cancel()
	<-r.done
	r.h.Close()
	r.hub.Close()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) online(id string) bool {
	_, s, _ := r.hub.Snapshot(id)
	return s.Online
}

func newLamp(t *testing.T, addr uint8) *firmware.Lamp {
	t.Helper()
	l, err := firmware.NewLamp(addr, firmware.LampConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newSocket(t *testing.T, addr uint8) *firmware.Socket {
	t.Helper()
	s, err := firmware.NewSocket(addr, firmware.SocketConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDriver_Execute_ThroughHubChangesLampAndSocket(t *testing.T) {
	lamp, sock := newLamp(t, 1), newSocket(t, 2)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, sock)
	waitFor(t, "devices online", func() bool { return r.online("lamp-1") && r.online("socket-1") })
	d, snap, _ := r.hub.Snapshot("lamp-1")
	if d.Info.Model != "HL-100" || d.Info.Firmware != "1.2.0" || snap.Info.Manufacturer != "Hubd" {
		t.Errorf("identify not reported: %+v", d.Info)
	}

	ctx := context.Background()
	set := hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldColor), On: true, Brightness: 40, Color: hub.HSV{H: 322, S: 100, V: 40}}
	if err := r.hub.Execute(ctx, hub.Command{Device: "lamp-1", Set: set}); err != nil {
		t.Fatalf("lamp command: %v", err)
	}
	_, snap, _ = r.hub.Snapshot("lamp-1")
	if !snap.State.On || snap.State.Brightness != 40 || snap.State.Color != (hub.HSV{H: 322, S: 100, V: 40}) || snap.State.Mode != hub.ColorModeHSV {
		t.Errorf("hub state %+v", snap.State)
	}
	if s := lamp.State(); !s.On || s.Brightness != 40 || s.Hue != 322 {
		t.Errorf("lamp firmware state %+v", s)
	}
	if err := r.hub.Execute(ctx, hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 2700}}); err != nil {
		t.Fatal(err)
	}
	if s := lamp.State(); s.Kelvin != 2700 || s.Mode != wire.ModeTemp {
		t.Errorf("kelvin not set: %+v", s)
	}

	if err := r.hub.Execute(ctx, hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatalf("socket command: %v", err)
	}
	_, snap, _ = r.hub.Snapshot("socket-1")
	if !snap.State.On || snap.State.Power < 50 || snap.State.Voltage < 220 || snap.State.Current < 0.2 {
		t.Errorf("socket state %+v", snap.State)
	}

	if err := r.hub.Execute(ctx, hub.Command{Device: "socket-1", Identify: true}); err != nil {
		t.Fatalf("identify: %v", err)
	}
	if sock.Identifies() != 1 {
		t.Errorf("socket identifies = %d", sock.Identifies())
	}
	st := r.drv.Status()
	if len(st) != 1 || !st[0].Open || st[0].FramesOut == 0 || st[0].FramesIn == 0 || st[0].Devices != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestDriver_Execute_MapsDeviceErrors(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, newSocket(t, 2))
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") })
	ctx := context.Background()
	dev, _ := r.hub.Device("lamp-1")
	err := r.drv.Execute(ctx, dev, hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 9000}})
	if !errors.Is(err, hub.ErrInvalidValue) {
		t.Errorf("kelvin beyond the lamp: %v", err)
	}
	var ref *hub.Refusal
	if !errors.As(err, &ref) || !strings.Contains(ref.Reason, "(value out of range)") || strings.Contains(ref.Reason, "wire:") {
		t.Errorf("the lamp's own words are not in %v", err)
	}
	sdev, _ := r.hub.Device("socket-1")
	err = r.drv.Execute(ctx, sdev, hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 3}})
	if !errors.Is(err, hub.ErrNotSupported) {
		t.Errorf("brightness on a socket: %v", err)
	}
	err = r.drv.Execute(ctx, sdev, hub.Command{Device: "socket-1", Set: hub.State{Set: hub.Fields(hub.FieldPower), Power: 3}})
	if !errors.Is(err, hub.ErrNotSupported) {
		t.Errorf("setting power: %v", err)
	}
	err = r.drv.Execute(ctx, hub.Device{ID: "ghost"}, hub.Command{Device: "ghost", Identify: true})
	if !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("unknown device: %v", err)
	}
}

func TestDriver_Poll_TakesUnsolicitedChanges(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	lamp.Press() // the wall button
	waitFor(t, "button press reported", func() bool {
		_, s, _ := r.hub.Snapshot("lamp-1")
		return s.State.On
	})
}

func TestDriver_MuteDevice_GoesOfflineAndReturns(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{Retries: -1, OfflineAfter: 2}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, newSocket(t, 2))
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	lamp.Faults().SetMute(true)
	waitFor(t, "lamp offline", func() bool { return !r.online("lamp-1") })
	if f := r.fault("lamp-1"); f == nil || f.Code != hub.CauseNoReply || f.Params["bus"] != "bus0" || f.Params["address"] != "1" {
		t.Errorf("diagnosis of a mute lamp: %+v", f)
	}
	if _, s, _ := r.hub.Snapshot("lamp-1"); s.Link.Timeouts == 0 {
		t.Errorf("no timeouts in the lamp's link: %+v", s.Link)
	}
	if !r.online("socket-1") {
		t.Error("a mute lamp took the socket offline")
	}
	dev, _ := r.hub.Device("lamp-1")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := r.drv.Execute(ctx, dev, hub.Command{Device: "lamp-1", Identify: true})
	cancel()
	if !errors.Is(err, hub.ErrUnreachable) {
		t.Errorf("command to a mute lamp: %v", err)
	}
	if r.drv.Status()[0].Timeouts == 0 {
		t.Error("no timeouts counted")
	}
	lamp.Faults().SetMute(false)
	waitFor(t, "lamp back", func() bool { return r.online("lamp-1") })
	if f := r.fault("lamp-1"); f != nil {
		t.Errorf("diagnosis stays after the lamp is back: %+v", f)
	}
}

func (r *rig) fault(id string) *hub.Fault {
	_, s, _ := r.hub.Snapshot(id)
	return s.Fault
}

func TestDriver_SlowDevice_IsRetriedNotDuplicated(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{Timeout: 100 * time.Millisecond, PollInterval: time.Hour}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	before := lamp.Executed()
	// Slower than one attempt: the reply to the first attempt arrives late
	// and the driver's retry (same sequence number) is answered from the
	// lamp's cache. 130 ms lands in the second attempt's window (100-200
	// ms) with 70 ms to spare: at 180 a loaded machine's PTY pushed it past
	// every window now and then.
	lamp.Faults().SetDelay(130 * time.Millisecond)
	err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	if err != nil {
		t.Fatalf("slow lamp: %v", err)
	}
	if got := lamp.Executed() - before; got != 1 {
		t.Errorf("lamp executed the command %d times", got)
	}
}

// PROTOCOL.md section 8: the master's reply timeout is 150 ms per attempt.
// A reply 100 ms late is taken; one 180 ms late is late on every attempt
// (the port's 100 ms read step once let it through on the second step).
func TestDriver_ReplyTimeout_IsTheDocumentedOne(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{PollInterval: time.Hour}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	on := func(v bool) error {
		return r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: v}})
	}
	lamp.Faults().SetDelay(100 * time.Millisecond)
	if err := on(true); err != nil {
		t.Fatalf("a reply 100 ms after the request: %v", err)
	}
	timeouts := r.drv.Status()[0].Timeouts
	lamp.Faults().SetDelay(180 * time.Millisecond)
	err := on(false)
	got := r.drv.Status()[0].Timeouts - timeouts
	switch {
	case err == nil:
		// A retry carries the same SEQ (PROTOCOL.md §5), so a late reply
		// to one attempt that the device got out before the retry reached
		// it (a busy machine) is the request's reply, taken during the
		// next attempt. The attempt it answered still timed out.
		if got < 1 {
			t.Fatalf("a reply 180 ms late was taken with no attempt timing out")
		}
	case !errors.Is(err, hub.ErrUnreachable):
		t.Fatalf("replies 180 ms after each attempt: err = %v, want unreachable", err)
	case got != 3:
		t.Errorf("%d attempts timed out, want all 3", got)
	}
}

func TestDriver_LineNoise_IsSurvived(t *testing.T) {
	lamp := newLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		noise := make([]byte, 1+rng.IntN(40))
		for j := range noise {
			noise[j] = byte(rng.IntN(256))
		}
		noise[0] = wire.SOF
		if err := r.h.InjectNoise(noise); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			r.h.Bus().CorruptReplies(1)
		}
		err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: i + 1}})
		if err != nil {
			t.Fatalf("command %d amid noise: %v", i, err)
		}
	}
	if lamp.State().Brightness != 20 {
		t.Errorf("brightness %d", lamp.State().Brightness)
	}
	if st := r.drv.Status()[0]; st.CRCErrors == 0 {
		t.Errorf("no CRC errors counted: %+v", st)
	}
	// The lamp answers, but its line is noisy: a warning, with the count.
	waitFor(t, "CRC warning", func() bool {
		f := r.fault("lamp-1")
		return f != nil && f.Code == hub.CauseCRC && f.Severity == hub.SeverityWarn && f.Params["address"] == "1"
	})
	if _, s, _ := r.hub.Snapshot("lamp-1"); s.Link.CRCErrors == 0 || !s.Online {
		t.Errorf("lamp link %+v online %v", s.Link, s.Online)
	}
}

func TestDriver_PortVanishes_DevicesReturnWithoutLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		lamp := newLamp(t, 1)
		r := startRig(t, BusConfig{MaxBackoff: 200 * time.Millisecond}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, newSocket(t, 2))
		defer r.stop()
		waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") })
		if err := r.h.Stop(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "devices offline", func() bool { return !r.online("lamp-1") && !r.online("socket-1") })
		waitFor(t, "port-gone diagnosis", func() bool {
			f := r.fault("socket-1")
			return f != nil && f.Code == hub.CausePortGone && f.Params["bus"] == "bus0" && f.Params["port"] == r.h.Path()
		})
		waitFor(t, "port closed", func() bool { return !r.drv.Status()[0].Open })
		dev, _ := r.hub.Device("lamp-1")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := r.drv.Execute(ctx, dev, hub.Command{Device: "lamp-1", Identify: true})
		cancel()
		if !errors.Is(err, hub.ErrUnreachable) {
			t.Errorf("command while the port is gone: %v", err)
		}
		time.Sleep(300 * time.Millisecond) // a few failed reopens
		if err := r.h.Restart(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "devices back", func() bool { return r.online("lamp-1") && r.online("socket-1") })
		if f := r.fault("socket-1"); f != nil {
			t.Errorf("diagnosis stays after the port is back: %+v", f)
		}
		if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
			t.Fatalf("command after reopen: %v", err)
		}
		st := r.drv.Status()[0]
		// The error that closed the port is history once it is open again.
		if st.Reconnects < 1 || !st.Open || st.LastError != "" {
			t.Errorf("status after reopen %+v", st)
		}
		r.evMu.Lock()
		evs := fmt.Sprint(r.events)
		r.evMu.Unlock()
		if !containsAll(evs, "port lost", "port reopened") {
			t.Errorf("events %s", evs)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		found := false
		for i := 0; i+len(x) <= len(s); i++ {
			if s[i:i+len(x)] == x {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestDriver_ThirtyTwoDevices_OnOneBus(t *testing.T) {
	var devs []hub.Device
	var fw []firmware.Device
	lamps := map[string]*firmware.Lamp{}
	for a := 1; a <= 32; a++ {
		if a%2 == 1 {
			l := newLamp(t, uint8(a))
			id := fmt.Sprintf("lamp-%d", a)
			lamps[id] = l
			fw = append(fw, l)
			devs = append(devs, lampDev(id, a))
		} else {
			fw = append(fw, newSocket(t, uint8(a)))
			devs = append(devs, socketDev(fmt.Sprintf("socket-%d", a), a))
		}
	}
	r := startRig(t, BusConfig{}, devs, fw...)
	waitFor(t, "all 32 online", func() bool {
		for _, d := range devs {
			if !r.online(d.ID) {
				return false
			}
		}
		return true
	})
	ids := make([]string, 0, len(lamps))
	for id := range lamps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		err := r.hub.Execute(context.Background(), hub.Command{Device: id, Set: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: i + 10}})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if s := lamps[id].State(); !s.On || int(s.Brightness) != i+10 {
			t.Errorf("%s state %+v", id, s)
		}
	}
}

// garbagePort answers every write with random bytes and sometimes fails.
type garbagePort struct {
	mu     sync.Mutex
	rng    *rand.Rand
	closed bool
}

func (p *garbagePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	time.Sleep(time.Millisecond)
	switch p.rng.IntN(10) {
	case 0:
		return 0, io.EOF
	case 1:
		return 0, errors.New("input/output error")
	}
	n := p.rng.IntN(len(b) + 1)
	for i := range n {
		b[i] = byte(p.rng.IntN(256))
		if p.rng.IntN(8) == 0 {
			b[i] = wire.SOF
		}
	}
	return n, nil
}

func (p *garbagePort) Write(b []byte) (int, error) { return len(b), nil }
func (p *garbagePort) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

func TestDriver_Run_SurvivesGarbagePort(t *testing.T) {
	var opens int
	var mu sync.Mutex
	drv, err := New(Options{
		Buses:   []BusConfig{{Name: "bus0", Port: "junk", PollInterval: 10 * time.Millisecond, Timeout: 20 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}},
		Devices: []hub.Device{lampDev("lamp-1", 1)},
		Open: func(string, int) (io.ReadWriteCloser, error) {
			mu.Lock()
			defer mu.Unlock()
			opens++
			return &garbagePort{rng: rand.New(rand.NewPCG(uint64(opens), 9))}, nil
		},
		Apply: func(r hub.Report) error {
			if !r.State.Set.Empty() || r.Info != nil {
				t.Errorf("garbage became a report: %+v", r)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	drv.Run(ctx)
	if st := drv.Status()[0]; st.FramesOut == 0 || st.Open {
		t.Errorf("status %+v", st)
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	ok := BusConfig{Name: "bus0", Port: "/dev/null"}
	tests := []struct {
		name  string
		buses []BusConfig
		devs  []hub.Device
	}{
		{"no bus name", []BusConfig{{Port: "/dev/x"}}, nil},
		{"slash in name", []BusConfig{{Name: "a/b", Port: "/dev/x"}}, nil},
		{"no port", []BusConfig{{Name: "bus0"}}, nil},
		{"duplicate bus", []BusConfig{ok, ok}, nil},
		{"unknown bus", []BusConfig{ok}, []hub.Device{{ID: "x", Driver: Name, Address: "bus9/1"}}},
		{"address 0", []BusConfig{ok}, []hub.Device{{ID: "x", Driver: Name, Address: "bus0/0"}}},
		{"address 300", []BusConfig{ok}, []hub.Device{{ID: "x", Driver: Name, Address: "bus0/300"}}},
		{"no slash", []BusConfig{ok}, []hub.Device{{ID: "x", Driver: Name, Address: "bus0"}}},
		{"shared address", []BusConfig{ok}, []hub.Device{{ID: "x", Driver: Name, Address: "bus0/1"}, {ID: "y", Driver: Name, Address: "bus0/1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Options{Buses: tc.buses, Devices: tc.devs}); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
	// Devices of other drivers are not the serial driver's business.
	if _, err := New(Options{Buses: []BusConfig{ok}, Devices: []hub.Device{{ID: "m", Driver: "mqtt", Address: "tasmota/x"}}}); err != nil {
		t.Errorf("mqtt device: %v", err)
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"bus0/1", "bus0/247", "bus0/0", "bus0/300", "/5", "x/", "a/b/c", "bus0/-1", "bus0/+7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, addr, err := ParseAddress(s)
		if err != nil {
			return
		}
		if name == "" || !wire.ValidAddr(addr) {
			t.Fatalf("ParseAddress(%q) = %q, %d", s, name, addr)
		}
	})
}

func TestDriver_QuietDevice_StaysFreshThroughPolls(t *testing.T) {
	// A device with nothing new answers each poll with a bare ACK; that
	// answer alone must keep its last_seen current, or a quiet lamp would
	// turn stale between full state reads.
	r := startRig(t, BusConfig{PollInterval: 50 * time.Millisecond, RefreshEvery: time.Hour},
		[]hub.Device{lampDev("lamp", 1)}, newLamp(t, 1))
	waitFor(t, "lamp online", func() bool { return r.online("lamp") })
	_, first, _ := r.hub.Snapshot("lamp")
	time.Sleep(400 * time.Millisecond)
	_, later, _ := r.hub.Snapshot("lamp")
	if !later.LastSeen.After(first.LastSeen.Add(200 * time.Millisecond)) {
		t.Fatalf("last seen went from %v to %v over 400ms of polls", first.LastSeen, later.LastSeen)
	}
}
