package modbus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

// pySlave is testdata/slave.py, a pymodbus slave, on one end of a socat
// PTY pair; Port is the other end.
type pySlave struct {
	Port  string
	in    io.WriteCloser
	lines chan string
}

// startPySlave starts socat and the slave, or skips when either is missing.
func startPySlave(t *testing.T) *pySlave {
	t.Helper()
	const install = "apt-get install -y python3-pymodbus socat"
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed: " + install)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pymodbus").Run(); err != nil {
		t.Skip("python3-pymodbus is not installed: " + install)
	}
	socat := exec.Command("socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0")
	stderr, err := socat.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socat.Process.Kill(); socat.Wait() })
	var ptys []string
	sc := bufio.NewScanner(stderr)
	for len(ptys) < 2 && sc.Scan() {
		if _, p, ok := strings.Cut(sc.Text(), "PTY is "); ok {
			ptys = append(ptys, p)
		}
	}
	if len(ptys) < 2 {
		t.Fatalf("socat gave no PTY pair: %v", sc.Err())
	}
	go io.Copy(io.Discard, stderr)

	py := exec.Command("/usr/bin/python3", "testdata/slave.py", ptys[0])
	py.Stderr = os.Stderr
	if !testing.Verbose() {
		py.Stderr = nil
	}
	in, err := py.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	s := &pySlave{Port: ptys[1], in: in, lines: make(chan string, 16)}
	t.Cleanup(func() { in.Close(); py.Process.Kill(); py.Wait() })
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	s.expect(t, "ready")
	return s
}

// expect waits for the slave to print want (10 s at most).
func (s *pySlave) expect(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("slave exited waiting for %q", want)
			}
			if strings.HasPrefix(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("slave did not say %q", want)
		}
	}
}

// do sends a control line and waits until it is in effect.
func (s *pySlave) do(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "ok "+line)
}

// get reads a coil ("co") or holding register ("hr") inside the slave.
func (s *pySlave) get(t *testing.T, unit int, table string, addr int) string {
	t.Helper()
	line := fmt.Sprintf("get %d %s %d", unit, table, addr)
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	v := strings.TrimPrefix(s.expect(t, "value "), "value ")
	s.expect(t, "ok "+line)
	return v
}

// rig is a hub and a driver on one bus.
type rig struct {
	hub    *hub.Hub
	drv    *Driver
	cancel context.CancelFunc
	done   chan struct{}
}

func startRig(t *testing.T, cfg BusConfig, profiles []Profile, devs ...Device) *rig {
	t.Helper()
	profs, err := Profiles(profiles)
	if err != nil {
		t.Fatal(err)
	}
	var hdevs []hub.Device
	for i := range devs {
		devs[i].Bus = cfg.Name
		kind := hub.KindSocket
		if f := Fields(devs[i], profs); f.Has(hub.FieldBrightness) {
			kind = hub.KindLight
		}
		hdevs = append(hdevs, hub.Device{ID: devs[i].ID, Name: devs[i].ID, Kind: kind, Driver: Name,
			Address: Address(cfg.Name, devs[i].Unit, devs[i].Channel), Fields: Fields(devs[i], profs)})
	}
	hb, err := hub.New(hdevs, nil, hub.Options{CommandTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	drv, err := New(Options{Buses: []BusConfig{cfg}, Devices: devs, Profiles: profiles, Apply: hb.Apply, Events: hb.Log})
	if err != nil {
		t.Fatal(err)
	}
	hb.SetDriver(Name, drv)
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{hub: hb, drv: drv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		drv.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		hb.Close()
	})
	return r
}

// waitFor waits until cond holds, checking again at every change the hub
// publishes (10 s at most).
func (r *rig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	sub := r.hub.Subscribe(64)
	defer r.hub.Unsubscribe(sub)
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-sub.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *rig) snap(id string) hub.Snapshot {
	_, s, _ := r.hub.Snapshot(id)
	return s
}

func (r *rig) exec(t *testing.T, id string, set hub.State) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.hub.Execute(ctx, hub.Command{Device: id, Set: set, Source: "test"})
}

func on(v bool) hub.State { return hub.State{Set: hub.Fields(hub.FieldOn), On: v} }

func level(pct int) hub.State {
	return hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: pct}
}
