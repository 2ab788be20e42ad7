package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s has no sample with %v", name, want)
	return 0
}

func TestMetrics_FamiliesAndValues(t *testing.T) {
	opts := Options{Version: "1.2.3", Commit: "abc", AllowAnonymousView: true}
	fakeLinks(&opts)
	ts := newTestServer(t, opts)
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)
	if resp, body := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, nil); resp.StatusCode != 200 {
		t.Fatalf("command: %d %s", resp.StatusCode, body)
	}
	b.do("POST", "/api/devices/lamp-3/command", `{"on":true}`, nil) // offline: unreachable
	ts.ObserveAPI("devices/query", 200, 300*time.Microsecond)
	ts.ObserveAPI("devices/query", 200, 2*time.Millisecond)
	ts.ObserveAPI("devices/action", 400, time.Millisecond)

	fams := scrape(t, ts.url)
	for name := range fams {
		if !strings.HasPrefix(name, "hubd_") {
			t.Errorf("family %s lacks the hubd_ prefix", name)
		}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubd_devices", map[string]string{"state": "online"}, 4},
		{"hubd_devices", map[string]string{"state": "offline"}, 1},
		{"hubd_commands_total", map[string]string{"driver": "serial", "result": "ok"}, 1},
		{"hubd_commands_total", map[string]string{"driver": "mqtt", "result": "unreachable"}, 1},
		{"hubd_reports_total", map[string]string{"driver": "serial", "result": "ok"}, 3}, // 2 initial + the echo
		{"hubd_api_request_duration_seconds", map[string]string{"endpoint": "devices/query", "code": "200"}, 2},
		{"hubd_api_request_duration_seconds", map[string]string{"endpoint": "devices/action", "code": "400"}, 1},
		{"hubd_serial_frames_total", map[string]string{"bus": "bus0", "direction": "in"}, 1200},
		{"hubd_serial_frames_total", map[string]string{"bus": "bus0", "direction": "out"}, 1190},
		{"hubd_serial_crc_errors_total", map[string]string{"bus": "bus0"}, 3},
		{"hubd_serial_timeouts_total", map[string]string{"bus": "bus0"}, 7},
		{"hubd_serial_reconnects_total", map[string]string{"bus": "bus0"}, 1},
		{"hubd_serial_bus_open", map[string]string{"bus": "bus0"}, 1},
		{"hubd_mqtt_reconnects_total", map[string]string{"broker": "tcp://127.0.0.1:1883"}, 2},
		{"hubd_mqtt_messages_total", map[string]string{"direction": "in"}, 500},
		{"hubd_mqtt_messages_total", map[string]string{"direction": "bad"}, 1},
		{"hubd_mqtt_connected", nil, 1},
		{"hubd_alexa_calls_total", map[string]string{"result": "ok"}, 11},
		{"hubd_alexa_calls_total", map[string]string{"result": "error"}, 1},
		{"hubd_alexa_sync_pending_steps", nil, 1},
		{"hubd_alexa_units", map[string]string{"state": "pending"}, 1},
		{"hubd_notifications_total", map[string]string{"result": "sent"}, 31},
		{"hubd_notifications_total", map[string]string{"result": "failed"}, 2},
		{"hubd_notifications_pending", nil, 1},
		{"hubd_store_size_bytes", nil, 32768},
		{"hubd_build_info", map[string]string{"version": "1.2.3", "commit": "abc"}, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if fams["hubd_api_request_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Error("API latency is not a histogram")
	}
}

func TestMetrics_UnconfiguredPartsAreAbsent(t *testing.T) {
	ts := newTestServer(t, Options{})
	fams := scrape(t, ts.url)
	for _, name := range []string{"hubd_serial_frames_total", "hubd_mqtt_connected", "hubd_alexa_calls_total", "hubd_store_size_bytes"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without its source", name)
		}
	}
	if value(t, fams, "hubd_devices", map[string]string{"state": "online"}) != 4 {
		t.Error("device gauge wrong")
	}
}

func TestMetrics_EndpointLabelIsBounded(t *testing.T) {
	ts := newTestServer(t, Options{})
	for i := 0; i < 3*maxEndpoints; i++ {
		ts.ObserveAPI("/v1.0/user/devices/"+strings.Repeat("x", i), 200, time.Millisecond)
	}
	fams := scrape(t, ts.url)
	if n := len(fams["hubd_api_request_duration_seconds"].GetMetric()); n > maxEndpoints+1 {
		t.Fatalf("%d endpoint series, want at most %d", n, maxEndpoints+1)
	}
	if value(t, fams, "hubd_api_request_duration_seconds", map[string]string{"endpoint": "other"}) != 2*maxEndpoints {
		t.Fatal("overflow endpoints not counted as other")
	}
}
