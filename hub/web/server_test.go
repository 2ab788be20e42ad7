package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
)

func mustJSON(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

func lampOn(t testing.TB, h *echoHub) bool {
	t.Helper()
	_, snap, ok := h.Snapshot("lamp-1")
	if !ok {
		t.Fatal("lamp-1 is gone")
	}
	return snap.State.On
}

func TestServer_Command_WithoutLoginIsRefused(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"no session", nil},
		{"made-up token", map[string]string{csrfHeader: "x"}},
		{"made-up cookie", map[string]string{"Cookie": cookieName + "=forged", csrfHeader: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, tc.hdr)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", resp.StatusCode, body)
			}
		})
	}
	resp, _ := b.do("POST", "/api/alexa/sync", "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sync without login: status %d, want 401", resp.StatusCode)
	}
	if !lampOn(t, ts.h) || ts.h.commands.Load() != 0 {
		t.Fatalf("a refused control reached the device (commands=%d)", ts.h.commands.Load())
	}
}

func TestServer_Command_CrossSiteIsRefused(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"foreign origin", map[string]string{"Origin": "http://evil.example"}},
		{"foreign origin with port twin", map[string]string{"Origin": "http://" + strings.TrimPrefix(ts.url, "http://") + ".evil.example"}},
		{"null origin", map[string]string{"Origin": "null"}},
		{"foreign referer", map[string]string{"Origin": "", "Referer": "http://evil.example/page"}},
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"missing csrf token", map[string]string{csrfHeader: ""}},
		{"wrong csrf token", map[string]string{csrfHeader: "AAAA" + b.csrf[4:]}},
		{"forged form post", map[string]string{"Origin": "http://evil.example", csrfHeader: "", "Content-Type": "application/x-www-form-urlencoded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, tc.hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d (%s), want 403", resp.StatusCode, body)
			}
		})
	}
	if !lampOn(t, ts.h) || ts.h.commands.Load() != 0 {
		t.Fatalf("a forged control reached the device (commands=%d)", ts.h.commands.Load())
	}
	// The same request from the page itself goes through.
	resp, body := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("genuine control: %d %s", resp.StatusCode, body)
	}
	if lampOn(t, ts.h) {
		t.Fatal("lamp-1 still on after a confirmed off")
	}
}

func TestServer_Command_ResultsPerOutcome(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true, CommandTimeout: 300 * time.Millisecond})
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)
	tests := []struct {
		name, path, body string
		mute             bool
		code             int
		result           string
	}{
		{"switch off", "/api/devices/lamp-1/command", `{"on":false}`, false, 200, "ok"},
		{"dim", "/api/devices/lamp-1/command", `{"brightness":25}`, false, 200, "ok"},
		{"identify", "/api/devices/lamp-1/command", `{"identify":true}`, false, 200, "ok"},
		{"unknown device", "/api/devices/nope/command", `{"on":true}`, false, 404, ""},
		{"socket has no brightness", "/api/devices/socket-1/command", `{"brightness":10}`, false, 422, "not_supported"},
		{"offline device", "/api/devices/lamp-3/command", `{"on":true}`, false, 504, "unreachable"},
		{"device never confirms", "/api/devices/lamp-2/command", `{"on":true}`, true, 504, "unreachable"},
		{"bad json", "/api/devices/lamp-1/command", `{"on":`, false, 400, ""},
		{"out of range", "/api/devices/lamp-1/command", `{"brightness":101}`, false, 400, ""},
		{"oversize", "/api/devices/lamp-1/command", `{"on":true,"x":"` + strings.Repeat("a", 8000) + `"}`, false, 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.h.mute.Store(tc.mute)
			resp, body := b.do("POST", tc.path, tc.body, nil)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
			if tc.result != "" {
				var res CommandResult
				mustJSON(t, body, &res)
				if res.Result != tc.result {
					t.Fatalf("result %q, want %q (%s)", res.Result, tc.result, body)
				}
			}
		})
	}
	_, snap, _ := ts.h.Snapshot("lamp-1")
	if snap.State.On || snap.State.Brightness != 25 {
		t.Fatalf("lamp-1 state on=%v brightness=%d, want off at 25", snap.State.On, snap.State.Brightness)
	}
	if ts.h.identifed.Load() != 1 {
		t.Fatalf("identify reached the driver %d times, want 1", ts.h.identifed.Load())
	}
	// Each control is in the events list with its user.
	var found bool
	for _, ev := range ts.h.Events() {
		if strings.Contains(ev.Text, "by "+testUser) && strings.Contains(ev.Text, "brightness 25%") {
			found = true
		}
	}
	if !found {
		t.Fatal("no event names the user who dimmed lamp-1")
	}
}

func TestServer_Login_CookieAndRateLimit(t *testing.T) {
	ts := newTestServer(t, Options{LoginBurst: 3, LoginEvery: time.Hour})
	b := newBrowser(t, ts.url)

	resp := b.login(testUser, testPass)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var raw string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, cookieName+"=") {
			raw = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"} {
		if !strings.Contains(raw, want) {
			t.Errorf("session cookie %q lacks %s", raw, want)
		}
	}
	if c := b.cookie(); c == nil || len(c.Value) < 40 {
		t.Fatalf("session id %v is missing or short", c)
	}
	if b.csrf == "" || b.csrf == b.cookie().Value {
		t.Fatal("CSRF token is missing or equals the session id")
	}

	other := newBrowser(t, ts.url)
	for i, tc := range []struct {
		user, pass string
		code       int
	}{
		{testUser, "wrong", 401},
		{"nobody", testPass, 401},
		{testUser, testPass, 429}, // the fourth attempt from this address
	} {
		if resp := other.login(tc.user, tc.pass); resp.StatusCode != tc.code {
			t.Fatalf("attempt %d: status %d, want %d", i+1, resp.StatusCode, tc.code)
		}
	}
	if resp := other.login(testUser, testPass); resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestServer_Login_RefusesGarbage(t *testing.T) {
	ts := newTestServer(t, Options{LoginBurst: 100})
	b := newBrowser(t, ts.url)
	for _, tc := range []struct {
		name, body, ctype string
		code              int
	}{
		{"empty", "", "application/json", 400},
		{"not json", "user=tech", "application/json", 400},
		{"unknown field", `{"user":"tech","password":"x","admin":true}`, "application/json", 400},
		{"missing password", `{"user":"tech"}`, "application/json", 400},
		{"oversize", `{"user":"` + strings.Repeat("u", 10000) + `","password":"x"}`, "application/json", 413},
		{"form wrong password", "user=tech&password=nope", "application/x-www-form-urlencoded", 401},
		{"form bad escape", "user=%zz&password=x", "application/x-www-form-urlencoded", 400},
		{"password over 72 bytes", `{"user":"tech","password":"` + strings.Repeat("p", 100) + `"}`, "application/json", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.do("POST", "/login", tc.body, map[string]string{"Content-Type": tc.ctype})
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
		})
	}
}

func TestServer_Login_FormRedirectsToPage(t *testing.T) {
	ts := newTestServer(t, Options{})
	b := newBrowser(t, ts.url)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := b.do("POST", "/login", "user=tech&password="+testPass, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("form login: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.cookie() == nil {
		t.Fatal("form login set no session cookie")
	}
}

func TestServer_Session_ExpiresAndLogsOut(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now, SessionTTL: time.Hour})
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)

	resp, _ := b.do("GET", "/api/status", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status with session: %d", resp.StatusCode)
	}
	clock.Add(61 * time.Minute)
	resp, _ = b.do("GET", "/api/status", "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status after expiry: %d, want 401", resp.StatusCode)
	}

	b.login(testUser, testPass)
	if resp, body := b.do("POST", "/logout", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("control after logout: %d, want 401", resp.StatusCode)
	}
}

func TestServer_View_NeedsLoginUnlessAnonymousAllowed(t *testing.T) {
	for _, anon := range []bool{false, true} {
		ts := newTestServer(t, Options{AllowAnonymousView: anon})
		b := newBrowser(t, ts.url)
		want := http.StatusUnauthorized
		if anon {
			want = http.StatusOK
		}
		for _, path := range []string{"/api/status", "/events"} {
			req, _ := http.NewRequest("GET", ts.url+path, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := b.c.Do(req.WithContext(ctx))
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			resp.Body.Close()
			cancel()
			if resp.StatusCode != want {
				t.Errorf("anonymous=%v %s: %d, want %d", anon, path, resp.StatusCode, want)
			}
		}
		// The page shell and health are always served.
		for _, path := range []string{"/", "/assets/app.js", "/assets/app.css", "/healthz", "/metrics"} {
			if resp, _ := b.do("GET", path, "", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("anonymous=%v %s: %d", anon, path, resp.StatusCode)
			}
		}
	}
}

func TestServer_Page_HasSecurityHeaders(t *testing.T) {
	ts := newTestServer(t, Options{})
	resp, body := newBrowser(t, ts.url).do("GET", "/", "", nil)
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("page can be framed")
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("page references an outside URL; it must work offline")
	}
}

func TestNew_RefusesBadOptions(t *testing.T) {
	h := newEchoHub(t, nil)
	good := testHash(t, "x")
	for _, tc := range []struct {
		name  string
		users []User
	}{
		{"plain password", []User{{Name: "tech", PasswordHash: "demo-pass"}}},
		{"no name", []User{{PasswordHash: good}}},
		{"twice", []User{{Name: "a", PasswordHash: good}, {Name: "a", PasswordHash: good}}},
		{"truncated hash", []User{{Name: "a", PasswordHash: good[:20]}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(h.Hub, Options{Users: tc.users}); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err %v, want ErrInvalidOptions", err)
			}
		})
	}
	if _, err := New(nil, Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("nil hub: %v", err)
	}
}

func TestHashPassword_MakesAcceptedBcrypt(t *testing.T) {
	hash, err := HashPassword(testPass)
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("cost %d, err %v", cost, err)
	}
	ts := newTestServer(t, Options{Users: []User{{Name: "ops", PasswordHash: hash}}})
	if resp := newBrowser(t, ts.url).login("ops", testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login with HashPassword's hash: %d", resp.StatusCode)
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Fatal("password over bcrypt's 72 bytes hashed (it would be truncated)")
	}
}

func TestServer_SyncNow(t *testing.T) {
	calls := 0
	opts := Options{SyncNow: func(ctx context.Context) error {
		calls++
		if calls == 2 {
			return errors.New("alexa: 429 Too Many Requests")
		}
		return nil
	}}
	ts := newTestServer(t, opts)
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)
	if resp, body := b.do("POST", "/api/alexa/sync", "", nil); resp.StatusCode != 200 {
		t.Fatalf("sync: %d %s", resp.StatusCode, body)
	}
	resp, body := b.do("POST", "/api/alexa/sync", "", nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "429") {
		t.Fatalf("failing sync: %d %s", resp.StatusCode, body)
	}
	ts2 := newTestServer(t, Options{})
	b2 := newBrowser(t, ts2.url)
	b2.login(testUser, testPass)
	if resp, _ := b2.do("POST", "/api/alexa/sync", "", nil); resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("sync without SyncNow: %d, want 501", resp.StatusCode)
	}
}

// TestServer_Status_Golden pins the JSON snapshot; run with -update after a
// deliberate change.
func TestServer_Status_Golden(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)}
	opts := Options{Name: "Demo House gateway", Version: "1.2.3", Commit: "0123456789ab", Now: clock.Now,
		Started: clock.t.Add(-90 * time.Minute), AllowAnonymousView: true}
	fakeLinks(&opts)
	opts.UpdateFirmware = newFakeUpdater(4096, false).update
	ts := newTestServer(t, opts)
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)
	if resp, body := b.upload("lamp-1", testImage(10000), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("firmware upload: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "lamp-1", "the firmware update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
	_, body := b.do("GET", "/api/status", "", nil)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(body), "", "  "); err != nil {
		t.Fatal(err)
	}
	got := strings.Replace(pretty.String(), `"goarch": "`+runtime.GOARCH+`"`, `"goarch": "GOARCH"`, 1)
	checkGolden(t, "status.json", got)

	// Not configured sections are null, so the page can say so.
	ts2 := newTestServer(t, Options{AllowAnonymousView: true})
	_, body = newBrowser(t, ts2.url).do("GET", "/api/status", "", nil)
	var st map[string]json.RawMessage
	mustJSON(t, body, &st)
	for _, k := range []string{"buses", "brokers", "notifier", "alexa"} {
		if string(st[k]) != "null" {
			t.Errorf("%s is %s without its function, want null", k, st[k])
		}
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file (run with -update if intended):\n%s", name, got)
	}
}

func TestErrorStatus_MapsDomainErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{hub.ErrNotFound, 404}, {hub.ErrUnreachable, 504}, {hub.ErrNotSupported, 422},
		{hub.ErrInvalidValue, 422}, {hub.ErrBusy, 409}, {hub.ErrNoDriver, 503},
		{ErrUnauthorized, 401}, {ErrBadCSRFToken, 403}, {ErrCrossSite, 403},
		{ErrTooManyAttempts, 429}, {ErrBadRequest, 400}, {errors.New("disk on fire"), 500},
	} {
		if got := errorStatus(tc.err); got != tc.code {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.code)
		}
	}
}

func TestServer_SetUsers_EndsSessionsOfRemovedUsers(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if err := ts.Server.SetUsers([]User{{Name: "x", PasswordHash: "not bcrypt"}}); err == nil {
		t.Fatal("a bad user list was accepted")
	}
	// The refused list changed nothing: the session still works.
	if resp, body := b.do("POST", "/api/devices/lamp-1/command", `{"on":false}`, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("command after refused reload: %d %s", resp.StatusCode, body)
	}
	if err := ts.Server.SetUsers([]User{{Name: "other", PasswordHash: testHash(t, "other-pass")}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do("POST", "/api/devices/lamp-1/command", `{"on":true}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("removed user's session still works: %d", resp.StatusCode)
	}
	if resp := b.login(testUser, testPass); resp.StatusCode == http.StatusOK {
		t.Fatal("removed user can still log in")
	}
	if resp := newBrowser(t, ts.url).login("other", "other-pass"); resp.StatusCode != http.StatusOK {
		t.Fatalf("new user cannot log in: %d", resp.StatusCode)
	}
}

func TestServer_AnnouncedOversizeBody_RefusedBeforeReading(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	// The client announces a large body and sends nothing: the answer must
	// come at once, not after the server waited for the body.
	for _, path := range []string{"/login", "/logout", "/api/devices/lamp-1/command"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n", path, strings.TrimPrefix(ts.url, "http://"), ts.url)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer while the body is pending: %v", path, err)
		}
		want := resp.StatusCode == http.StatusRequestEntityTooLarge
		if path == "/api/devices/lamp-1/command" {
			// A control is refused for its missing session before its body.
			want = want || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
		}
		if !want {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		conn.Close()
	}
}

// The unknown-user dummy follows the users' bcrypt cost across reloads,
// and a reload at the same cost keeps it (no bcrypt run per reload).
func TestServer_SetUsers_DummyFollowsCost(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	a := ts.Server.auth
	hash := func(pw string, cost int) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dummyCost := func() ([]byte, int) {
		a.mu.Lock()
		defer a.mu.Unlock()
		c, err := bcrypt.Cost(a.dummy)
		if err != nil {
			t.Fatal(err)
		}
		return a.dummy, c
	}
	if err := ts.Server.SetUsers([]User{{Name: "a", PasswordHash: hash("a-pass", bcrypt.MinCost+1)}}); err != nil {
		t.Fatal(err)
	}
	first, c := dummyCost()
	if c != bcrypt.MinCost+1 {
		t.Fatalf("dummy cost %d, want %d", c, bcrypt.MinCost+1)
	}
	if err := ts.Server.SetUsers([]User{{Name: "b", PasswordHash: hash("b-pass", bcrypt.MinCost+1)}}); err != nil {
		t.Fatal(err)
	}
	if again, _ := dummyCost(); !bytes.Equal(again, first) {
		t.Fatal("a reload at the same cost made a new dummy")
	}
	if err := ts.Server.SetUsers([]User{{Name: "b", PasswordHash: hash("b-pass", bcrypt.MinCost)}}); err != nil {
		t.Fatal(err)
	}
	if _, c := dummyCost(); c != bcrypt.MinCost {
		t.Fatalf("dummy cost after the users' cost changed: %d, want %d", c, bcrypt.MinCost)
	}
}
