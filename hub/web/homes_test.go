package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"hubd/hub"
)

// recordingHomes is the residents service's edge: it records who asked
// for what and answers like the daemon's.
type recordingHomes struct {
	mu    sync.Mutex
	calls []string
}

func (h *recordingHomes) List() ([]hub.HomeStatus, error) {
	return []hub.HomeStatus{{ID: "r101", Name: "Room 101", Devices: []string{"lamp-2"}, Login: "r101-abcd"}}, nil
}

func (h *recordingHomes) change(op, home, by string) (hub.HomeCredentials, error) {
	if home != "r101" {
		return hub.HomeCredentials{}, fmt.Errorf("%w: %q", hub.ErrNotHome, home)
	}
	h.mu.Lock()
	h.calls = append(h.calls, op+" "+home+" by "+by)
	h.mu.Unlock()
	return hub.HomeCredentials{Home: home, Login: "r101-wxyz", Password: "pw-" + op}, nil
}

func (h *recordingHomes) SetLogin(home, by string) (hub.HomeCredentials, error) {
	return h.change("login", home, by)
}

func (h *recordingHomes) CheckOut(home, by string) (hub.HomeCredentials, error) {
	return h.change("checkout", home, by)
}

func (h *recordingHomes) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.calls, "; ")
}

func homesServer(t *testing.T, homes HomesAdmin) *testServer {
	t.Helper()
	o := Options{Users: []User{
		{Name: testUser, PasswordHash: testHash(t, testPass)},
		{Name: "boss", PasswordHash: testHash(t, "boss-pass"), Role: RoleManager},
	}}
	if homes != nil {
		o.Homes = homes
	}
	return newTestServer(t, o)
}

var homeRequests = []struct{ method, path string }{
	{"GET", "/api/homes"},
	{"POST", "/api/homes/r101/login"},
	{"POST", "/api/homes/r101/checkout"},
}

func TestHomes_AnonymousAndTechnician_AreRefused(t *testing.T) {
	rec := &recordingHomes{}
	s := homesServer(t, rec)
	anon := newBrowser(t, s.url)
	tech := newBrowser(t, s.url)
	if r := tech.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("tech login: %d", r.StatusCode)
	}
	for _, c := range []struct {
		who  *browser
		name string
		want int
	}{{anon, "anonymous", http.StatusUnauthorized}, {tech, "technician", http.StatusForbidden}} {
		for _, rq := range homeRequests {
			resp, body := c.who.do(rq.method, rq.path, "", nil)
			if resp.StatusCode != c.want || strings.Contains(body, "pw-") || strings.Contains(body, "r101-abcd") {
				t.Errorf("%s %s %s: %d %s, want %d", c.name, rq.method, rq.path, resp.StatusCode, body, c.want)
			}
		}
	}
	// A technician's session says it may control but not manage.
	if _, body := tech.do("GET", "/api/session", "", nil); !strings.Contains(body, `"can_control":true`) || !strings.Contains(body, `"can_manage":false`) || !strings.Contains(body, `"role":"technician"`) {
		t.Errorf("technician session: %s", body)
	}
	if got := rec.log(); got != "" {
		t.Errorf("refused requests reached the residents service: %s", got)
	}
}

func TestHomes_Manager_ListsSetsAndChecksOut(t *testing.T) {
	rec := &recordingHomes{}
	s := homesServer(t, rec)
	b := newBrowser(t, s.url)
	if r := b.login("boss", "boss-pass"); r.StatusCode != http.StatusOK {
		t.Fatalf("manager login: %d", r.StatusCode)
	}
	if _, body := b.do("GET", "/api/session", "", nil); !strings.Contains(body, `"can_manage":true`) {
		t.Errorf("manager session: %s", body)
	}
	want := []string{`"login":"r101-abcd"`, `"password":"pw-login"`, `"password":"pw-checkout"`}
	for i, rq := range homeRequests {
		resp, body := b.do(rq.method, rq.path, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want[i]) {
			t.Errorf("%s %s: %d %s", rq.method, rq.path, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", rq.path, cc)
		}
	}
	if got := rec.log(); got != "login r101 by web:boss; checkout r101 by web:boss" {
		t.Errorf("calls: %s", got)
	}
	// Unknown homes are 404; a change without the CSRF token or from
	// another origin is refused before it reaches the service.
	if resp, _ := b.do("POST", "/api/homes/lobby/checkout", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("checkout of a node that is not a home: %d", resp.StatusCode)
	}
	for _, hdr := range []map[string]string{{csrfHeader: ""}, {"Origin": "http://evil.example"}} {
		if resp, _ := b.do("POST", "/api/homes/r101/checkout", "", hdr); resp.StatusCode != http.StatusForbidden {
			t.Errorf("checkout with %v: %d, want 403", hdr, resp.StatusCode)
		}
	}
	if got := strings.Count(rec.log(), "checkout"); got != 1 {
		t.Errorf("%d check-outs ran, want 1: %s", got, rec.log())
	}
}

func TestHomes_NotConfigured_Is501(t *testing.T) {
	s := homesServer(t, nil)
	b := newBrowser(t, s.url)
	b.login("boss", "boss-pass")
	if resp, _ := b.do("POST", "/api/homes/r101/login", "", nil); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("no residents service: %d, want 501", resp.StatusCode)
	}
}

func TestHomes_UnknownRole_IsRefused(t *testing.T) {
	_, err := New(newEchoHub(t, nil).Hub, Options{Users: []User{{Name: "x", PasswordHash: testHash(t, "p"), Role: "admin"}}})
	if err == nil {
		t.Fatal("a user with role admin was accepted")
	}
}
