package uplink_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// commandFixture starts a gateway with commands on or off and a watcher of
// its topics, once the gateway is online.
func commandFixture(t *testing.T, on bool, before ...func(broker string)) (*fixture, *watcher, string) {
	b := mosquittotest.Start(t)
	for _, fn := range before {
		fn(b.URL())
	}
	w := watch(t, b.URL(), "hubd/#", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, Commands: on, MaxCommandAge: 5 * time.Second}, store.QueueOptions{})
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	return f, w, b.URL()
}

func result(t *testing.T, w *watcher, dev, id string) map[string]any {
	t.Helper()
	return w.nextWhere(t, root+"/devices/"+dev+"/result", func(v map[string]any) bool { return v["id"] == id })
}

func TestUplink_Command_Accepted_ResultsPerCapabilityWithCorrelationID(t *testing.T) {
	f, w, broker := commandFixture(t, true)
	at := time.Now().UTC().Format(time.RFC3339Nano)
	publish(t, broker, root+"/devices/lamp-1/set", false, fmt.Sprintf(`{"id":"c-1","at":%q,"state":"ON","brightness":40,"color_temp":3000}`, at))
	r := result(t, w, "lamp-1", "c-1")
	if r["status"] != "done" || r["v"] != 1.0 {
		t.Fatalf("result = %v", r)
	}
	caps := map[string]string{}
	for _, c := range r["results"].([]any) {
		m := c.(map[string]any)
		caps[m["capability"].(string)] = m["status"].(string)
	}
	if len(caps) != 3 || caps["on"] != "DONE" || caps["brightness"] != "DONE" || caps["temperature_k"] != "DONE" {
		t.Fatalf("per-capability results = %v", caps)
	}
	if _, s, _ := f.hub.Snapshot("lamp-1"); s.State.Brightness != 40 || s.State.TemperatureK != 3000 {
		t.Fatalf("lamp-1 after the command: %+v", s.State)
	}
	// A command the device cannot do answers per capability with the
	// Yandex error code; the device was never asked.
	before := f.cmds.Load()
	publish(t, broker, root+"/devices/socket-1/set", false, `{"id":"c-2","brightness":10}`)
	r = result(t, w, "socket-1", "c-2")
	res := r["results"].([]any)[0].(map[string]any)
	if r["status"] != "error" || res["error_code"] != "NOT_SUPPORTED_IN_CURRENT_MODE" || f.cmds.Load() != before {
		t.Fatalf("unsupported command: %v (driver calls %d -> %d)", r, before, f.cmds.Load())
	}
}

func TestUplink_Command_Refused(t *testing.T) {
	old := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for name, c := range map[string]struct {
		on       bool
		retained bool
		payload  string
		why      string
	}{
		"commands off": {false, false, `{"id":"x","state":"ON"}`, "commands are off"},
		"retained":     {true, true, `{"id":"x","state":"ON"}`, "retained"},
		"too old":      {true, false, `{"id":"x","state":"ON","at":"` + old + `"}`, "old"},
		"garbage":      {true, false, `{"id":"x","state":`, "payload"},
		"nothing":      {true, false, `{"id":"x"}`, "nothing to set"},
		"bad state":    {true, false, `{"id":"x","state":"MAYBE"}`, "not ON or OFF"},
		"oversize":     {true, false, `{"id":"x","pad":"` + strings.Repeat("a", 5000) + `"}`, "bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			send := func(broker string) { publish(t, broker, root+"/devices/lamp-1/set", c.retained, c.payload) }
			var f *fixture
			var w *watcher
			if c.retained {
				// A retained command reaches a gateway with the retain flag
				// when the gateway subscribes after it was published (a
				// reconnect): the replay this rule is about.
				f, w, _ = commandFixture(t, c.on, send)
			} else {
				var broker string
				f, w, broker = commandFixture(t, c.on)
				send(broker)
			}
			r := w.nextWhere(t, root+"/devices/lamp-1/result", func(map[string]any) bool { return true })
			if r["status"] != "refused" || !strings.Contains(r["error"].(string), c.why) {
				t.Fatalf("result = %v, want refused for %q", r, c.why)
			}
			if n := f.cmds.Load(); n != 0 {
				t.Fatalf("the driver got %d commands", n)
			}
			if _, s, _ := f.hub.Snapshot("lamp-1"); !s.State.On || s.State.Set.Has(hub.FieldBrightness) {
				t.Fatalf("lamp-1 changed: %+v", s.State)
			}
			// The refusal is logged as an event for the fleet too.
			ev := w.nextWhere(t, root+"/events", func(v map[string]any) bool { return v["source"] == "uplink" })
			if !strings.Contains(ev["text"].(string), "command refused") {
				t.Fatalf("event = %v", ev)
			}
			if st := f.up.Status(); st.CommandsRefused != 1 || st.CommandsAccepted != 0 {
				t.Fatalf("status = %+v", st)
			}
		})
	}
}

// The command queue's bound bites: with every worker held by a device
// that does not answer and one place in the queue, the rest are refused
// as busy, answered and counted.
func TestUplink_Command_QueueFull_RefusedAsBusy(t *testing.T) {
	b := mosquittotest.Start(t)
	w := watch(t, b.URL(), "hubd/#", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, Commands: true, CommandQueue: 1}, store.QueueOptions{})
	release := make(chan struct{})
	var once sync.Once
	f.hub.SetDriver("sim", hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		select {
		case <-release:
			go f.hub.Apply(hub.Report{Device: dev.ID, State: cmd.Set})
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	const n = 12
	for i := range n {
		publish(t, b.URL(), root+"/devices/lamp-1/set", false, fmt.Sprintf(`{"id":"q-%d","state":"ON"}`, i))
	}
	busy := 0
	for range n {
		r := w.nextWhere(t, root+"/devices/lamp-1/result", func(map[string]any) bool { return true })
		if r["status"] == "refused" && strings.Contains(r["error"].(string), "busy") {
			busy++
		}
		if busy >= n-5 {
			once.Do(func() { close(release) }) // 4 workers and 1 queued at most: the rest were refused
		}
	}
	if busy < n-5 {
		t.Fatalf("%d refused as busy, want at least %d", busy, n-5)
	}
	if st := f.up.Status(); int(st.CommandsRefused) != busy {
		t.Fatalf("CommandsRefused = %d, want %d", st.CommandsRefused, busy)
	}
}
