package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub"
)

// uplinkView is /api/status's uplink and the gateway's verdict.
func uplinkView(t *testing.T, addr string) (hub.UplinkStatus, hub.Level) {
	t.Helper()
	code, body := do(t, "GET", "http://"+addr+"/api/status", nil)
	var st struct {
		Gateway struct {
			State hub.Level `json:"state"`
		} `json:"gateway"`
		Uplink *hub.UplinkStatus `json:"uplink"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.Uplink == nil {
		t.Fatalf("/api/status: %d %v, uplink %v", code, err, st.Uplink)
	}
	return *st.Uplink, st.Gateway.State
}

// The daemon wires the uplink to the status page and /metrics: with its
// broker unreachable, events queue, the metrics say so and the gateway is
// degraded.
func TestDaemon_UplinkDownOnThePageAndInMetrics(t *testing.T) {
	dead := "tcp://" + freePort(t) // nothing listens there
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir(), "-uplink", dead)
	eventually(t, 20*time.Second, "events queued for the unreachable uplink", func() bool {
		m := mustScrape(t, d.addr)
		return m.sum("hubd_uplink_queued_events") > 0 && m.sum("hubd_uplink_connected") == 0
	})
	u, state := uplinkView(t, d.addr)
	if u.Broker != dead || u.Connected || u.Queued == 0 || state != hub.LevelDegraded {
		t.Errorf("uplink %+v, state %s; want %s disconnected with events queued, degraded", u, state, dead)
	}
	if n := mustScrape(t, d.addr).sum("hubd_uplink_events_total", `result="sent"`); n != 0 {
		t.Errorf("events sent to a broker that is not there: %v", n)
	}
}

// With its broker there, the uplink is connected and sends.
func TestDaemon_UplinkUpInMetrics(t *testing.T) {
	if mosquittotest.Tool("mosquitto") == "" {
		t.Skip("mosquitto not installed: " + mosquittotest.Install)
	}
	b := mosquittotest.Start(t)
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir(), "-uplink", b.URL())
	eventually(t, 20*time.Second, "the uplink connected and sending", func() bool {
		m := mustScrape(t, d.addr)
		return m.sum("hubd_uplink_connected") == 1 && m.sum("hubd_uplink_events_total", `result="sent"`) > 0
	})
	if u, _ := uplinkView(t, d.addr); !u.Connected || u.Since.IsZero() {
		t.Errorf("uplink %+v: want connected, with the time", u)
	}
}
