package main

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hubd/hub/yandex"
	"hubd/store"
)

const (
	intOtherToken  = "other-token-Pz18qa" // configured, never revoked
	intOAuthSecret = "oauth-secret-Nw52bt"
	intOAuthPass   = "owner-pass-Kd73vc"
	intRedirect    = "https://social.yandex.net/broker/redirect"
)

// integrityConfig writes a config with no drivers: two configured tokens,
// account linking, an anonymously viewable status page.
func integrityConfig(t *testing.T, dir string) string {
	t.Helper()
	pw := testHash(t, intOAuthPass)
	webPW := testHash(t, secWebPass)
	c := &Config{
		Gateway: GatewayConfig{Name: "integrity test"},
		HTTP:    HTTPConfig{Listen: "127.0.0.1:0"},
		DataDir: filepath.Join(dir, "data"),
		Log:     LogConfig{Level: "info"},
		Site:    []*NodeConfig{{ID: "building", Name: "Building", Kind: "building"}},
		Yandex: YandexConfig{
			Users: []YandexUser{
				{ID: "owner", Tokens: []string{yandex.HashToken(demoToken)}, PasswordHash: pw, Staff: true},
				{ID: "other", Tokens: []string{yandex.HashToken(intOtherToken)}, Staff: true},
			},
			OAuth: &OAuthConfig{ClientID: "yandex-client", ClientSecretHash: yandex.HashToken(intOAuthSecret), RedirectURIs: []string{intRedirect}},
		},
		Web: WebConfig{AnonymousView: true, Users: []WebUser{{Name: "tech", PasswordHash: webPW}}},
	}
	return writeConfig(t, dir, c)
}

// devicesStatus is the status of GET /v1.0/user/devices with token.
func devicesStatus(t *testing.T, addr, token string) int {
	t.Helper()
	code, _ := do(t, "GET", "http://"+addr+"/v1.0/user/devices", nil, "Authorization", "Bearer "+token)
	return code
}

// alarms returns the daemon's /healthz body and its status JSON's alarms.
func alarms(t *testing.T, addr string) (healthz string, list []string) {
	t.Helper()
	code, body := do(t, "GET", "http://"+addr+"/healthz", nil)
	if code != http.StatusOK {
		t.Fatalf("/healthz: %d %q, want 200", code, body)
	}
	code, st := do(t, "GET", "http://"+addr+"/api/status", nil)
	var s struct {
		Gateway struct {
			Alarms []string `json:"alarms"`
		} `json:"gateway"`
	}
	if err := json.Unmarshal([]byte(st), &s); code != http.StatusOK || err != nil {
		t.Fatalf("/api/status: %d %v", code, err)
	}
	return body, s.Gateway.Alarms
}

// unlinkDemoToken starts a gateway, revokes demoToken by unlink, and stops.
func unlinkDemoToken(t *testing.T, cfg string) {
	t.Helper()
	d := startDaemon(t, "run", "-config", cfg)
	if code, body := do(t, "POST", "http://"+d.addr+"/v1.0/user/unlink", nil, "Authorization", "Bearer "+demoToken); code != http.StatusOK {
		t.Fatalf("unlink: %d %s", code, body)
	}
	if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
		t.Fatalf("after unlink: %d", c)
	}
	d.stop()
}

// flipIn changes one hex digit of every copy of s in the file at path.
func flipIn(t *testing.T, path, s string) {
	t.Helper()
	c := byte('a')
	if s[len(s)/2] == 'a' {
		c = 'b'
	}
	flipTo(t, path, s, c)
}

// flipTo changes the middle byte of every copy of s in the file at path
// to c.
func flipTo(t *testing.T, path, s string, c byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(data, []byte(s))
	if n == 0 {
		t.Fatalf("%s does not hold %s", path, s)
	}
	flipped := []byte(s)
	flipped[len(flipped)/2] = c
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(s), flipped), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The fail-closed cases of the state file and of the revocation records:
// each must keep the unlinked token refused and be reported in the log, in
// /healthz (still 200: the gateway serves) and in the status JSON.
func TestRun_StateDamaged_RevokedTokenStaysRevokedAndIsReported(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	digestHex := strings.TrimPrefix(yandex.HashToken(demoToken), "sha256:")
	for _, tc := range []struct {
		name, want string
		otherOK    bool // the token never revoked still works
		damage     func(t *testing.T, data string, copyOf []byte)
	}{
		{"zero-length hubd.db", "missing or empty", true, func(t *testing.T, data string, _ []byte) {
			if err := os.Truncate(filepath.Join(data, "hubd.db"), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated hubd.db", "moved aside", true, func(t *testing.T, data string, _ []byte) {
			p := filepath.Join(data, "hubd.db")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"older hubd.db put back", "older copy was put back", true, func(t *testing.T, data string, old []byte) {
			if err := os.WriteFile(filepath.Join(data, "hubd.db"), old, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped byte in the store's revocation records", "unreadable", true, func(t *testing.T, data string, _ []byte) {
			flipTo(t, filepath.Join(data, "hubd.db"), digestHex, 'z')
		}},
		{"flipped byte in the revocation journal", "fails its integrity check", false, func(t *testing.T, data string, _ []byte) {
			flipIn(t, filepath.Join(data, store.JournalFile), digestHex)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := integrityConfig(t, dir)
			data := filepath.Join(dir, "data")
			startDaemon(t, "run", "-config", cfg).stop()
			old, err := os.ReadFile(filepath.Join(data, "hubd.db"))
			if err != nil {
				t.Fatal(err)
			}
			unlinkDemoToken(t, cfg)
			tc.damage(t, data, old)

			d := startDaemon(t, "run", "-config", cfg)
			if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
				t.Errorf("the unlinked token answers %d after the damage, want 401", c)
			}
			if c := devicesStatus(t, d.addr, intOtherToken); (c == http.StatusOK) != tc.otherOK {
				t.Errorf("the token never revoked answers %d (want it to work: %v)", c, tc.otherOK)
			}
			healthz, list := alarms(t, d.addr)
			// /healthz tells anyone that the gateway is degraded; the
			// reason is for a signed-in technician and /api/status.
			if !strings.HasPrefix(healthz, "degraded") {
				t.Errorf("/healthz %q, want degraded", healthz)
			}
			if !strings.Contains(strings.Join(list, "\n"), tc.want) {
				t.Errorf("status alarms %q, want one with %q", list, tc.want)
			}
			if log := d.out.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "state integrity") {
				t.Errorf("no error in the log:\n%s", log)
			}
			d.stop()
			// Handled, but kept until acknowledged: the next start (a
			// second power cut) still says what was found, and the token
			// is still refused.
			d = startDaemon(t, "run", "-config", cfg)
			if healthz, list := alarms(t, d.addr); !strings.HasPrefix(healthz, "degraded") || !strings.Contains(strings.Join(list, "\n"), tc.want) {
				t.Errorf("the start after: /healthz %q, alarms %q, want %q kept", healthz, list, tc.want)
			}
			if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
				t.Errorf("the start after: the unlinked token answers %d", c)
			}
			ackAlarms(t, d.addr)
			if healthz, list := alarms(t, d.addr); strings.TrimSpace(healthz) != "ok" || len(list) != 0 {
				t.Errorf("after the ack: /healthz %q, alarms %q", healthz, list)
			}
		})
	}
}

// A clean restart reports nothing.
func TestRun_CleanRestart_NoAlarm(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	cfg := integrityConfig(t, t.TempDir())
	unlinkDemoToken(t, cfg)
	d := startDaemon(t, "run", "-config", cfg)
	if healthz, list := alarms(t, d.addr); strings.TrimSpace(healthz) != "ok" || len(list) != 0 {
		t.Fatalf("clean restart: /healthz %q, alarms %q", healthz, list)
	}
	if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
		t.Errorf("the unlinked token answers %d after a restart", c)
	}
}

var intHiddenRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// oauthCode logs in on the daemon's account-linking page and returns the
// code it redirects with.
func oauthCode(t *testing.T, addr string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {"yandex-client"}, "redirect_uri": {intRedirect}, "state": {"s"}}
	resp, err := c.Get("http://" + addr + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	form := url.Values{}
	for _, m := range intHiddenRE.FindAllSubmatch(page.Bytes(), -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	form.Set("username", "owner")
	form.Set("password", intOAuthPass)
	resp, err = c.PostForm("http://"+addr+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("login: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// exchangeCode redeems code at the daemon's token endpoint.
func exchangeCode(t *testing.T, addr, code string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {intRedirect}}
	return do(t, "POST", "http://"+addr+"/oauth/token", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Basic "+basic("yandex-client", intOAuthSecret))
}

// A code handed out before a restart is exchanged after it, once; after
// the next restart it is still used, and its replay revokes its tokens.
func TestRun_OAuthCode_SurvivesARestartAndStaysSingleUse(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	cfg := integrityConfig(t, t.TempDir())
	d := startDaemon(t, "run", "-config", cfg)
	code := oauthCode(t, d.addr)
	d.stop()

	d = startDaemon(t, "run", "-config", cfg)
	status, body := exchangeCode(t, d.addr, code)
	var tk struct {
		Access string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tk); status != http.StatusOK || err != nil || tk.Access == "" {
		t.Fatalf("exchange after a restart: %d %s", status, body)
	}
	if c := devicesStatus(t, d.addr, tk.Access); c != http.StatusOK {
		t.Fatalf("the linked token answers %d", c)
	}
	d.stop()

	d = startDaemon(t, "run", "-config", cfg)
	if status, body := exchangeCode(t, d.addr, code); status != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Errorf("replayed code after a restart: %d %s", status, body)
	}
	if c := devicesStatus(t, d.addr, tk.Access); c != http.StatusUnauthorized {
		t.Errorf("tokens of the replayed code answer %d, want 401", c)
	}
	if healthz, _ := alarms(t, d.addr); strings.TrimSpace(healthz) != "ok" {
		t.Errorf("/healthz %q after clean restarts", healthz)
	}
}

// An account linked before the store was rolled back must link again: a
// copy of the store from before its unlink would bring its tokens back.
func TestRun_OlderStorePutBack_DropsAccountLinks(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	cfg := integrityConfig(t, dir)
	db := filepath.Join(dir, "data", "hubd.db")
	d := startDaemon(t, "run", "-config", cfg)
	status, body := exchangeCode(t, d.addr, oauthCode(t, d.addr))
	var tk struct {
		Access string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tk); status != http.StatusOK || err != nil {
		t.Fatalf("exchange: %d %s", status, body)
	}
	d.stop()
	linked, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	if code, body := do(t, "POST", "http://"+d.addr+"/v1.0/user/unlink", nil, "Authorization", "Bearer "+tk.Access); code != http.StatusOK {
		t.Fatalf("unlink: %d %s", code, body)
	}
	d.stop()
	if err := os.WriteFile(db, linked, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	if c := devicesStatus(t, d.addr, tk.Access); c != http.StatusUnauthorized {
		t.Errorf("the unlinked account's token answers %d after the rollback, want 401", c)
	}
	if _, list := alarms(t, d.addr); !strings.Contains(strings.Join(list, "\n"), "linked again") {
		t.Errorf("alarms %q, want the dropped links named", list)
	}

}

// A gateway upgraded from a hubd without the ledger keeps the revocations
// its store holds: the first start takes them into the journal, so the
// store's loss afterwards does not bring them back.
func TestRun_FirstStartWithTheLedger_TakesTheStoresRevocations(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	cfg := integrityConfig(t, dir)
	p := filepath.Join(dir, "data", "hubd.db")
	revokeInStore(t, p, demoToken)
	d := startDaemon(t, "run", "-config", cfg)
	if healthz, list := alarms(t, d.addr); strings.TrimSpace(healthz) != "ok" || len(list) != 0 {
		t.Errorf("upgrade: /healthz %q, alarms %q", healthz, list)
	}
	d.stop()
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
		t.Errorf("the token revoked before the upgrade answers %d once the store is lost", c)
	}
	if c := devicesStatus(t, d.addr, intOtherToken); c != http.StatusOK {
		t.Errorf("the other token answers %d", c)
	}
}

// A revocation the store holds and the journal lacks (a crash between the
// two writes, a journal write that failed) is taken into the journal, not
// dropped: the token stays refused, and still once the store is lost.
func TestRun_RevocationOnlyInTheStore_IsKept(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	dir := t.TempDir()
	cfg := integrityConfig(t, dir)
	p := filepath.Join(dir, "data", "hubd.db")
	startDaemon(t, "run", "-config", cfg).stop()
	revokeInStore(t, p, demoToken)
	d := startDaemon(t, "run", "-config", cfg)
	if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
		t.Errorf("the token the store names as revoked answers %d", c)
	}
	if c := devicesStatus(t, d.addr, intOtherToken); c != http.StatusOK {
		t.Errorf("the other token answers %d", c)
	}
	d.stop()
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "run", "-config", cfg)
	if c := devicesStatus(t, d.addr, demoToken); c != http.StatusUnauthorized {
		t.Errorf("once the store is lost the token answers %d, want 401", c)
	}
}

// revokeInStore records token as revoked in the store at p only, as a
// hubd without the ledger, or one whose journal write failed, left it.
func revokeInStore(t *testing.T, p, token string) {
	t.Helper()
	db, err := store.Open(p, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Bucket(bucketRevoked).Put(yandex.HashToken(token), "2026-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// ackAlarms acknowledges the alarms as the signed-in technician; an
// anonymous POST is refused first.
func ackAlarms(t *testing.T, addr string) {
	t.Helper()
	base := "http://" + addr
	if code, _ := do(t, "POST", base+"/api/alarms/ack", nil, "Origin", base); code != http.StatusUnauthorized {
		t.Errorf("anonymous ack: %d, want 401", code)
	}
	cookie, csrf := webLogin(t, base)
	if code, body := do(t, "POST", base+"/api/alarms/ack", nil, "Origin", base, "Cookie", cookie, "X-CSRF-Token", csrf); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
}
