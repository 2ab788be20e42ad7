package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub/yandex"
)

// Tokens of the tenancy daemon's users.
const (
	tenTok101   = "tenancy-101-token"
	tenTok201   = "tenancy-201-token"
	tenTokStaff = "tenancy-staff-token"
	tenOAuthSec = "tenancy-oauth-secret"
	tenRedirect = "https://social.yandex.net/broker/redirect"
	tenMgrPass  = "manager-pass-1"
	tenTechPass = "tech-pass-1"
)

// callbacks is a Yandex callback endpoint that keeps what it is sent.
type callbacks struct {
	srv    *httptest.Server
	mu     sync.Mutex
	states [][]byte
	discos [][]byte
}

func newCallbacks(t *testing.T) *callbacks {
	c := &callbacks{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		c.mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/callback/discovery") {
			c.discos = append(c.discos, b)
		} else {
			c.states = append(c.states, b)
		}
		c.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"request_id":"n","status":"ok"}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// byUser reads callbacks into user id -> ids of the devices they named.
func (c *callbacks) byUser(t *testing.T, discovery bool) map[string][]string {
	t.Helper()
	c.mu.Lock()
	bodies := c.states
	if discovery {
		bodies = c.discos
	}
	bodies = slices.Clone(bodies)
	c.mu.Unlock()
	out := map[string][]string{}
	for _, b := range bodies {
		var cb struct {
			Payload struct {
				UserID  string `json:"user_id"`
				Devices []struct {
					ID string `json:"id"`
				} `json:"devices"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(b, &cb); err != nil {
			t.Fatalf("callback: %v: %s", err, b)
		}
		out[cb.Payload.UserID] = append(out[cb.Payload.UserID], "")[:len(out[cb.Payload.UserID])]
		for _, d := range cb.Payload.Devices {
			out[cb.Payload.UserID] = append(out[cb.Payload.UserID], d.ID)
		}
	}
	return out
}

// tenancyDaemon runs `hubd run` with a lobby socket (t-00), Room 101
// (t-01, t-02) and Room 201 (t-03), three Yandex users, OAuth, the
// notifier, and a manager and a technician on the status page.
type tenancyDaemon struct {
	*daemon
	cfg string
	cb  *callbacks
}

func startTenancyDaemon(t *testing.T) *tenancyDaemon {
	t.Helper()
	dir, broker := t.TempDir(), freePort(t)
	cb := newCallbacks(t)
	mgr := testHash(t, tenMgrPass)
	tech := testHash(t, tenTechPass)
	specs := tasmotaSockets("t", 4)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "mqtt-pass", specs, func(c *Config) {
		c.Site = []*NodeConfig{{ID: "b", Name: "Building", Kind: "building", Children: []*NodeConfig{
			{ID: "lobby", Name: "Lobby", Kind: "room", Devices: []string{"t-00"}},
			{ID: "room-101", Name: "Room 101", Kind: "home", Devices: []string{"t-01", "t-02"}},
			{ID: "room-201", Name: "Room 201", Kind: "home", Devices: []string{"t-03"}},
		}}}
		c.Yandex.Users = []YandexUser{
			{ID: "res101", Tokens: []string{yandex.HashToken(tenTok101)}, Homes: []string{"room-101"}},
			{ID: "res201", Tokens: []string{yandex.HashToken(tenTok201)}, Homes: []string{"room-201"}},
			{ID: "staff", Tokens: []string{yandex.HashToken(tenTokStaff)}, Staff: true},
		}
		c.Yandex.OAuth = &OAuthConfig{ClientID: "yc", ClientSecretHash: yandex.HashToken(tenOAuthSec), RedirectURIs: []string{tenRedirect}}
		c.Yandex.Notify = &NotifyConfig{URL: cb.srv.URL, SkillID: "skill", OAuthToken: "skill-owner-token"}
		c.Web = WebConfig{AnonymousView: true, Users: []WebUser{
			{Name: "boss", PasswordHash: mgr, Role: roleManager},
			{Name: "tech", PasswordHash: tech},
		}}
	})
	d := startDaemon(t, "run", "-config", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: "tcp://" + broker, Username: "hubd", Password: "mqtt-pass", Devices: specs, Telemetry: -1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sim.Close() })
	td := &tenancyDaemon{daemon: d, cfg: cfg, cb: cb}
	eventually(t, 20*time.Second, "every socket reachable", func() bool {
		for _, id := range []string{"t-00", "t-01", "t-02", "t-03"} {
			if dv := td.query(t, tenTokStaff, id)[id]; dv.ErrorCode != "" {
				return false
			}
		}
		return true
	})
	return td
}

// api calls the Yandex API with a bearer token.
func (d *tenancyDaemon) api(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-Id", "r")
	return send(t, req)
}

// send does one request and returns the status and body.
func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := e2eClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (d *tenancyDaemon) query(t *testing.T, token, id string) map[string]yandexDevice {
	t.Helper()
	code, b := d.api(t, "POST", "/v1.0/user/devices/query", token, `{"devices":[{"id":"`+id+`"}]}`)
	var r yandexReply
	if code != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("query %s: %d %s", id, code, b)
	}
	out := map[string]yandexDevice{}
	for _, dv := range r.Payload.Devices {
		out[dv.ID] = dv
	}
	return out
}

func (d *tenancyDaemon) listed(t *testing.T, token string) (int, []string) {
	t.Helper()
	code, b := d.api(t, "GET", "/v1.0/user/devices", token, "")
	var r struct {
		Payload struct {
			Devices []struct{ ID string } `json:"devices"`
		} `json:"payload"`
	}
	json.Unmarshal(b, &r)
	var ids []string
	for _, dv := range r.Payload.Devices {
		ids = append(ids, dv.ID)
	}
	return code, ids
}

func switchBody(id string, on bool) string {
	v := "false"
	if on {
		v = "true"
	}
	return `{"payload":{"devices":[{"id":"` + id + `","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":` + v + `}}]}]}}`
}

// hubdCLI runs `hubd ARGS...` to completion, as root, and returns its output.
func hubdCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), e2eArgsEnv+"="+strings.Join(args, "\x1f"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var credRe = regexp.MustCompile(`login:\s+(\S+)\s+password:\s+(\S+)`)

// oauthLink links an account as the platform and a resident would: the
// login page, the code, the token endpoint. It returns the access and
// refresh tokens.
func (d *tenancyDaemon) oauthLink(t *testing.T, user, pass string) (string, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + d.addr
	resp, err := cl.Get(base + "/oauth/authorize?response_type=code&client_id=yc&state=s&redirect_uri=" + url.QueryEscape(tenRedirect))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"username": {user}, "password": {pass}}
	for _, m := range regexp.MustCompile(`type="hidden" name="(\w+)" value="([^"]*)"`).FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	resp, err = cl.PostForm(base+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("login as %s: %s, no code", user, resp.Status)
	}
	tok := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {tenRedirect}, "client_id": {"yc"}, "client_secret": {tenOAuthSec}}
	st, b := d.tokenCall(t, tok)
	var tr struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if st != 200 || json.Unmarshal(b, &tr) != nil || tr.Access == "" {
		t.Fatalf("token: %d %s", st, b)
	}
	return tr.Access, tr.Refresh
}

func (d *tenancyDaemon) tokenCall(t *testing.T, form url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+d.addr+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, req)
}

func TestTenancy_ThreeUsers_EachSeesAndSwitchesOnlyTheirDevices(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	for tok, want := range map[string][]string{
		tenTok101:   {"t-01", "t-02"},
		tenTok201:   {"t-03"},
		tenTokStaff: {"t-00", "t-01", "t-02", "t-03"},
	} {
		if code, got := d.listed(t, tok); code != 200 || !slices.Equal(got, want) {
			t.Errorf("%s lists %d %v, want %v", tok, code, got, want)
		}
	}
	// Room 201's resident asks for Room 101's socket and for an id that
	// does not exist, of the same length: the same bytes but for the id.
	for _, ep := range []struct{ path, body string }{
		{"/v1.0/user/devices/query", `{"devices":[{"id":"ID"}]}`},
		{"/v1.0/user/devices/action", switchBody("ID", false)},
	} {
		_, cross := d.api(t, "POST", ep.path, tenTok201, strings.Replace(ep.body, "ID", "t-01", 1))
		_, unknown := d.api(t, "POST", ep.path, tenTok201, strings.Replace(ep.body, "ID", "t-99", 1))
		if !bytes.Contains(cross, []byte("DEVICE_NOT_FOUND")) || !bytes.Equal(cross, bytes.ReplaceAll(unknown, []byte("t-99"), []byte("t-01"))) {
			t.Errorf("%s: Room 101's socket answers Room 201's resident\n%s\nan unknown id\n%s", ep.path, cross, unknown)
		}
	}
	// Each switches their own: Room 101 turns t-01 on, then Room 201 turns
	// t-03 on. Room 201's callback for t-03 is the marker after which any
	// callback naming t-01 to it would have arrived.
	for _, sw := range []struct{ tok, id string }{{tenTok101, "t-01"}, {tenTok201, "t-03"}} {
		if code, b := d.api(t, "POST", "/v1.0/user/devices/action", sw.tok, switchBody(sw.id, true)); code != 200 || bytes.Contains(b, []byte("ERROR")) {
			t.Fatalf("%s switching %s: %d %s", sw.tok, sw.id, code, b)
		}
	}
	if dv := d.query(t, tenTokStaff, "t-01")["t-01"]; dv.ErrorCode != "" || !strings.Contains(string(dv.Capabilities[0].State.Value), "true") {
		t.Errorf("t-01 after Room 101 switched it: %+v", dv)
	}
	eventually(t, 10*time.Second, "Room 201's state callback", func() bool { return slices.Contains(d.cb.byUser(t, false)["res201"], "t-03") })
	eventually(t, 10*time.Second, "staff's state callbacks", func() bool {
		s := d.cb.byUser(t, false)["staff"]
		return slices.Contains(s, "t-01") && slices.Contains(s, "t-03")
	})
	got := d.cb.byUser(t, false)
	for user, allowed := range map[string][]string{"res101": {"t-01", "t-02"}, "res201": {"t-03"}} {
		for _, id := range got[user] {
			if !slices.Contains(allowed, id) {
				t.Errorf("%s was notified of %s, not theirs: %v", user, id, got)
			}
		}
	}
	if !slices.Contains(got["res101"], "t-01") {
		t.Errorf("Room 101's resident was not notified of their own socket: %v", got)
	}
}

func TestTenancy_CheckOut_RevokesTokensTellsYandexAndLogsWho(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	out, err := hubdCLI(t, "home", "set-login", "room-101", "-config", d.cfg)
	m := credRe.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("set-login: %v\n%s", err, out)
	}
	access, refresh := d.oauthLink(t, m[1], m[2])
	if code, ids := d.listed(t, access); code != 200 || !slices.Equal(ids, []string{"t-01", "t-02"}) {
		t.Fatalf("the linked resident lists %d %v, want Room 101's devices", code, ids)
	}
	out, err = hubdCLI(t, "home", "list", "-config", d.cfg)
	if err != nil || !strings.Contains(out, "room-101\tRoom 101\t[t-01, t-02]\tlogin "+m[1]) || strings.Contains(out, m[2]) {
		t.Fatalf("home list: %v\n%s", err, out)
	}

	out, err = hubdCLI(t, "home", "checkout", "room-101", "-config", d.cfg)
	if err != nil || !strings.Contains(out, "room-101 checked out") {
		t.Fatalf("checkout: %v\n%s", err, out)
	}
	newLogin := credRe.FindStringSubmatch(out)
	if newLogin == nil || newLogin[1] == m[1] || newLogin[2] == m[2] {
		t.Fatalf("check-out did not rotate the login:\n%s", out)
	}
	// The next resident links with the new login and sees the home.
	nextAccess, _ := d.oauthLink(t, newLogin[1], newLogin[2])
	if code, ids := d.listed(t, nextAccess); code != 200 || !slices.Equal(ids, []string{"t-01", "t-02"}) {
		t.Errorf("the new login after check-out lists %d %v, want Room 101's devices", code, ids)
	}
	for _, tok := range []string{access, tenTok101} {
		if code, _ := d.listed(t, tok); code != http.StatusUnauthorized {
			t.Errorf("a token of Room 101 answers %d after check-out, want 401", code)
		}
	}
	if code, b := d.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"yc"}, "client_secret": {tenOAuthSec}}); code != http.StatusBadRequest || !strings.Contains(string(b), "invalid_grant") {
		t.Errorf("the refresh token answers %d %s after check-out, want 400 invalid_grant", code, b)
	}
	// The old login no longer logs in; Room 201 and staff are untouched.
	for _, tok := range []string{tenTok201, tenTokStaff} {
		if code, _ := d.listed(t, tok); code != 200 {
			t.Errorf("another user's token answers %d after Room 101's check-out", code)
		}
	}
	eventually(t, 10*time.Second, "discovery callbacks for Room 101's accounts", func() bool {
		dc := d.cb.byUser(t, true)
		_, a := dc["res101"]
		_, b := dc[m[1]]
		return a && b
	})
	if dc := d.cb.byUser(t, true); len(dc) != 2 {
		t.Errorf("discovery callbacks went to %v, want only Room 101's two accounts", dc)
	}
	resp, err := e2eClient.Get("http://" + d.addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`check-out of room-101 by cli:root: 2 accounts revoked`).Match(b) {
		t.Errorf("the event log does not name who checked out:\n%s", b)
	}
	// After a restart the check-out holds, and the password it revoked
	// (kept beside the revoked tokens) is no integrity alarm.
	d.stop()
	d2 := startDaemon(t, "run", "-config", d.cfg)
	if code, _ := (&tenancyDaemon{daemon: d2}).listed(t, tenTok101); code != http.StatusUnauthorized {
		t.Errorf("Room 101's token answers %d after a restart, want 401", code)
	}
	if _, list := alarms(t, d2.addr); len(list) != 0 {
		t.Errorf("alarms after a clean restart following a check-out: %q", list)
	}
}

// webAs signs in to the status page and returns a function that POSTs as
// that user (with the session cookie and CSRF token).
func (d *tenancyDaemon) webAs(t *testing.T, user, pass string) func(path string) (int, []byte) {
	t.Helper()
	base := "http://" + d.addr
	resp, err := e2eClient.Post(base+"/login", "application/json", strings.NewReader(`{"user":"`+user+`","password":"`+pass+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sb struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&sb)
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	if resp.StatusCode != 200 || cookie == "" {
		t.Fatalf("web login as %s: %s", user, resp.Status)
	}
	return func(path string) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("X-CSRF-Token", sb.CSRF)
		return send(t, req)
	}
}

// TestTenancy_StatusPage_ManagerGivesALoginTechnicianCanNot gives Room 201
// a resident login from the status page as the manager; the technician,
// who may switch lamps, is refused the same request.
func TestTenancy_StatusPage_ManagerGivesALoginTechnicianCanNot(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	tech := d.webAs(t, "tech", tenTechPass)
	for _, p := range []string{"/api/homes/room-201/login", "/api/homes/room-201/checkout"} {
		if code, b := tech(p); code != http.StatusForbidden {
			t.Errorf("technician %s: %d %s, want 403", p, code, b)
		}
	}
	if code, _ := tech("/api/devices/t-00/command"); code == http.StatusForbidden || code == http.StatusUnauthorized {
		t.Errorf("the technician may no longer run controls: %d", code)
	}
	boss := d.webAs(t, "boss", tenMgrPass)
	code, b := boss("/api/homes/room-201/login")
	var cr struct{ Login, Password string }
	if code != 200 || json.Unmarshal(b, &cr) != nil || cr.Password == "" {
		t.Fatalf("manager set-login: %d %s", code, b)
	}
	access, _ := d.oauthLink(t, cr.Login, cr.Password)
	if code, ids := d.listed(t, access); code != 200 || !slices.Equal(ids, []string{"t-03"}) {
		t.Errorf("Room 201's new resident lists %d %v, want [t-03]", code, ids)
	}
	if code, _ := d.listed(t, tenTok201); code != 200 {
		t.Errorf("a new login must not end the home's configured resident: %d", code)
	}
	out, err := hubdCLI(t, "home", "list", "-config", d.cfg)
	if err != nil || !strings.Contains(out, "login "+cr.Login) || !strings.Contains(out, "by web:boss") || strings.Contains(out, cr.Password) {
		t.Errorf("home list after the manager's set-login: %v\n%s", err, out)
	}
}

// TestTenancy_ResidentLogin_SurvivesReloadAndRestart: logins live in the
// store, not in the file, so neither a SIGHUP reload nor a restart drops
// them; the old login stays dead after a new one is set.
func TestTenancy_ResidentLogin_SurvivesReloadAndRestart(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	out, err := hubdCLI(t, "home", "set-login", "room-201", "-config", d.cfg)
	first := credRe.FindStringSubmatch(out)
	if err != nil || first == nil {
		t.Fatalf("set-login: %v\n%s", err, out)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the reload", func() bool {
		resp, err := e2eClient.Get("http://" + d.addr + "/api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte("config reloaded"))
	})
	access, _ := d.oauthLink(t, first[1], first[2])
	if code, ids := d.listed(t, access); code != 200 || !slices.Equal(ids, []string{"t-03"}) {
		t.Fatalf("after a reload the resident lists %d %v", code, ids)
	}
	out, err = hubdCLI(t, "home", "set-login", "room-201", "-config", d.cfg)
	second := credRe.FindStringSubmatch(out)
	if err != nil || second == nil {
		t.Fatalf("second set-login: %v\n%s", err, out)
	}
	if code, _ := d.listed(t, access); code != http.StatusUnauthorized {
		t.Errorf("an account linked with the replaced login answers %d, want 401", code)
	}
	eventually(t, 10*time.Second, "a discovery callback for the replaced login's account", func() bool {
		_, ok := d.cb.byUser(t, true)[first[1]]
		return ok
	})
	d.stop()
	d2 := &tenancyDaemon{daemon: startDaemon(t, "run", "-config", d.cfg), cfg: d.cfg, cb: d.cb}
	access, _ = d2.oauthLink(t, second[1], second[2])
	if code, ids := d2.listed(t, access); code != 200 || !slices.Equal(ids, []string{"t-03"}) {
		t.Errorf("after a restart the resident lists %d %v", code, ids)
	}
}

// TestDemo_Tokens_EachSeesTheirHome holds the demo to DESIGN.md: staff's
// demo-token sees every device, demo-101 Room 101's, demo-201 Room 201's.
func TestDemo_Tokens_EachSeesTheirHome(t *testing.T) {
	addr, m, _ := startDemo(t, DemoOptions{})
	d := &tenancyDaemon{daemon: &daemon{addr: addr}}
	for tok, want := range map[string][]string{
		demoToken:    {"lamp-1", "lamp-2", "lamp-3", "relay-1", "socket-1", "socket-2"},
		demoToken101: {"lamp-2", "socket-2"},
		demoToken201: {"lamp-3"},
	} {
		if code, got := d.listed(t, tok); code != 200 || !slices.Equal(got, want) {
			t.Errorf("%s lists %d %v, want %v", tok, code, got, want)
		}
	}
	if dv := d.query(t, demoToken201, "lamp-2")["lamp-2"]; dv.ErrorCode != "DEVICE_NOT_FOUND" {
		t.Errorf("demo-201 asking for Room 101's lamp: %+v, want DEVICE_NOT_FOUND", dv)
	}
	// The demo's homes are managed like a building's: its manager on the
	// status page, and the CLI on its data directory.
	out, err := hubdCLI(t, "home", "list", "-data", m.Config.DataDir)
	if err != nil || !strings.Contains(out, "room-101\tRoom 101\t[lamp-2, socket-2]") || !strings.Contains(out, "room-201\tRoom 201\t[lamp-3]") {
		t.Errorf("hubd home list on the demo: %v\n%s", err, out)
	}
	boss := d.webAs(t, demoMgrUser, demoMgrPass)
	if code, b := boss("/api/homes/room-201/login"); code != 200 || !bytes.Contains(b, []byte(`"login":"room-201-`)) {
		t.Errorf("the demo's manager giving Room 201 a login: %d %s", code, b)
	}
}

// An older copy of hubd.db put back holds a resident login that was
// replaced since: the ledger finds the rollback and the homes' logins go
// with the account links, so the former resident's login is not revived.
func TestTenancy_OlderStorePutBack_ForgetsResidentLogins(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	c, err := LoadConfig(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(c.DataDir, "hubd.db")
	out, err := hubdCLI(t, "home", "set-login", "room-101", "-config", d.cfg)
	first := credRe.FindStringSubmatch(out)
	if err != nil || first == nil {
		t.Fatalf("set-login: %v\n%s", err, out)
	}
	d.stop()
	old, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, "run", "-config", d.cfg)
	if out, err := hubdCLI(t, "home", "set-login", "room-101", "-config", d.cfg); err != nil || credRe.FindStringSubmatch(out) == nil {
		t.Fatalf("second set-login: %v\n%s", err, out)
	}
	d2.stop()
	if err := os.WriteFile(db, old, 0o600); err != nil {
		t.Fatal(err)
	}
	d3 := startDaemon(t, "run", "-config", d.cfg)
	out, err = hubdCLI(t, "home", "list", "-config", d.cfg)
	if err != nil || strings.Contains(out, first[1]) {
		t.Errorf("after the older store was put back the replaced login is listed again: %v\n%s", err, out)
	}
	if _, list := alarms(t, d3.addr); len(list) == 0 {
		t.Error("no alarm for the older store put back")
	}
}
