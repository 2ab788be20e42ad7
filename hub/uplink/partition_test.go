package uplink_test

import (
	"fmt"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// waitFor polls cond (a state the uplink reaches on its own goroutines)
// until it holds, for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 10*time.Second, what, cond)
}

func waitWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
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

// The gateway reaches the broker through a proxy that the test cuts, and
// the broker itself is stopped and started again; the fleet's subscriber
// is connected to the broker directly and is subscribed again before the
// gateway is let back through, so what is checked is the gateway's queue,
// not the broker's sessions.
//
// The partition lasts 60 s; here it lasts as long as the test
// takes to log events and restart the gateway. What the outage tests is
// the queue, the reconnect and the resend, none of which depend on its
// length (the queue's bounds do, and they are tested by count below),
// and a test of a minute would slow every run of the package.
func TestUplink_Partition_EventsArriveOnceInOrderAcrossRestart(t *testing.T) {
	b := mosquittotest.Start(t)
	px := startProxy(t, b.URL())
	w := watch(t, b.URL(), "hubd/#", "", true)
	opts := uplink.Options{QoS: 1}
	f := newFixture(t, px.URL(), opts, store.QueueOptions{})
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	logEvents(f.hub, 0, 10)
	f.hub.Log("info", "test", "", "marker 1")
	checkSequence(t, readEvents(t, w, "marker 1"), 0, 10)
	// Acknowledged too: an event whose acknowledgement the cut loses is
	// sent again (same seq), which is not what this test is about.
	waitFor(t, "queue drained", func() bool { return f.up.Status().Queued == 0 })

	px.setDown(true)
	b.Stop()
	waitFor(t, "uplink sees the outage", func() bool { return !f.up.Status().Connected })
	logEvents(f.hub, 10, 30)
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 77}}); err != nil {
		t.Fatal(err)
	}
	// The daemon restarts during the outage: the queue is on disk.
	f.close()
	f.open(px.URL(), opts, store.QueueOptions{})
	logEvents(f.hub, 30, 50)
	f.hub.Log("info", "test", "", "marker 2")
	waitFor(t, "41 events queued on disk", func() bool { return f.up.Status().Queued >= 41 })

	b.Run()
	w.resubscribed(t)
	px.setDown(false)
	checkSequence(t, readEvents(t, w, "marker 2"), 10, 50)
	// State is not queued: the current value is published on reconnect.
	w.nextWhere(t, root+"/devices/lamp-1/state", func(v map[string]any) bool { return v["brightness"] == 77.0 })
	if st := f.up.Status(); st.Dropped != 0 {
		t.Fatalf("dropped = %d, want 0 within the bounds", st.Dropped)
	}
	waitFor(t, "queue drained", func() bool { return f.up.Status().Queued == 0 })
}

func TestUplink_Partition_OverBound_DropsOldestAndCounts(t *testing.T) {
	b := mosquittotest.Start(t)
	px := startProxy(t, b.URL())
	w := watch(t, b.URL(), root+"/events", "", true)
	f := newFixture(t, px.URL(), uplink.Options{QoS: 1}, store.QueueOptions{MaxItems: 5})
	f.hub.Log("info", "test", "", "marker 1")
	readEvents(t, w, "marker 1")
	waitFor(t, "queue drained", func() bool { return f.up.Status().Queued == 0 })

	px.setDown(true)
	waitFor(t, "uplink sees the outage", func() bool { return !f.up.Status().Connected })
	logEvents(f.hub, 0, 19)
	f.hub.Log("info", "test", "", "marker 2")
	waitFor(t, "the newest 5 queued", func() bool { return f.up.Status().Dropped == 15 })
	px.setDown(false)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("uplink status at the failure: %+v", f.up.Status())
		}
	})
	// 20 events into a queue of 5: the newest 4 and the marker arrive.
	checkSequence(t, readEvents(t, w, "marker 2"), 15, 19)
	if st := f.up.Status(); st.Dropped != 15 {
		t.Fatalf("dropped = %d, want 15", st.Dropped)
	}
}

// The fleet learns that a gateway dropped from its will: the gateway's
// connection is cut (no DISCONNECT reaches the broker) and the broker
// publishes the retained offline status; the reconnect sets it online.
func TestUplink_Will_MarksGatewayOfflineWhenItDrops(t *testing.T) {
	b := mosquittotest.Start(t)
	px := startProxy(t, b.URL())
	w := watch(t, b.URL(), root+"/status", "", true)
	newFixture(t, px.URL(), uplink.Options{QoS: 1}, store.QueueOptions{})
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	px.setDown(true)
	if m := w.next(t, root+"/status"); string(m.Payload) != `{"v":1,"status":"offline"}` {
		t.Fatalf("after the drop: %s", m.Payload)
	}
	px.setDown(false)
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" })
	// A newcomer reads the last word retained.
	late := watch(t, b.URL(), root+"/status", "", true)
	if m := late.next(t, root+"/status"); !m.Retained || string(m.Payload) != `{"v":1,"status":"online"}` {
		t.Fatalf("retained status: %s (retained %v)", m.Payload, m.Retained)
	}
}
