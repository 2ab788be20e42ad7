package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"hubd/drivers/serial"
	"hubd/firmware"
	"hubd/hub"
)

func TestParseSerialFaults(t *testing.T) {
	good, err := parseSerialFaults("mute:1, slow:2=300ms,noisy:3=4,flap:4=10s,")
	if err != nil {
		t.Fatal(err)
	}
	want := []serialFault{{"mute", 1, 0, 0}, {"slow", 2, 300 * time.Millisecond, 0}, {"noisy", 3, 0, 4}, {"flap", 4, 10 * time.Second, 0}}
	if fmt.Sprint(good) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", good, want)
	}
	for _, bad := range []string{"mute", "mute:0", "mute:248", "mute:1=2", "slow:1", "slow:1=-1s", "slow:1=2h", "noisy:1=0",
		"noisy:1=x", "flap:1=", "melt:1", ":", "mute:1,slow:x=1s", "noisy:1=99999999999999999999"} {
		if _, err := parseSerialFaults(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePowerCuts(t *testing.T) {
	got, err := parsePowerCuts("demo-lamp-2=10s/30s, demo-plug=0s")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]powerCut{{"demo-lamp-2", 10 * time.Second, 30 * time.Second}, {"demo-plug", 0, 0}}) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"demo-lamp-2", "=1s", "x=soon", "x=-1s", "x=1s/0s", "x=1s/later"} {
		if _, err := parsePowerCuts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSerialFaults_HubDiagnosesEach runs the bench faults on a real PTY
// against the real serial driver and hub: each shows as the diagnosis a
// technician would see.
func TestSerialFaults_HubDiagnosesEach(t *testing.T) {
	buses, err := buildBuses("lamp:1,socket:2,lamp:3", 0, 0, 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	faults, err := parseSerialFaults("noisy:1=1,mute:2,flap:3=400ms")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if err := applySerialFaults(ctx, &wg, buses, faults); err != nil {
		t.Fatal(err)
	}
	if err := applySerialFaults(ctx, &wg, buses, []serialFault{{kind: "mute", addr: 9}}); err == nil {
		t.Error("a fault for an address with no device was accepted")
	}
	h, err := firmware.StartBus(t.TempDir(), buses[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	var devs []hub.Device
	for i, kind := range []hub.Kind{hub.KindLight, hub.KindSocket, hub.KindLight} {
		d := hub.Device{ID: fmt.Sprintf("dev-%d", i+1), Kind: kind, Driver: serial.Name, Address: fmt.Sprintf("bus0/%d", i+1), Fields: hub.Fields(hub.FieldOn)}
		devs = append(devs, d)
	}
	hb, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hb.Close() })
	sub := hb.Subscribe(4096)
	drv, err := serial.New(serial.Options{Apply: hb.Apply, Devices: devs,
		Buses: []serial.BusConfig{{Name: "bus0", Port: h.Path(), PollInterval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond, OfflineAfter: 2, Retries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); drv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Wait on the hub's changes for: dev-1 with corrupt replies, dev-2
	// silent, dev-3 gone and back.
	want := map[string]bool{"dev-1 crc_errors": false, "dev-2 no_reply": false, "dev-3 no_reply": false, "dev-3 back": false}
	seen3 := false
	deadline := time.After(20 * time.Second)
	for !(want["dev-1 crc_errors"] && want["dev-2 no_reply"] && want["dev-3 no_reply"] && want["dev-3 back"]) {
		select {
		case c := <-sub.C:
			if c.Kind != hub.ChangeOnline && c.Kind != hub.ChangeFault {
				continue
			}
			if f := c.Snapshot.Fault; f != nil && f.Severity == hub.SeverityError {
				want[c.Device+" "+string(f.Code)] = true
				if c.Device == "dev-3" {
					seen3 = true
				}
			} else if c.Device == "dev-3" && seen3 && c.Snapshot.Online {
				want["dev-3 back"] = true
			}
		case <-deadline:
			t.Fatalf("after 20 s: %v", want)
		}
	}
}
