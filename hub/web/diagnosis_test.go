package web

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
)

// switchableLinks reports one bus and one broker whose state a test sets.
type switchableLinks struct {
	busOpen, brokerUp atomic.Bool
}

func (l *switchableLinks) install(o *Options) {
	l.busOpen.Store(true)
	l.brokerUp.Store(true)
	o.Buses = func() []hub.BusStatus {
		return []hub.BusStatus{{Name: "bus0", Port: "/dev/ttyUSB0", Open: l.busOpen.Load(), Devices: 2}}
	}
	o.Brokers = func() []hub.BrokerStatus {
		return []hub.BrokerStatus{{Broker: "127.0.0.1:1883", Connected: l.brokerUp.Load()}}
	}
}

func getStatus(t *testing.T, url string) Status {
	t.Helper()
	resp, err := http.Get(url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func faultOf(st Status, id string) *hub.Fault {
	for _, d := range st.Devices {
		if d.ID == id {
			return d.Fault
		}
	}
	return nil
}

// brokerDown does to the hub what the MQTT driver does when it loses its
// broker: every MQTT device offline, with the cause.
func brokerDown(t *testing.T, h *hub.Hub) {
	t.Helper()
	for _, id := range []string{"lamp-2", "socket-2", "lamp-3"} {
		c := &hub.Cause{Code: hub.CauseBrokerDown, Params: map[string]string{"broker": "127.0.0.1:1883"}, Raw: "EOF"}
		if err := h.Apply(hub.Report{Device: id, Avail: hub.AvailOffline, Cause: c}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatus_BrokerDownThreeOfFiveOffline_IsDegradedNotHealthy(t *testing.T) {
	var l switchableLinks
	opts := Options{AllowAnonymousView: true}
	l.install(&opts)
	ts := newTestServer(t, opts)
	ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline})
	if g := getStatus(t, ts.url).Gateway; g.State != hub.LevelHealthy || g.Online != 5 || g.Total != 5 || g.Health != "ok" {
		t.Fatalf("all well: %+v", g)
	}

	l.brokerUp.Store(false)
	brokerDown(t, ts.h.Hub)
	st := getStatus(t, ts.url)
	g := st.Gateway
	if g.State != hub.LevelDegraded || g.Online != 2 || g.Total != 5 || g.Faulty != 3 || g.LinksDown != 1 {
		t.Fatalf("broker down: %+v", g)
	}
	if g.Health != "ok" {
		t.Errorf("the daemon's own check (systemd's) should stay ok: %q", g.Health)
	}
	f := faultOf(st, "lamp-2")
	if f == nil || f.Code != hub.CauseBrokerDown || f.Params["broker"] != "127.0.0.1:1883" || f.Since.IsZero() {
		t.Fatalf("lamp-2: %+v", f)
	}

	// The broker is back, lamp-2 answers, the others do not yet: their
	// diagnosis no longer blames the broker.
	l.brokerUp.Store(true)
	ts.h.Apply(hub.Report{Device: "lamp-2", Avail: hub.AvailOnline})
	st = getStatus(t, ts.url)
	if f := faultOf(st, "lamp-2"); f != nil {
		t.Errorf("lamp-2 answers but keeps %+v", f)
	}
	if f := faultOf(st, "socket-2"); f == nil || f.Code != hub.CauseNoAnswer {
		t.Errorf("socket-2 after the broker came back: %+v", f)
	}
	if g := st.Gateway; g.State != hub.LevelDegraded || g.Online != 3 {
		t.Errorf("two silent: %+v", g)
	}

	// Nothing answers: down.
	for _, id := range []string{"lamp-1", "socket-1", "lamp-2"} {
		ts.h.Apply(hub.Report{Device: id, Avail: hub.AvailOffline})
	}
	if g := getStatus(t, ts.url).Gateway; g.State != hub.LevelDown || g.Online != 0 {
		t.Errorf("none reachable: %+v", g)
	}
}

func TestStatus_NeverHeardDeviceIsDiagnosed(t *testing.T) {
	h, err := hub.New(demoDevices(), demoSite(), hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s, err := New(h, Options{AllowAnonymousView: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := s.status()
	if f := faultOf(st, "lamp-1"); f == nil || f.Code != hub.CauseNeverSeen || f.Severity != hub.SeverityError {
		t.Fatalf("never heard: %+v", f)
	}
	if st.Gateway.State != hub.LevelDown {
		t.Fatalf("nothing heard from any device: %s", st.Gateway.State)
	}
}

// TestFeed_TickWithinHeartbeat_CarriesVerdictAndLastSeen: a page learns
// the verdict and "last seen" of devices whose values did not change from
// the heartbeat, within heartbeatEvery.
func TestFeed_TickWithinHeartbeat_CarriesVerdictAndLastSeen(t *testing.T) {
	var l switchableLinks
	opts := Options{AllowAnonymousView: true}
	l.install(&opts)
	ts := newTestServer(t, opts)
	c := openSSE(t, ts.url, nil)
	c.next(t, "snapshot")
	c.next(t, "tick") // the first, at most heartbeatEvery away
	seen := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	// Same value as before: no device event, only last seen moves.
	ts.h.Apply(hub.Report{Device: "socket-2", At: seen, State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	l.busOpen.Store(false)
	start := time.Now()
	var tk Tick
	if err := json.Unmarshal([]byte(c.next(t, "tick").data), &tk); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > heartbeatEvery+time.Second {
		t.Errorf("tick after %v, want within %v", d, heartbeatEvery)
	}
	if !tk.Seen["socket-2"].Equal(seen) {
		t.Errorf("tick seen = %v, want socket-2 at %v", tk.Seen, seen)
	}
	if _, again := tk.Seen["lamp-1"]; again {
		t.Errorf("a device not heard from since the last tick was sent again: %v", tk.Seen)
	}
	if tk.Gateway.State != hub.LevelDegraded || tk.Gateway.LinksDown != 1 || len(tk.Buses) != 1 || tk.Buses[0].Open {
		t.Errorf("tick gateway %+v buses %+v", tk.Gateway, tk.Buses)
	}
	if tk.Gateway.HeartbeatMS != heartbeatEvery.Milliseconds() {
		t.Errorf("heartbeat_ms = %d", tk.Gateway.HeartbeatMS)
	}
}

// TestFeed_DeviceFaultSendsGatewayVerdict: a device's diagnosis and the
// header's verdict arrive together, within the feed's coalescing time.
func TestFeed_DeviceFaultSendsGatewayVerdict(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 10 * time.Millisecond})
	ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline})
	c := openSSE(t, ts.url, nil)
	c.next(t, "snapshot")
	ts.h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline,
		Cause: &hub.Cause{Code: hub.CauseNoReply, Params: map[string]string{"bus": "bus0", "address": "1"}}})
	var v DeviceView
	for v.ID != "lamp-1" {
		if err := json.Unmarshal([]byte(c.next(t, "device").data), &v); err != nil {
			t.Fatal(err)
		}
	}
	if v.Fault == nil || v.Fault.Code != hub.CauseNoReply || v.Fault.Params["address"] != "1" || v.Reachable {
		t.Fatalf("device event: %+v", v)
	}
	var g Gateway
	if err := json.Unmarshal([]byte(c.next(t, "gateway").data), &g); err != nil {
		t.Fatal(err)
	}
	if g.State != hub.LevelDegraded || g.Online != 4 {
		t.Fatalf("gateway event: %+v", g)
	}
}

func TestMetrics_DeviceFaultsAndLinkQuality(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	rssi, lqi := -67, 120
	ts.h.Apply(hub.Report{Device: "lamp-2", Avail: hub.AvailOnline, Link: &hub.Link{RSSI: &rssi}})
	ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline, Link: &hub.Link{LQI: &lqi}})
	ts.h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline, Link: &hub.Link{Timeouts: 4, CRCErrors: 2},
		Cause: &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{"bus": "bus0", "address": "1", "count": "2"}}})
	fams := scrape(t, ts.url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubd_device_wifi_rssi_dbm", map[string]string{"device": "lamp-2"}, -67},
		{"hubd_device_zigbee_linkquality", map[string]string{"device": "lamp-3"}, 120},
		{"hubd_device_serial_timeouts_total", map[string]string{"device": "lamp-1"}, 4},
		{"hubd_device_serial_crc_errors_total", map[string]string{"device": "lamp-1"}, 2},
		{"hubd_device_fault", map[string]string{"device": "lamp-1", "cause": "crc_errors", "severity": "warn"}, 1},
		{"hubd_gateway_state", map[string]string{"state": "degraded"}, 1},
		{"hubd_gateway_state", map[string]string{"state": "healthy"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestStatus_CloudLinkFailing_IsDegraded: Yandex notifications or the Alexa
// sync failing is a link down, not Healthy.
func TestStatus_CloudLinkFailing_IsDegraded(t *testing.T) {
	var failing atomic.Bool
	opts := Options{AllowAnonymousView: true}
	fakeLinks(&opts)
	ok := opts.Notifier
	opts.Notifier = func() hub.NotifierStatus {
		n := ok()
		if failing.Load() {
			n.LastErrorAt = n.LastSuccess.Add(time.Minute)
		}
		return n
	}
	ts := newTestServer(t, opts)
	ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline})
	if g := getStatus(t, ts.url).Gateway; g.State != hub.LevelHealthy || g.LinksDown != 0 {
		t.Fatalf("an old notifier error: %+v", g)
	}
	failing.Store(true)
	if g := getStatus(t, ts.url).Gateway; g.State != hub.LevelDegraded || g.LinksDown != 1 || g.Online != 5 {
		t.Fatalf("notifications failing: %+v", g)
	}
}
