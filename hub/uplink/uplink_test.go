package uplink_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

const root = "hubd/gw1/v1"

func TestUplink_Connect_PublishesRetainedStatusStateAndHealth(t *testing.T) {
	b := mosquittotest.Start(t)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1, HealthInterval: 100 * time.Millisecond}, store.QueueOptions{})
	w := watch(t, b.URL(), "hubd/#", "", true)
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "online" && v["v"] == 1.0 })
	st := w.nextWhere(t, root+"/devices/socket-1/state", func(v map[string]any) bool { return v["power"] == 12.5 })
	if st["state"] != "ON" || st["voltage"] != 230.0 || st["online"] != true || st["kind"] != "socket" {
		t.Fatalf("socket-1 state = %v", st)
	}
	w.nextWhere(t, root+"/devices/lamp-1/availability", func(v map[string]any) bool { return v["status"] == "online" })
	h := w.nextWhere(t, root+"/health", func(v map[string]any) bool { return v["version"] == "test" })
	if h["devices"] != 2.0 || h["devices_online"] != 2.0 || h["gateway"] != "gw1" {
		t.Fatalf("health = %v", h)
	}
	// A device gone offline is counted out at the next health.
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline}); err != nil {
		t.Fatal(err)
	}
	h = w.nextWhere(t, root+"/health", func(v map[string]any) bool { return v["devices_online"] != 2.0 })
	if h["devices"] != 2.0 || h["devices_online"] != 1.0 {
		t.Fatalf("health with lamp-1 offline = %v", h)
	}
	// A late subscriber sees the current state at once: it is retained.
	late := watch(t, b.URL(), root+"/devices/+/state", "", true)
	if m := late.next(t, root+"/devices/lamp-1/state"); !m.Retained {
		t.Fatal("lamp-1 state is not retained")
	}
	// A graceful stop leaves the gateway marked offline.
	f.close()
	w.nextWhere(t, root+"/status", func(v map[string]any) bool { return v["status"] == "offline" })
}

func TestUplink_Events_ArriveInOrderWithIncreasingSeq(t *testing.T) {
	b := mosquittotest.Start(t)
	w := watch(t, b.URL(), root+"/events", "", true)
	f := newFixture(t, b.URL(), uplink.Options{QoS: 1}, store.QueueOptions{})
	const n = 50
	for i := range n {
		f.hub.Log("info", "test", "lamp-1", fmt.Sprintf("event %d", i))
	}
	var last float64
	for i := range n {
		ev := w.nextWhere(t, root+"/events", func(v map[string]any) bool { return v["source"] == "test" })
		if want := fmt.Sprintf("event %d", i); ev["text"] != want || ev["device"] != "lamp-1" || ev["gateway"] != "gw1" {
			t.Fatalf("event %d = %v, want text %q", i, ev, want)
		}
		if seq := ev["seq"].(float64); seq <= last {
			t.Fatalf("seq %v after %v", seq, last)
		} else {
			last = seq
		}
	}
	if st := f.up.Status(); st.Dropped != 0 {
		t.Fatalf("dropped = %d, want 0", st.Dropped)
	}
}

func TestUplink_New_RefusesBadOptions(t *testing.T) {
	h, err := hub.New(testDevices(), nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	q := memQueue{}
	for name, o := range map[string]uplink.Options{
		"no hub":     {Broker: "tcp://127.0.0.1:1", Queue: q},
		"no queue":   {Broker: "tcp://127.0.0.1:1", Hub: h},
		"bad scheme": {Broker: "http://x", Hub: h, Queue: q},
		"cert alone": {Broker: "ssl://x:8883", CertFile: "c.pem", Hub: h, Queue: q},
		"qos 3":      {Broker: "tcp://x:1", QoS: 3, Hub: h, Queue: q},
		"wildcard":   {Broker: "tcp://x:1", Prefix: "hubd/#", Hub: h, Queue: q},
		"missing CA": {Broker: "ssl://x:8883", CAFile: "/nonexistent/ca.pem", Hub: h, Queue: q},
	} {
		if _, err := uplink.New(o); !errors.Is(err, uplink.ErrInvalidOptions) && !errors.Is(err, uplink.ErrTLS) {
			t.Errorf("%s: New(%+v) = %v, want ErrInvalidOptions or ErrTLS", name, o, err)
		}
	}
}

// memQueue satisfies Queue for tests that never connect.
type memQueue struct{}

func (memQueue) Append([][]byte) (int, error)                 { return 0, nil }
func (memQueue) Peek(uint64, int) ([]uplink.QueueItem, error) { return nil, nil }
func (memQueue) Remove(uint64) error                          { return nil }
func (memQueue) Stats() uplink.QueueStats                     { return uplink.QueueStats{} }

// decode is a helper for payload checks.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}
