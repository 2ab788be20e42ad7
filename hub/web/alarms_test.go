package web

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// alarmList is alarms a test acknowledges, and who did.
type alarmList struct {
	mu   sync.Mutex
	list []string
	by   []string
}

func (a *alarmList) get() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.list...)
}

func (a *alarmList) who() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.by...)
}

func (a *alarmList) ack(user string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.list)
	a.list, a.by = nil, append(a.by, user)
	return n, nil
}

// Only a signed-in technician, from the page's own origin and with the
// session's CSRF token, acknowledges alarms; anyone else leaves them.
func TestServer_AckAlarms_OnlySignedIn(t *testing.T) {
	a := &alarmList{list: []string{"hubd.db was missing or empty"}}
	ts := newTestServer(t, Options{AllowAnonymousView: true, Alarms: a.get, AckAlarms: a.ack})
	anon := newBrowser(t, ts.url)
	if resp, _ := anon.do("POST", "/api/alarms/ack", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous ack: %d, want 401", resp.StatusCode)
	}
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/api/alarms/ack", "", map[string]string{csrfHeader: ""}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("ack without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/api/alarms/ack", "", map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site ack: %d, want 403", resp.StatusCode)
	}
	if len(a.get()) != 1 {
		t.Fatal("a refused ack cleared the alarms")
	}
	resp, body := b.do("POST", "/api/alarms/ack", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"acknowledged":1`) {
		t.Fatalf("ack: %d %s", resp.StatusCode, body)
	}
	if len(a.get()) != 0 || len(a.who()) != 1 || a.who()[0] != testUser {
		t.Errorf("after the ack: alarms %q, acknowledged by %q", a.get(), a.who())
	}
	if _, h := anon.do("GET", "/healthz", "", nil); strings.TrimSpace(h) != "ok" {
		t.Errorf("/healthz after the ack: %q", h)
	}
	ts2 := newTestServer(t, Options{})
	b2 := newBrowser(t, ts2.url)
	b2.login(testUser, testPass)
	if resp, _ := b2.do("POST", "/api/alarms/ack", "", nil); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("ack without AckAlarms: %d, want 501", resp.StatusCode)
	}
}

// The banner's acknowledge button is there only for a signed-in
// technician; clicking it clears the alarms and hides the banner.
func TestPage_Chromium_AckAlarms(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	a := &alarmList{list: []string{"hubd.db was missing or empty on a gateway that had state"}}
	ts := newTestServer(t, Options{AllowAnonymousView: true, Alarms: a.get, AckAlarms: a.ack})
	ctx := chromium(t, 1280, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#alarms`))); err != nil {
		t.Fatal(err)
	}
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('ack-alarms').hidden`))
	if err != nil || !hidden {
		t.Fatalf("the acknowledge button shows before sign-in (hidden=%v, %v)", hidden, err)
	}
	err = chromedp.Do(ctx,
		signIn(),
		chromedp.Click(css(`#ack-alarms`), chromedp.NodeVisible),
		chromedp.WaitNotVisible(css(`#alarms`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.get()) != 0 || len(a.who()) != 1 || a.who()[0] != testUser {
		t.Errorf("after the click: alarms %q, acknowledged by %q", a.get(), a.who())
	}
}
