package uplink_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// persistentBroker keeps sessions and their queued messages across a
// clean stop, so the fleet's subscriber misses nothing while the broker
// is down: what it must miss nothing of is the gateway, not the broker.
func persistentBroker(t *testing.T) *mosquittotest.Broker {
	dir := t.TempDir()
	return mosquittotest.StartConfig(t, fmt.Sprintf("allow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 100000\n", filepath.Clean(dir)))
}

// waitFor polls cond (a state the uplink reaches on its own goroutines)
// until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

func logEvents(h *hub.Hub, from, to int) {
	for i := from; i < to; i++ {
		h.Log("info", "test", "", fmt.Sprintf("event %d", i))
	}
}

// readEvents reads the test's events up to and including the marker
// event, and returns their numbers in arrival order.
func readEvents(t *testing.T, w *watcher, marker string) []int {
	t.Helper()
	var got []int
	for {
		ev := w.nextWhere(t, root+"/events", func(v map[string]any) bool { return v["source"] == "test" })
		if ev["text"] == marker {
			return got
		}
		var n int
		fmt.Sscanf(ev["text"].(string), "event %d", &n)
		got = append(got, n)
	}
}

func checkSequence(t *testing.T, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d events %v, want %d..%d exactly once", len(got), got, from, to-1)
	}
	for i, n := range got {
		if n != from+i {
			t.Fatalf("event #%d is %d, want %d (order or duplicates): %v", i, n, from+i, got)
		}
	}
}

// The partition lasts 60 s; here it lasts as long as the test
// takes to log events and restart the gateway. What the outage tests is
// the queue, the reconnect and the resend, none of which depend on its
// length (the queue's bounds do, and they are tested by count below),
// and a test of a minute would slow every run of the package.
func TestUplink_Partition_EventsArriveOnceInOrderAcrossRestart(t *testing.T) {
	b := persistentBroker(t)
	w := watch(t, b.URL(), "hubd/#", "fleet", false)
	opts := uplink.Options{QoS: 1}
	f := newFixture(t, b.URL(), opts, store.QueueOptions{})
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	logEvents(f.hub, 0, 10)
	f.hub.Log("info", "test", "", "marker 1")
	checkSequence(t, readEvents(t, w, "marker 1"), 0, 10)

	b.Term()
	waitFor(t, "uplink sees the outage", func() bool { return !f.up.Status().Connected })
	logEvents(f.hub, 10, 30)
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 77}}); err != nil {
		t.Fatal(err)
	}
	// The daemon restarts during the outage: the queue is on disk.
	f.close()
	f.open(b.URL(), opts, store.QueueOptions{})
	logEvents(f.hub, 30, 50)
	f.hub.Log("info", "test", "", "marker 2")
	waitFor(t, "41 events queued on disk", func() bool { return f.up.Status().Queued >= 41 })

	b.Run()
	checkSequence(t, readEvents(t, w, "marker 2"), 10, 50)
	// State is not queued: the current value is published on reconnect.
	w.nextWhere(t, root+"/devices/lamp-1/state", func(v map[string]any) bool { return v["brightness"] == 77.0 })
	if st := f.up.Status(); st.Dropped != 0 {
		t.Fatalf("dropped = %d, want 0 within the bounds", st.Dropped)
	}
	waitFor(t, "queue drained", func() bool { return f.up.Status().Queued == 0 })
}

func TestUplink_Partition_OverBound_DropsOldestAndCounts(t *testing.T) {
	b := persistentBroker(t)
	w := watch(t, b.URL(), root+"/events", "fleet", false)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1}, store.QueueOptions{MaxItems: 5})
	f.hub.Log("info", "test", "", "marker 1")
	readEvents(t, w, "marker 1")
	waitFor(t, "queue drained", func() bool { return f.up.Status().Queued == 0 })

	b.Term()
	waitFor(t, "uplink sees the outage", func() bool { return !f.up.Status().Connected })
	logEvents(f.hub, 0, 19)
	f.hub.Log("info", "test", "", "marker 2")
	b.Run()
	// 20 events into a queue of 5: the newest 4 and the marker arrive.
	checkSequence(t, readEvents(t, w, "marker 2"), 15, 19)
	if st := f.up.Status(); st.Dropped != 15 {
		t.Fatalf("dropped = %d, want 15", st.Dropped)
	}
}
