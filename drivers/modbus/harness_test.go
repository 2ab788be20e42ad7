package modbus

import (
	"context"
	"testing"
	"time"

	"hubd/hub"
)

// rig is a hub and a driver on one bus.
type rig struct {
	hub    *hub.Hub
	drv    *Driver
	cancel context.CancelFunc
	done   chan struct{}
}

func startRig(t testing.TB, cfg BusConfig, profiles []Profile, devs ...Device) *rig {
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
func (r *rig) waitFor(t testing.TB, what string, cond func() bool) {
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

func (r *rig) exec(t testing.TB, id string, set hub.State) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.hub.Execute(ctx, hub.Command{Device: id, Set: set, Source: "test"})
}

func on(v bool) hub.State { return hub.State{Set: hub.Fields(hub.FieldOn), On: v} }

func level(pct int) hub.State {
	return hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: pct}
}
