package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

const testAlarm = "hubd.db was missing or empty on a gateway that had state (generation 7)"

func TestServer_Alarms_HealthzStays200AndSaysDegraded(t *testing.T) {
	var alarms []string
	ts := newTestServer(t, Options{AllowAnonymousView: true, Alarms: func() []string { return alarms }})
	b := newBrowser(t, ts.url)
	if resp, body := b.do("GET", "/healthz", "", nil); resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("no alarms: %d %q", resp.StatusCode, body)
	}
	alarms = []string{testAlarm}
	// Anyone learns that the gateway is degraded, not why (the reason may
	// name paths); a signed-in technician reads the alarm.
	resp, body := b.do("GET", "/healthz", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "degraded") || strings.Contains(body, testAlarm) {
		t.Fatalf("with an alarm, anonymous: %d %q, want 200 degraded without the reason", resp.StatusCode, body)
	}
	if r := b.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", r.StatusCode)
	}
	resp, body = b.do("GET", "/healthz", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "degraded: ") || !strings.Contains(body, testAlarm) {
		t.Fatalf("with an alarm, signed in: %d %q, want 200 degraded with the alarm", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/api/status", "", nil)
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: %d %v", resp.StatusCode, err)
	}
	if len(st.Gateway.Alarms) != 1 || st.Gateway.Alarms[0] != testAlarm {
		t.Fatalf("status alarms %q", st.Gateway.Alarms)
	}
}

func TestPage_Chromium_AlarmBanner(t *testing.T) {
	var alarms []string
	ts := newTestServer(t, Options{AllowAnonymousView: true, Alarms: func() []string { return alarms }})
	ctx := chromium(t, 1024, 768)
	hidden := `document.getElementById('alarms').hidden`
	// Without alarms the banner stays hidden once the page has rendered.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`article[data-device="lamp-1"]`))); err != nil {
		t.Fatal(err)
	}
	if h, err := chromedp.Run(ctx, chromedp.Evaluate[bool](hidden)); err != nil || !h {
		t.Fatalf("banner without alarms: hidden %v (%v)", h, err)
	}
	alarms = []string{testAlarm}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#alarms`))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('alarms').textContent`))
	if err != nil || !strings.Contains(text, testAlarm) {
		t.Fatalf("banner text %q (%v)", text, err)
	}
}
