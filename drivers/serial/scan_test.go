package serial

import (
	"context"
	"errors"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/hub"
)

func TestDriver_Scan_FindsUnconfiguredDevicesWithTheirInfo(t *testing.T) {
	white, err := firmware.NewLamp(5, firmware.LampConfig{White: true, MinK: 3000, MaxK: 6000, Model: "HL-W"})
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, newLamp(t, 1), white, newSocket(t, 9))
	waitFor(t, "lamp-1 online", func() bool { return r.online("lamp-1") })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var live []string
	got, err := r.drv.Scan(ctx, "bus0", 1, 12, func(f hub.Found) { live = append(live, f.Address) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(live) != 2 {
		t.Fatalf("found %+v", got)
	}
	w, s := got[0], got[1]
	want := hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK)
	if w.Address != "bus0/5" || w.Kind != hub.KindLight || w.Caps.Fields != want || w.Caps.TempMinK != 3000 || w.Caps.TempMaxK != 6000 || w.Info.Model != "HL-W" {
		t.Fatalf("white lamp: %+v", w)
	}
	if s.Address != "bus0/9" || s.Kind != hub.KindSocket || s.Caps.Fields != hub.MeterFields.With(hub.FieldOn) {
		t.Fatalf("socket: %+v", s)
	}
	// The configured lamp was not asked, and kept being polled.
	if !r.online("lamp-1") {
		t.Fatal("lamp-1 went offline during the scan")
	}
}

func TestDriver_Scan_RefusesBadRangeUnknownBusAndASecondScan(t *testing.T) {
	r := startRig(t, BusConfig{}, nil, newLamp(t, 1))
	ctx := context.Background()
	if _, err := r.drv.Scan(ctx, "bus0", 0, 10, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("range 0..10: %v", err)
	}
	if _, err := r.drv.Scan(ctx, "bus0", 10, 248, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("range 10..248: %v", err)
	}
	if _, err := r.drv.Scan(ctx, "nope", 1, 2, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown bus: %v", err)
	}
	started := make(chan struct{})
	first := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := r.drv.Scan(sctx, "bus0", 1, 247, func(hub.Found) { close(started) })
		first <- err
	}()
	<-started // the lamp at 1 answered: the scan is under way
	if _, err := r.drv.Scan(ctx, "bus0", 1, 2, nil); !errors.Is(err, hub.ErrBusy) {
		t.Fatalf("second scan: %v", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
	if m := r.drv.Buses(); m["bus0"] {
		t.Fatalf("Buses says bus0 has devices: %v", m)
	}
}
