package web

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestMQTTAccounts_InMetricsAndStatus(t *testing.T) {
	accts := []MQTTAccount{
		{Name: "plug-1", Devices: []string{"plug-1"}, DeniedPublish: 3, DeniedSubscribe: 1},
		{Name: "zigbee2mqtt", Devices: []string{"lamp-3", "lamp-4"}},
	}
	ts := newTestServer(t, Options{AllowAnonymousView: true, MQTTAccounts: func() []MQTTAccount { return accts }})
	fams := scrape(t, ts.url)
	for _, c := range []struct {
		account, action string
		want            float64
	}{{"plug-1", "publish", 3}, {"plug-1", "subscribe", 1}, {"zigbee2mqtt", "publish", 0}} {
		if got := value(t, fams, "hubd_mqtt_acl_denied_total", map[string]string{"account": c.account, "action": c.action}); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.account, c.action, got, c.want)
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
	if len(st.MQTTAccounts) != 2 || st.MQTTAccounts[0].DeniedPublish != 3 || st.MQTTAccounts[1].Devices[1] != "lamp-4" {
		t.Errorf("status mqtt_accounts = %+v", st.MQTTAccounts)
	}
}

func TestMQTTAccounts_AbsentWithoutSource(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	if _, ok := scrape(t, ts.url)["hubd_mqtt_acl_denied_total"]; ok {
		t.Error("denied counter exported without accounts")
	}
}
