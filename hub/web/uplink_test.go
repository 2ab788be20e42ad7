package web

import (
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// fakeUplink is an uplink whose status a test sets.
type fakeUplink struct {
	mu sync.Mutex
	st hub.UplinkStatus
}

func (f *fakeUplink) status() hub.UplinkStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeUplink) set(connected bool, queued int, lastError string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Connected, f.st.Queued, f.st.QueuedBytes, f.st.LastError = connected, queued, int64(queued*200), lastError
	f.st.Since = time.Now().Add(-time.Minute)
}

// TestUplink_MetricsStatusAndVerdict: the uplink's figures are in /metrics
// and the status JSON; disconnected with events queued it makes the gateway
// degraded, disconnected with nothing queued (or connected) it does not.
func TestUplink_MetricsStatusAndVerdict(t *testing.T) {
	f := &fakeUplink{st: hub.UplinkStatus{Broker: "ssl://fleet.example:8883", EventsSent: 120, Dropped: 4, Connects: 2}}
	f.set(true, 0, "")
	ts := newTestServer(t, Options{AllowAnonymousView: true, Uplink: f.status})
	ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline}) // every device online
	if st := getStatus(t, ts.url); st.Gateway.State != hub.LevelHealthy || st.Uplink == nil || st.Uplink.Broker != "ssl://fleet.example:8883" || st.Uplink.EventsSent != 120 {
		t.Fatalf("connected: state %s, uplink %+v", st.Gateway.State, st.Uplink)
	}
	fams := scrape(t, ts.url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubd_uplink_connected", nil, 1},
		{"hubd_uplink_events_total", map[string]string{"result": "sent"}, 120},
		{"hubd_uplink_events_total", map[string]string{"result": "dropped"}, 4},
		{"hubd_uplink_queued_events", nil, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	f.set(false, 0, "")
	if st := getStatus(t, ts.url); st.Gateway.State != hub.LevelHealthy || st.Gateway.LinksDown != 0 {
		t.Errorf("disconnected, nothing queued: state %s, links down %d", st.Gateway.State, st.Gateway.LinksDown)
	}
	f.set(false, 37, "uplink: dial tcp: connection refused")
	st := getStatus(t, ts.url)
	if st.Gateway.State != hub.LevelDegraded || st.Gateway.LinksDown != 1 || st.Uplink.Queued != 37 || st.Uplink.LastError == "" {
		t.Errorf("disconnected, 37 queued: state %s, links down %d, uplink %+v", st.Gateway.State, st.Gateway.LinksDown, st.Uplink)
	}
	fams = scrape(t, ts.url)
	if got := value(t, fams, "hubd_uplink_connected", nil); got != 0 {
		t.Errorf("hubd_uplink_connected = %v, want 0", got)
	}
	if got := value(t, fams, "hubd_uplink_queued_events", nil); got != 37 {
		t.Errorf("hubd_uplink_queued_events = %v, want 37", got)
	}
	f.set(true, 37, "")
	if st := getStatus(t, ts.url); st.Gateway.State != hub.LevelHealthy {
		t.Errorf("reconnected, flushing: state %s", st.Gateway.State)
	}
}

// TestUplink_AbsentWithoutSource: no uplink, no uplink metrics, and null
// in the status JSON.
func TestUplink_AbsentWithoutSource(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	fams := scrape(t, ts.url)
	for _, name := range []string{"hubd_uplink_connected", "hubd_uplink_events_total", "hubd_uplink_queued_events"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without an uplink", name)
		}
	}
	if st := getStatus(t, ts.url); st.Uplink != nil {
		t.Errorf("uplink = %+v, want null", st.Uplink)
	}
}
