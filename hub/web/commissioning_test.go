package web

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// fakeWindow is a CommissioningControl that records who did what.
type fakeWindow struct {
	mu  sync.Mutex
	st  Commissioning
	log []string
}

func (f *fakeWindow) Commissioning() Commissioning {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeWindow) OpenCommissioning(d time.Duration, by string) (Commissioning, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = Commissioning{Open: true, Until: time.Now().Add(d), User: "commissioning", MaxClients: 32}
	f.log = append(f.log, "open "+d.String()+" by "+by)
	st := f.st
	st.Password = "window-secret-1234567"
	return st, nil
}

func (f *fakeWindow) CloseCommissioning(by string) (Commissioning, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = Commissioning{}
	f.log = append(f.log, "close by "+by)
	return f.st, nil
}

func TestCommissioning_API_SignedInTechnicianOnly(t *testing.T) {
	win := &fakeWindow{}
	ts := newTestServer(t, Options{AllowAnonymousView: true, Commissioning: win})
	anon := newBrowser(t, ts.url)
	if resp, _ := anon.do("GET", "/api/commissioning", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous status: %d", resp.StatusCode)
	}
	if resp, _ := anon.do("POST", "/api/commissioning", `{"minutes":30}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous open: %d", resp.StatusCode)
	}
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatal("login")
	}
	csrf := b.csrf
	b.csrf = ""
	if resp, _ := b.do("POST", "/api/commissioning", `{"minutes":30}`, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("open without CSRF: %d", resp.StatusCode)
	}
	b.csrf = csrf
	for _, bad := range []string{`{"minutes":-1}`, `{"minutes":99999}`, `{"minutes":"x"}`, `{"hours":1}`, `{"minutes":30`} {
		if resp, _ := b.do("POST", "/api/commissioning", bad, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%.30s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp, _ := b.do("POST", "/api/commissioning", strings.Repeat("{", 10000), nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d, want 413", resp.StatusCode)
	}
	resp, body := b.do("POST", "/api/commissioning", `{"minutes":30}`, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"password":"window-secret-1234567"`) {
		t.Fatalf("open: %d %s", resp.StatusCode, body)
	}
	// The status never carries the password.
	resp, body = b.do("GET", "/api/commissioning", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"open":true`) || strings.Contains(body, "password") {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.do("POST", "/api/commissioning/close", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"open":false`) {
		t.Fatalf("close: %d %s", resp.StatusCode, body)
	}
	win.mu.Lock()
	defer win.mu.Unlock()
	if len(win.log) != 2 || win.log[0] != "open 30m0s by "+testUser || win.log[1] != "close by "+testUser {
		t.Fatalf("calls %q", win.log)
	}
}

func TestCommissioning_API_WithoutEmbeddedBroker(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)
	if resp, _ := b.do("POST", "/api/commissioning", `{"minutes":30}`, nil); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("open without a broker: %d", resp.StatusCode)
	}
}

// Discovery's table and the commissioning window are in /metrics.
func TestMetrics_DiscoveryAndCommissioning(t *testing.T) {
	ad := &listAdoption{found: []hub.Found{{Driver: "mqtt", Address: "z2m:a"}, {Driver: "mqtt", Address: "z2m:b"}},
		adopted: []AdoptRequest{{ID: "x"}}}
	win := &fakeWindow{}
	win.OpenCommissioning(time.Minute, "tech")
	win.st.Clients, win.st.DeniedPublish, win.st.RefusedFull = 3, 5, 2
	ts := newTestServer(t, Options{AllowAnonymousView: true, Adoption: ad, Commissioning: win})
	fams := scrape(t, ts.url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hubd_discovery_found", map[string]string{"state": "new"}, 2},
		{"hubd_discovery_found", map[string]string{"state": "configured"}, 1},
		{"hubd_discovery_found_max", nil, 100},
		{"hubd_discovery_dropped_total", nil, 7},
		{"hubd_mqtt_commissioning_open", nil, 1},
		{"hubd_mqtt_commissioning_clients", nil, 3},
		{"hubd_mqtt_commissioning_refused_total", map[string]string{"what": "publish"}, 5},
		{"hubd_mqtt_commissioning_refused_total", map[string]string{"what": "login"}, 2},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
