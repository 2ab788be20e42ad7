package mqtt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
)

// startMosquitto runs a real Mosquitto on a loopback port (skips without).
func startMosquitto(t testing.TB) *mosquittotest.Broker { return mosquittotest.Start(t) }

func TestDriver_Mosquitto_RestartReconnectsWithoutReplay(t *testing.T) {
	mq := startMosquitto(t)
	r := newRig(t, rigOpts{broker: mq.URL(), reconnect: time.Second})
	r.waitState(t)
	ctx := context.Background()
	on := hub.Command{Device: "lamp-2", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}
	if err := r.hub.Execute(ctx, on); err != nil {
		t.Fatal(err)
	}
	if v := hubAvailability(t, mq.URL(), r.drv.AvailabilityTopic()); v != "online" {
		t.Errorf("hub availability = %q, want online", v)
	}

	mq.Stop()
	waitFor(t, 10*time.Second, "connection loss noticed", func() bool { return !r.drv.Status()[0].Connected })
	for _, sp := range r.specs {
		waitFor(t, 5*time.Second, sp.ID+" diagnosed broker down", func() bool {
			f := r.snap(sp.ID).Fault
			return f != nil && f.Code == hub.CauseBrokerDown && f.Params["broker"] != "" && f.Raw != ""
		})
	}
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

	mq.Run()
	waitFor(t, 15*time.Second, "reconnected", func() bool { return r.drv.Stats().Connects >= 2 && r.drv.Status()[0].Connected })
	r.waitState(t)
	for _, sp := range r.specs {
		waitFor(t, 5*time.Second, sp.ID+" diagnosis cleared", func() bool { return r.snap(sp.ID).Fault == nil })
	}
	// One new command per device, switching it over, seen by the device
	// (Execute returns at the broker's PUBACK, before the device has it):
	// a command replayed on reconnect would have been published before
	// it, on the same connection, so once the device has switched it must
	// have seen exactly this one.
	for _, s := range r.specs {
		want := !r.sim.On(s.Name)
		if err := r.hub.Execute(ctx, hub.Command{Device: s.ID, Set: hub.State{Set: hub.Fields(hub.FieldOn), On: want}}); err != nil {
			t.Errorf("%s after reconnect: %v", s.ID, err)
			continue
		}
		waitFor(t, 5*time.Second, s.ID+" switched by the new command", func() bool { return r.sim.On(s.Name) == want })
		if got := r.sim.Commands(s.Name) - cmdsBefore[s.Name]; got != 1 {
			t.Errorf("%s received %d commands after reconnect, want only the new one (none replayed)", s.ID, got)
		}
	}
	if st := r.drv.Status()[0]; st.Reconnects < 1 || st.LastError == "" {
		t.Errorf("status after restart: %+v", st)
	}
	if v := hubAvailability(t, mq.URL(), r.drv.AvailabilityTopic()); v != "online" {
		t.Errorf("hub availability after restart = %q, want online", v)
	}
}

func TestDriver_Mosquitto_CleanShutdownPublishesOffline(t *testing.T) {
	mq := startMosquitto(t)
	h, _ := hub.New(nil, nil, hub.Options{})
	defer h.Close()
	drv, err := mqtt.New(mqtt.Options{Broker: mq.URL(), ClientID: "hubd-shutdown", Apply: h.Apply})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- drv.Run(ctx) }()
	waitFor(t, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })
	waitFor(t, 5*time.Second, "online published", func() bool { return hubAvailability(t, mq.URL(), drv.AvailabilityTopic()) == "online" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := hubAvailability(t, mq.URL(), drv.AvailabilityTopic()); v != "offline" {
		t.Errorf("after shutdown availability = %q, want offline", v)
	}
}
