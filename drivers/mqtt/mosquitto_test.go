package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/hub"
)

// mosquitto runs a real Mosquitto broker on a loopback port.
type mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	port int
	cmd  *exec.Cmd
}

func startMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Skip("mosquitto not installed: apt-get install -y mosquitto mosquitto-clients")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, bin: bin, conf: conf, port: port}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %d: %v", m.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Kill()
	m.cmd.Wait()
	m.cmd = nil
}

func TestDriver_Mosquitto_RestartReconnectsWithoutReplay(t *testing.T) {
	mq := startMosquitto(t)
	r := newRig(t, rigOpts{broker: mq.url(), reconnect: time.Second})
	r.waitState(t)
	ctx := context.Background()
	on := hub.Command{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}
	if err := r.hub.Execute(ctx, on); err != nil {
		t.Fatal(err)
	}
	if v := hubAvailability(t, mq.url(), r.drv.AvailabilityTopic()); v != "online" {
		t.Errorf("hub availability = %q, want online", v)
	}

	mq.stop()
	waitFor(t, 10*time.Second, "connection loss noticed", func() bool { return !r.drv.Status()[0].Connected })
	cmdsBefore := map[string]int64{}
	for _, s := range r.specs {
		cmdsBefore[s.Name] = r.sim.Commands(s.Name)
	}
	for _, s := range r.specs {
		// Straight to the driver: it refuses while down.
		err := r.drv.Execute(ctx, s.Device(), hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: false}})
		if !errors.Is(err, mqtt.ErrNotConnected) || !errors.Is(err, hub.ErrUnreachable) {
			t.Errorf("%s while down: err = %v, want ErrNotConnected and ErrUnreachable", s.ID, err)
		}
		// Through the hub: the device is unreachable now.
		if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: false}}); !errors.Is(err, hub.ErrUnreachable) {
			t.Errorf("%s via hub while down: err = %v, want ErrUnreachable", s.ID, err)
		}
	}

	mq.start()
	waitFor(t, 15*time.Second, "reconnected", func() bool { return r.drv.Stats().Connects >= 2 && r.drv.Status()[0].Connected })
	r.waitState(t)
	time.Sleep(200 * time.Millisecond) // a replayed command would have arrived by now
	for _, s := range r.specs {
		if got := r.sim.Commands(s.Name); got != cmdsBefore[s.Name] {
			t.Errorf("%s received %d commands after reconnect, want none replayed", s.ID, got-cmdsBefore[s.Name])
		}
	}
	if !r.sim.On("demo-lamp-2") {
		t.Error("lamp-2 was switched off by a replayed command")
	}
	for _, s := range r.specs {
		if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
			t.Errorf("%s after reconnect: %v", s.ID, err)
		}
	}
	if st := r.drv.Status()[0]; st.Reconnects < 1 || st.LastError == "" {
		t.Errorf("status after restart: %+v", st)
	}
	if v := hubAvailability(t, mq.url(), r.drv.AvailabilityTopic()); v != "online" {
		t.Errorf("hub availability after restart = %q, want online", v)
	}
}

func TestDriver_Mosquitto_CleanShutdownPublishesOffline(t *testing.T) {
	mq := startMosquitto(t)
	h, _ := hub.New(nil, nil, hub.Options{})
	defer h.Close()
	drv, err := mqtt.New(mqtt.Options{Broker: mq.url(), ClientID: "hubd-shutdown", Apply: h.Apply})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- drv.Run(ctx) }()
	waitFor(t, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })
	waitFor(t, 5*time.Second, "online published", func() bool { return hubAvailability(t, mq.url(), drv.AvailabilityTopic()) == "online" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := hubAvailability(t, mq.url(), drv.AvailabilityTopic()); v != "offline" {
		t.Errorf("after shutdown availability = %q, want offline", v)
	}
}
