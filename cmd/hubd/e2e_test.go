package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/hub/yandex"
)

// startDemo runs `hubd demo` in this process on port 0 and a temp dir.
func startDemo(t *testing.T, o DemoOptions) (addr string, m *Main, h *firmware.Harness) {
	t.Helper()
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:0"
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	type ready struct {
		addr string
		m    *Main
	}
	ch := make(chan ready, 1)
	o.Ready = func(a string, m *Main) { ch <- ready{a, m} }
	o.Harness = func(x *firmware.Harness) { h = x }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, o, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("demo did not stop within 10s")
		}
	})
	select {
	case r := <-ch:
		return r.addr, r.m, h
	case err := <-done:
		t.Fatalf("demo exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start in 30s")
	}
	return "", nil, nil
}

func TestDemo_Query_AnswersFromTheCache(t *testing.T) {
	addr, _, _ := startDemo(t, DemoOptions{})
	var got map[string]yandexDevice
	eventually(t, 10*time.Second, "serial devices reported", func() bool {
		got = query(t, addr, "lamp-1", "socket-1")
		_, lampOK := got["lamp-1"].value("on")
		_, sockOK := got["socket-1"].value("power")
		return lampOK && sockOK
	})
	code, data := yandexCall(t, addr, "/v1.0/user/devices/query", "r1", `{"devices":[{"id":"lamp-1"},{"id":"socket-1"},{"id":"nope"}]}`)
	if code != 200 {
		t.Fatalf("status %d: %s", code, data)
	}
	var r yandexReply
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.RequestID != "r1" || len(r.Payload.Devices) != 3 {
		t.Fatalf("reply: %s", data)
	}
	lamp, sock, nope := r.Payload.Devices[0], r.Payload.Devices[1], r.Payload.Devices[2]
	for _, inst := range []string{"on", "brightness"} {
		if _, ok := lamp.value(inst); !ok {
			t.Errorf("lamp-1 has no %s: %s", inst, data)
		}
	}
	_, hsv := lamp.value("hsv")
	_, temp := lamp.value("temperature_k")
	if !hsv && !temp {
		t.Errorf("lamp-1 has no color_setting state: %s", data)
	}
	for _, inst := range []string{"on", "power", "voltage", "amperage"} {
		if _, ok := sock.value(inst); !ok {
			t.Errorf("socket-1 has no %s: %s", inst, data)
		}
	}
	if v, _ := sock.value("voltage"); !strings.HasPrefix(v, "2") {
		t.Errorf("socket-1 voltage %s is not mains voltage", v)
	}
	if nope.ID != "nope" || nope.ErrorCode != "DEVICE_NOT_FOUND" {
		t.Errorf("nope: %+v", nope)
	}
	// The MQTT demo devices answer too.
	eventually(t, 10*time.Second, "MQTT devices reported", func() bool {
		got = query(t, addr, "lamp-2", "socket-2", "lamp-3")
		for _, id := range []string{"lamp-2", "socket-2", "lamp-3"} {
			if _, ok := got[id].value("on"); !ok {
				return false
			}
		}
		return true
	})
}

func TestDemo_Action_ReachesTheSerialLamp(t *testing.T) {
	addr, m, h := startDemo(t, DemoOptions{})
	eventually(t, 10*time.Second, "lamp-1 online", func() bool {
		_, ok := query(t, addr, "lamp-1")["lamp-1"].value("on")
		return ok
	})
	body := `{"payload":{"devices":[{"id":"lamp-1","capabilities":[
		{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}},
		{"type":"devices.capabilities.range","state":{"instance":"brightness","value":37}}]}]}}`
	code, data := yandexCall(t, addr, "/v1.0/user/devices/action", "a1", body)
	if code != 200 || strings.Count(string(data), `"DONE"`) != 2 {
		t.Fatalf("action: %d %s", code, data)
	}
	got := query(t, addr, "lamp-1")["lamp-1"]
	if on, _ := got.value("on"); on != "true" {
		t.Fatalf("on = %s", on)
	}
	if b, _ := got.value("brightness"); b != "37" {
		t.Fatalf("brightness = %s", b)
	}
	// The firmware itself changed, not just the cache.
	if st := m.Serial.Status(); len(st) != 1 || st[0].FramesOut == 0 {
		t.Fatalf("bus status %+v", st)
	}
	if h.Bus() == nil {
		t.Fatal("no emulated bus")
	}
}

// The documented bound for a vanished bus: the driver notices the port is
// gone on its next exchange and marks its devices offline; with the demo's
// 1 s poll and 200 ms timeout that is well within 5 s.
const demoUnreachableBound = 5 * time.Second

func TestDemo_BusVanishes_DevicesUnreachableThenBack(t *testing.T) {
	addr, _, h := startDemo(t, DemoOptions{})
	eventually(t, 10*time.Second, "devices online", func() bool {
		q := query(t, addr, "lamp-1", "socket-1")
		return q["lamp-1"].ErrorCode == "" && q["socket-1"].ErrorCode == "" && len(q["lamp-1"].Capabilities) > 0
	})
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, demoUnreachableBound, "devices unreachable after the bus vanished", func() bool {
		q := query(t, addr, "lamp-1", "socket-1")
		return q["lamp-1"].ErrorCode == "DEVICE_UNREACHABLE" && q["socket-1"].ErrorCode == "DEVICE_UNREACHABLE"
	})
	t.Logf("unreachable %v after the bus vanished", took.Round(time.Millisecond))
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, 15*time.Second, "devices back after the bus returned", func() bool {
		q := query(t, addr, "lamp-1", "socket-1")
		return q["lamp-1"].ErrorCode == "" && q["socket-1"].ErrorCode == ""
	})
	t.Logf("back %v after the bus returned", took.Round(time.Millisecond))
}

// writeRunConfig writes a production config for one serial bus on port.
func writeRunConfig(t *testing.T, dir, port, roomName string, tokens ...string) string {
	t.Helper()
	return writeRunConfigWith(t, dir, port, roomName, "", tokens...)
}

// writeRunConfigWith is writeRunConfig with one more serial lamp, id extra
// at address 3, in the room.
func writeRunConfigWith(t *testing.T, dir, port, roomName, extra string, tokens ...string) string {
	t.Helper()
	extraDev, extraRoom := "", ""
	if extra != "" {
		extraDev = fmt.Sprintf("  - id: %s\n    name: Extra\n    kind: light\n    driver: serial\n    bus: bus0\n    address: 3\n", extra)
		extraRoom = ", " + extra
	}
	var tok strings.Builder
	for _, x := range append([]string{demoToken}, tokens...) {
		fmt.Fprintf(&tok, "        - %s\n", yandex.HashToken(x))
	}
	text := fmt.Sprintf(`http:
  listen: 127.0.0.1:0
data_dir: %s
stale_after: 1m
serial:
  - name: bus0
    port: %s
    poll_interval: 300ms
    timeout: 100ms
devices:
  - id: lamp-1
    name: Lamp
    kind: light
    driver: serial
    bus: bus0
    address: 1
  - id: socket-1
    name: Socket
    kind: socket
    driver: serial
    bus: bus0
    address: 2
%ssite:
  - id: b
    name: Building
    kind: building
    children:
      - id: r1
        name: %s
        kind: room
        devices: [lamp-1, socket-1%s]
yandex:
  users:
    - id: owner
      staff: true
      tokens:
%s`, filepath.Join(dir, "data"), port, extraDev, roomName, extraRoom, tok.String())
	p := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newBench(t *testing.T) (*firmware.Harness, *firmware.Lamp) {
	t.Helper()
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{MinK: 2700, MaxK: 6500})
	if err != nil {
		t.Fatal(err)
	}
	sock, err := firmware.NewSocket(2, firmware.SocketConfig{LoadW: 40})
	if err != nil {
		t.Fatal(err)
	}
	h, err := firmware.StartPTY(t.TempDir(), lamp, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, lamp
}

func TestRun_KillNine_ServesLastStateFromStoreAtOnce(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	h, lamp := newBench(t)
	dir := t.TempDir()
	cfg := writeRunConfig(t, dir, h.Path(), "Lobby")
	d := startDaemon(t, "run", "-config", cfg)
	eventually(t, 10*time.Second, "lamp-1 online", func() bool {
		_, ok := query(t, d.addr, "lamp-1")["lamp-1"].value("on")
		return ok
	})
	body := `{"payload":{"devices":[{"id":"lamp-1","capabilities":[
		{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}},
		{"type":"devices.capabilities.range","state":{"instance":"brightness","value":37}}]}]}}`
	if code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "a1", body); code != 200 || strings.Count(string(data), `"DONE"`) != 2 {
		t.Fatalf("action: %d %s", code, data)
	}
	// Kill once the store's coalescing writer has committed the action's
	// state (applied before the action answered): nothing left pending.
	eventually(t, 10*time.Second, "the action's state committed", func() bool {
		m, err := scrape(d.addr)
		pending, ok := m["hubd_store_pending_states"]
		return err == nil && ok && pending == 0
	})
	d.kill()

	// The lamp now keeps silent: whatever the restarted daemon serves
	// for it can only come from the bbolt file.
	lamp.Faults().SetMute(true)
	d2 := startDaemon(t, "run", "-config", cfg)
	got := query(t, d2.addr, "lamp-1")["lamp-1"]
	if b, _ := got.value("brightness"); b != "37" || got.ErrorCode != "" {
		t.Fatalf("after kill -9 and restart lamp-1 = %+v (brightness %q), want the stored brightness 37", got, b)
	}
	if on, _ := got.value("on"); on != "true" {
		t.Fatalf("after restart on = %s", on)
	}
	// And the silent lamp is then found unreachable by the driver.
	eventually(t, 10*time.Second, "muted lamp unreachable", func() bool {
		return query(t, d2.addr, "lamp-1")["lamp-1"].ErrorCode == "DEVICE_UNREACHABLE"
	})
	if took := d2.stop(); took > shutdownTimeout {
		t.Fatalf("SIGTERM took %v, more than %v", took, shutdownTimeout)
	}
}

func TestRun_SIGHUP_ReloadsAndRefusesABadConfig(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	h, _ := newBench(t)
	dir := t.TempDir()
	cfg := writeRunConfig(t, dir, h.Path(), "Lobby")
	d := startDaemon(t, "run", "-config", cfg)
	rooms := func(token string) (int, string) {
		req, _ := httpNewRequest("GET", "http://"+d.addr+"/v1.0/user/devices", token)
		resp, err := e2eClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := rooms(demoToken); code != 200 || !strings.Contains(body, `"room":"Lobby"`) {
		t.Fatalf("devices: %d %s", code, body)
	}
	if code, _ := rooms("second-token"); code != 401 {
		t.Fatalf("unknown token: %d", code)
	}
	writeRunConfigWith(t, dir, h.Path(), "Reception", "lamp-9", "second-token")
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "reload applied", func() bool {
		code, body := rooms("second-token")
		return code == 200 && strings.Contains(body, `"room":"Reception"`) && strings.Contains(body, `"id":"lamp-9"`)
	})
	// No firmware answers at address 3, so the added lamp is unreachable,
	// while lamp-1 keeps answering on the same port.
	eventually(t, 10*time.Second, "added device listed, old one answering", func() bool {
		q := query(t, d.addr, "lamp-9", "lamp-1")
		return q["lamp-9"].ErrorCode == "DEVICE_UNREACHABLE" && q["lamp-1"].ErrorCode == ""
	})
	// A broken file is refused; the running config stays.
	if err := os.WriteFile(cfg, []byte("devices:\n  - id: x\n    kind: toaster\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "refusal logged", func() bool {
		return strings.Contains(d.out.String(), "toaster")
	})
	if code, body := rooms("second-token"); code != 200 || !strings.Contains(body, `"room":"Reception"`) {
		t.Fatalf("after a refused reload: %d %s", code, body)
	}
}

func TestCheckConfig_NamesTheLine(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("http:\n  listen: nowhere\n"), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), e2eArgsEnv+"=check-config\x1f-config\x1f"+p)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.yaml:2: http.listen") {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	good := writeRunConfig(t, dir, "/dev/ttyUSB0", "Lobby")
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), e2eArgsEnv+"=check-config\x1f-config\x1f"+good)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok (2 devices") {
		t.Fatalf("check-config good: %v\n%s", err, out)
	}
}

func TestDemo_SIGTERM_WithALiveStatusPageStopsPromptly(t *testing.T) {
	// Not in parallel: its 2 s bound is for the daemon, not for a
	// machine shared with the parallel tests.
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir())
	resp, err := http.Get("http://" + d.addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); n == 0 {
		t.Fatalf("live feed sent nothing: %v", err)
	}
	// A technician's open page must not hold the shutdown up: the unit
	// gives hubd 8 s, and it promises 5.
	if took := d.stop(); took > 2*time.Second {
		t.Fatalf("SIGTERM took %v with a live feed open", took)
	}
}
