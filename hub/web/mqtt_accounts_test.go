package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"hubd/hub"
)

func TestMQTTAccounts_InMetricsAndStatus(t *testing.T) {
	accts := []MQTTAccount{
		{Name: "plug-1", Devices: []string{"plug-1"}, HasPassword: true, DeniedPublish: 3, DeniedSubscribe: 1},
		{Name: "zigbee2mqtt", Devices: []string{"lamp-3", "lamp-4"}},
	}
	brk := MQTTBroker{Clients: 7, Connections: 9, Pending: 2, QueuedBytes: 1234, DroppedMemory: 5, ClosedMaxPending: 3}
	ts := newTestServer(t, Options{AllowAnonymousView: true, MQTTAccounts: func() []MQTTAccount { return accts }, MQTTBroker: func() MQTTBroker { return brk }})
	fams := scrape(t, ts.url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubd_mqtt_broker_connections", map[string]string{"state": "open"}, 9},
		{"hubd_mqtt_broker_connections", map[string]string{"state": "pending"}, 2},
		{"hubd_mqtt_broker_connections", map[string]string{"state": "clients"}, 7},
		{"hubd_mqtt_broker_queued_bytes", nil, 1234},
		{"hubd_mqtt_broker_dropped_total", map[string]string{"bound": "max_queued_bytes"}, 5},
		{"hubd_mqtt_broker_dropped_total", map[string]string{"bound": "queue_len"}, 0},
		{"hubd_mqtt_broker_connections_closed_total", map[string]string{"reason": "max_pending"}, 3},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, c := range []struct {
		account, action string
		want            float64
	}{{"plug-1", "publish", 3}, {"plug-1", "subscribe", 1}} {
		if got := value(t, fams, "hubd_mqtt_acl_denied_total", map[string]string{"account": c.account, "action": c.action}); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.account, c.action, got, c.want)
		}
	}
	// An account never refused is on the page, not a row of zeros in /metrics.
	for _, m := range fams["hubd_mqtt_acl_denied_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "account" && l.GetValue() == "zigbee2mqtt" {
				t.Errorf("zigbee2mqtt, never refused, is exported: %v", m)
			}
		}
	}
	resp, err := http.Get(ts.url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.MQTTAccounts) != 2 || st.MQTTAccounts[0].DeniedPublish != 3 || st.MQTTAccounts[1].Devices[1] != "lamp-4" ||
		!st.MQTTAccounts[0].HasPassword || st.MQTTAccounts[1].HasPassword {
		t.Errorf("status mqtt_accounts = %+v", st.MQTTAccounts)
	}
}

func TestMQTTAccounts_AbsentWithoutSource(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	fams := scrape(t, ts.url)
	for _, name := range []string{"hubd_mqtt_acl_denied_total", "hubd_mqtt_broker_connections"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without an embedded broker", name)
		}
	}
}

func TestMQTTPassword_OnlyForASignedInTechnician(t *testing.T) {
	calls := 0
	set := func(name string, rotate bool) (MQTTPassword, error) {
		calls++
		if name != "plug-1" {
			return MQTTPassword{}, fmt.Errorf("%w: %q", hub.ErrNotFound, name)
		}
		if rotate {
			return MQTTPassword{}, fmt.Errorf("%w: no password yet", hub.ErrInvalidValue)
		}
		return MQTTPassword{Account: "plug-1", Devices: []string{"plug-1"}, Password: "s3cret", PasswordFileLine: "plug-1:$7$x"}, nil
	}
	ts := newTestServer(t, Options{AllowAnonymousView: true, SetMQTTPassword: set})
	const path = "/api/mqtt-accounts/plug-1/create"

	anon := newBrowser(t, ts.url)
	if resp, _ := anon.do("POST", path, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", resp.StatusCode)
	}
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if resp, _ := b.do("POST", path, "", map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do("POST", path, "", map[string]string{csrfHeader: ""}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if calls != 0 {
		t.Fatalf("refused requests reached the accounts (%d calls)", calls)
	}
	resp, body := b.do("POST", path, "", nil)
	var pw MQTTPassword
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &pw) != nil || pw.Password != "s3cret" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("technician: %d %s (Cache-Control %q)", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}
	for p, want := range map[string]int{
		"/api/mqtt-accounts/nobody/create": http.StatusNotFound,
		"/api/mqtt-accounts/plug-1/rotate": http.StatusUnprocessableEntity,
		"/api/mqtt-accounts/plug-1/delete": http.StatusBadRequest,
	} {
		if resp, body := b.do("POST", p, "", nil); resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", p, resp.StatusCode, body, want)
		}
	}
	if resp, _ := b.do("GET", path, "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}

	none := newTestServer(t, Options{})
	nb := newBrowser(t, none.url)
	nb.login(testUser, testPass)
	if resp, _ := nb.do("POST", path, "", nil); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("without accounts: %d, want 501", resp.StatusCode)
	}
}
