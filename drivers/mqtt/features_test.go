package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// allReachable reports whether the hub serves every device as current.
func (r *rig) allReachable() (bool, string) {
	for _, s := range r.specs {
		sn := r.snap(s.ID)
		if !r.hub.Reachable(&sn) {
			return false, s.ID
		}
	}
	return true, ""
}

// Devices that send nothing by themselves stay reachable only because the
// driver asks them: with the refresh off they turn stale.
func TestDriver_Refresh_KeepsQuietDevicesReachable(t *testing.T) {
	const stale = 600 * time.Millisecond
	t.Run("refresh on", func(t *testing.T) {
		r := newRig(t, rigOpts{staleAfter: stale, refresh: 200 * time.Millisecond})
		r.waitState(t)
		end := time.Now().Add(2 * time.Second)
		for time.Now().Before(end) {
			if ok, id := r.allReachable(); !ok {
				sn := r.snap(id)
				t.Fatalf("%s unreachable with the refresh on (last seen %v ago)", id, time.Since(sn.LastSeen))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := r.drv.Stats().Refreshes; n < uint64(len(r.specs)) {
			t.Errorf("%d refresh queries in 2 s for %d devices", n, len(r.specs))
		}
	})
	t.Run("refresh off", func(t *testing.T) {
		r := newRig(t, rigOpts{staleAfter: stale, refresh: -1})
		r.waitState(t)
		for _, s := range r.specs {
			waitFor(t, 5*time.Second, s.ID+" stale", func() bool {
				sn := r.snap(s.ID)
				return !r.hub.Reachable(&sn)
			})
		}
		if n := r.drv.Stats().Refreshes; n != 0 {
			t.Errorf("%d refresh queries with the refresh off", n)
		}
	})
}

// A Gen2 Switch.Set that changes nothing brings no NotifyStatus; the RPC
// reply confirms it.
func TestDriver_Shelly2_SwitchingOnAnOnPlugIsConfirmed(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	const name = "shellyplusplugs-abc"
	on := hub.Command{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}
	for i := range 3 {
		if err := r.hub.Execute(context.Background(), on); err != nil {
			t.Fatalf("switch on #%d: %v", i+1, err)
		}
		if !r.sim.On(name) || !r.snap("socket-3").State.On {
			t.Fatalf("switch on #%d: device on %v, hub on %v", i+1, r.sim.On(name), r.snap("socket-3").State.On)
		}
	}
	if n := r.sim.Commands(name); n != 3 {
		t.Errorf("device got %d commands, want 3", n)
	}
	off := hub.Command{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn)}}
	if err := r.hub.Execute(context.Background(), off); err != nil || r.sim.On(name) {
		t.Fatalf("switch off: %v, device on %v", err, r.sim.On(name))
	}
}

// An RPC error reply fails the command at once with the hub error that
// fits, and the hub's state is left alone.
func TestDriver_Shelly2_RPCErrorFailsCommand(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	const name = "shellyplusplugs-abc"
	on := hub.Command{Device: "socket-3", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}
	cases := []struct {
		code int
		msg  string
		is   error
	}{
		{-103, "Invalid argument 'on': bool expected!", hub.ErrInvalidValue},
		{-114, "Resource unavailable", hub.ErrUnreachable},
		{404, "No handler for Switch.Set", hub.ErrNotSupported},
	}
	for _, tc := range cases {
		if err := r.sim.FailRPC(name, tc.code, tc.msg); err != nil {
			t.Fatal(err)
		}
		err := r.hub.Execute(context.Background(), on)
		if !errors.Is(err, mqtt.ErrRejected) || !errors.Is(err, tc.is) {
			t.Errorf("code %d: err = %v, want ErrRejected and %v", tc.code, err, tc.is)
		} else if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "socket-3") {
			t.Errorf("code %d: error %q does not name the device and say what the device said", tc.code, err)
		}
		if r.sim.On(name) || r.snap("socket-3").State.On {
			t.Errorf("code %d: switched on anyway", tc.code)
		}
		if f := r.snap("socket-3").Fault; f == nil || f.Code != hub.CauseRefused || !strings.Contains(f.Params["error"], tc.msg) {
			t.Errorf("code %d: diagnosis %+v, want the refusal in the device's words", tc.code, f)
		}
	}
	if err := r.sim.FailRPC(name, 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.hub.Execute(context.Background(), on); err != nil {
		t.Fatalf("after the device recovered: %v", err)
	}
	if f := r.snap("socket-3").Fault; f != nil {
		t.Errorf("the refusal stays after a command worked: %+v", f)
	}
}

// Every dialect says what the device is: the hub's device info shows it.
func TestDriver_Info_ReportedByEveryDialect(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitState(t)
	vendor := map[string]string{mqttsim.Shelly1: "Shelly", mqttsim.Shelly2: "Shelly"}
	for _, s := range r.specs {
		configured := s.Device().Info
		want := hub.Info{Manufacturer: configured.Manufacturer, Model: r.sim.Model(s.Name), Firmware: r.sim.Firmware(s.Name)}
		switch s.Dialect {
		case mqttsim.Tasmota:
			want.Hardware = "ESP8266EX"
		case mqttsim.Z2M:
			want.Manufacturer = map[hub.Kind]string{hub.KindLight: "IKEA", hub.KindSocket: "Innr"}[s.Kind]
		default:
			want.Manufacturer = vendor[s.Dialect]
		}
		var got hub.Info
		waitFor(t, 5*time.Second, s.ID+" info", func() bool {
			d, _ := r.hub.Device(s.ID)
			got = d.Info
			if d.Info != want {
				t.Logf("%s: info %+v, want %+v", s.ID, got, want)
			}
			return d.Info == want
		})
		if _, sn, _ := r.hub.Snapshot(s.ID); sn.Info != want {
			t.Errorf("%s: snapshot info %+v, want %+v", s.ID, sn.Info, want)
		}
	}
	// A broken bridge list is counted and changes nothing.
	bad0 := r.drv.Status()[0].BadMsgs
	c := rawClient(t, r.url, devUser, devPass)
	for _, p := range []string{`{"friendly_name":"demo-lamp-3"}`, `[{"friendly_name":"demo-lamp-3","definition":{"vendor":"X`, "\xff"} {
		c.Publish("zigbee2mqtt/bridge/devices", 1, false, p).Wait()
	}
	waitFor(t, 5*time.Second, "3 bad bridge lists counted", func() bool { return r.drv.Status()[0].BadMsgs-bad0 == 3 })
	if d, _ := r.hub.Device("lamp-3"); d.Info.Manufacturer != "IKEA" {
		t.Errorf("lamp-3 info after bad lists: %+v", d.Info)
	}
}

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The embedded broker's ordinary connection ends (devices leaving, the
// broker stopping) are debug lines, not empty warnings.
func TestBroker_GracefulStop_LogsNoEmptyWarnings(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Run("run and stop", func(t *testing.T) {
		r := newRig(t, rigOpts{specs: mqttsim.Demo(), logger: log})
		r.waitState(t)
		if err := r.sim.Drop("demo-lamp-2"); err != nil { // a device vanishing
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "lamp-2 offline", func() bool { return !r.snap("lamp-2").Online })
		// A refused login is worth a warning.
		c := paho.NewClient(paho.NewClientOptions().AddBroker(r.url).SetClientID("intruder").
			SetUsername(devUser).SetPassword("wrong").SetConnectTimeout(3 * time.Second))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
			t.Fatal("wrong password accepted")
		}
		waitFor(t, 5*time.Second, "refused login logged", func() bool {
			return strings.Contains(buf.String(), `level=WARN msg="client connection ended with an error"`)
		})
	}) // cleanups: the devices disconnect, the driver stops the broker
	out := buf.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, `msg=""`) {
			t.Errorf("empty warning: %s", line)
		}
	}
	if !strings.Contains(out, `level=DEBUG msg="client disconnected"`) {
		t.Errorf("no connection end logged at debug:\n%s", out)
	}
}
