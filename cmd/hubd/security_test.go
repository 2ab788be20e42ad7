package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
	"hubd/hub/yandex"
)

// The secrets of the security daemon: each is distinctive, so finding one
// in a log line or a page can only mean it leaked.
const (
	secMQTTPass    = "mqtt-pass-Vb93kq"
	secWebPass     = "web-pass-Hq27xr"
	secYandexPass  = "yandex-pass-Lm55pt"
	secOAuthSecret = "oauth-secret-Ry08wd"
	secNotifyToken = "notify-oauth-Jc61nf"
	secAlexaSecret = "alexa-secret-Qx81zz"
	secAlexaRefr   = "alexa-refresh-Zk42yy"
)

// secDaemon is a production daemon with every secret-bearing feature on:
// embedded broker with a password, web users without anonymous viewing,
// Yandex OAuth account linking, the notifier and the Alexa sync.
type secDaemon struct {
	*daemon
	dir       string
	broker    string
	notifyHit atomic.Int64
	notifyOK  atomic.Bool // the notifier sent the configured token
	alexa     *alexatest.Server
}

func startSecDaemon(t *testing.T) *secDaemon {
	t.Helper()
	s := &secDaemon{dir: t.TempDir(), broker: freePort(t)}
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.notifyHit.Add(1)
		if r.Header.Get("Authorization") == "OAuth "+secNotifyToken {
			s.notifyOK.Store(true)
		}
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"request_id":"n","status":"ok"}`)
	}))
	t.Cleanup(notify.Close)
	s.alexa = alexatest.New(alexatest.Options{ClientSecret: secAlexaSecret, RefreshToken: secAlexaRefr})
	t.Cleanup(s.alexa.Close)

	webHash := testHash(t, secWebPass)
	yaHash := testHash(t, secYandexPass)
	cfg := mqttRunConfig(t, s.dir, s.broker, "hubd", secMQTTPass, tasmotaSockets("sec", 2), func(c *Config) {
		c.Log.Level = "debug"
		c.DataDir = filepath.Join(s.dir, "state", "data") // created by the daemon
		c.Yandex.Users[0].PasswordHash = yaHash
		c.Yandex.OAuth = &OAuthConfig{
			ClientID: "yandex-client", ClientSecretHash: yandex.HashToken(secOAuthSecret),
			RedirectURIs: []string{"https://social.yandex.net/broker/redirect"},
		}
		c.Yandex.Notify = &NotifyConfig{URL: notify.URL, SkillID: "skill-1", OAuthToken: secNotifyToken, UserID: "owner"}
		c.Alexa = &AlexaConfig{
			Region: "NA", APIURL: s.alexa.URL(), TokenURL: s.alexa.TokenURL(),
			ClientID: alexatest.DemoClientID, ClientSecret: secAlexaSecret, RefreshToken: secAlexaRefr,
			ParentID: alexatest.DemoOrg, SkillID: alexatest.DemoSkill, SkillStage: "development", SubscriptionSkillID: alexatest.DemoSubscriptionSkill,
			SyncInterval: time.Minute,
		}
		c.Web = WebConfig{Users: []WebUser{{Name: "tech", PasswordHash: webHash}}}
	})
	s.daemon = startDaemon(t, "run", "-config", cfg)
	return s
}

// do sends one request and returns the status and body.
func do(t *testing.T, method, u string, body io.Reader, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := faultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(data)
}

func TestSecurity_Daemon_StrangersStayOut(t *testing.T) {
	t.Parallel() // a child daemon each; the in-process goroutine count test runs alone before
	s := startSecDaemon(t)
	base := "http://" + s.addr
	// One login for the whole test: the page allows a burst of 5 attempts.
	cookie, csrf := webLogin(t, base)

	t.Run("YandexAPINeedsAValidToken", func(t *testing.T) {
		paths := []struct{ method, path, body string }{
			{"POST", "/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"sec-00","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`},
			{"POST", "/v1.0/user/unlink", ``},
			{"POST", "/v1.0/user/devices/query", `{"devices":[{"id":"sec-00"}]}`},
			{"GET", "/v1.0/user/devices", ``},
		}
		for _, p := range paths {
			for _, auth := range []string{"", "Bearer ", "Bearer wrong-token", "Bearer " + demoToken + "x", "OAuth " + demoToken, "Basic ZGVtby10b2tlbjo="} {
				code, body := do(t, p.method, base+p.path, strings.NewReader(p.body), "Authorization", auth, "Content-Type", "application/json")
				if code != http.StatusUnauthorized {
					t.Errorf("%s %s with Authorization %q: %d %s, want 401", p.method, p.path, auth, code, body)
				}
			}
		}
		// The right token gets in (so the 401s above are about the token).
		if code, body := do(t, "POST", base+"/v1.0/user/devices/query", strings.NewReader(`{"devices":[{"id":"sec-00"}]}`), "Authorization", "Bearer "+demoToken); code != 200 {
			t.Fatalf("query with the token: %d %s", code, body)
		}
	})

	t.Run("StatusPageControlsNeedASession", func(t *testing.T) {
		for _, p := range []string{"/api/devices/sec-00/command", "/api/alexa/sync", "/logout"} {
			for _, cookie := range []string{"", "hubd_session=forged-session-id"} {
				code, body := do(t, "POST", base+p, strings.NewReader(`{"on":true}`), "Content-Type", "application/json", "Cookie", cookie)
				if code != http.StatusUnauthorized && code != http.StatusForbidden {
					t.Errorf("POST %s (cookie %q): %d %s, want 401 or 403", p, cookie, code, body)
				}
			}
		}
		// anonymous_view is off: the data is not for strangers either.
		for _, p := range []string{"/api/status", "/events"} {
			if code, body := do(t, "GET", base+p, nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
				t.Errorf("GET %s without a session: %d %.200s", p, code, body)
			}
		}
		if code, _ := do(t, "POST", base+"/login", strings.NewReader(`{"user":"tech","password":"not-it"}`), "Content-Type", "application/json"); code != http.StatusUnauthorized {
			t.Errorf("login with a wrong password: %d, want 401", code)
		}
		// A session without its CSRF token controls nothing.
		code, body := do(t, "POST", base+"/api/devices/sec-00/command", strings.NewReader(`{"on":true}`), "Content-Type", "application/json", "Cookie", cookie)
		if code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("command with a session but no CSRF token: %d %s", code, body)
		}
	})

	t.Run("OAuthTokenEndpointNeedsClientAuth", func(t *testing.T) {
		form := "grant_type=refresh_token&refresh_token=whatever"
		for _, c := range []struct{ name, body, auth string }{
			{"no client auth", form, ""},
			{"wrong secret in form", form + "&client_id=yandex-client&client_secret=wrong", ""},
			{"wrong secret in Basic", form, "Basic " + basic("yandex-client", "wrong")},
			{"unknown client", form, "Basic " + basic("other-client", secOAuthSecret)},
			{"code grant without client", "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fsocial.yandex.net%2Fbroker%2Fredirect", ""},
		} {
			code, body := do(t, "POST", base+"/oauth/token", strings.NewReader(c.body), "Content-Type", "application/x-www-form-urlencoded", "Authorization", c.auth)
			if code != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", c.name, code, body)
			}
			if strings.Contains(body, "access_token") {
				t.Errorf("%s: a token was issued: %s", c.name, body)
			}
		}
		// The right client with a bogus refresh token is a 400, not a 401:
		// the 401s above are about client authentication.
		code, body := do(t, "POST", base+"/oauth/token", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded", "Authorization", "Basic "+basic("yandex-client", secOAuthSecret))
		if code != http.StatusBadRequest {
			t.Errorf("right client, bogus refresh token: %d %s, want 400", code, body)
		}
	})

	t.Run("EmbeddedBrokerNeedsCredentials", func(t *testing.T) {
		for _, c := range []struct{ user, pass string }{{"", ""}, {"hubd", ""}, {"hubd", "wrong"}, {"someone", secMQTTPass}} {
			cl, err := mqttConnect(s.broker, "stranger", c.user, c.pass, 0)
			if err == nil {
				cl.Disconnect(0)
				t.Errorf("broker let in user %q with password %q", c.user, c.pass)
			}
		}
		cl, err := mqttConnect(s.broker, "friend", "hubd", secMQTTPass, 5*time.Second)
		if err != nil {
			t.Fatalf("the right login is refused: %v", err)
		}
		cl.Disconnect(0)
	})

	t.Run("FilesArePrivate", func(t *testing.T) {
		for _, c := range []struct {
			path string
			want os.FileMode
		}{{filepath.Join(s.dir, "state"), 0o700}, {filepath.Join(s.dir, "state", "data"), 0o700}, {filepath.Join(s.dir, "state", "data", "hubd.db"), 0o600}} {
			fi, err := os.Stat(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != c.want {
				t.Errorf("%s has mode %v, want %v", c.path, fi.Mode().Perm(), c.want)
			}
		}
	})

	t.Run("BodiesAreSizeLimited", func(t *testing.T) {
		const tenMB = 10 << 20
		// The Yandex API refuses an announced oversize body before reading
		// any of it, with 413. The page and the OAuth endpoint read up to
		// their small limit and refuse then (400 or 413): a client that
		// announces 10 MB and sends 64 KiB gets its answer at once.
		for _, c := range []struct {
			path   string
			hdr    []string
			strict bool
		}{
			{"/v1.0/user/devices/query", []string{"Authorization", "Bearer " + demoToken, "Content-Type", "application/json"}, true},
			{"/v1.0/user/devices/action", []string{"Authorization", "Bearer " + demoToken, "Content-Type", "application/json"}, true},
			{"/oauth/token", []string{"Content-Type", "application/x-www-form-urlencoded"}, false},
			{"/login", []string{"Content-Type", "application/json"}, false},
			{"/api/devices/sec-00/command", []string{"Content-Type", "application/json", "Cookie", cookie, "X-CSRF-Token", csrf}, false},
		} {
			ok := func(code int) bool {
				return code == http.StatusRequestEntityTooLarge || (!c.strict && code == http.StatusBadRequest)
			}
			prefix := 0
			if !c.strict {
				prefix = 64 << 10
			}
			code, err := bigPost(s.addr, c.path, c.hdr, tenMB, prefix, false)
			if err != nil || !ok(code) {
				t.Errorf("%s with Content-Length 10 MB and %d bytes of it sent: %d %v, want 413 at once", c.path, prefix, code, err)
			}
			code, err = bigPost(s.addr, c.path, c.hdr, tenMB, 0, true)
			if err != nil || !ok(code) {
				t.Errorf("%s with a chunked 10 MB body: %d %v, want 413", c.path, code, err)
			}
		}
	})

	t.Run("SlowClientsCannotExhaustTheServer", func(t *testing.T) {
		slowLoris(t, s.addr)
	})

	t.Run("SecretsNeverInLogsOrPages", func(t *testing.T) {
		// Make every secret do its job first, so that a leak had its chance.
		eventually(t, 20*time.Second, "alexa sync used the refresh token", func() bool { return s.alexa.TokenCalls() > 0 })
		pub, err := mqttConnect(s.broker, "device", "hubd", secMQTTPass, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pub.Publish("tele/sec-00/SENSOR", 0, false, `{"ENERGY":{"Total":1.5,"Power":7}}`).Wait()
		pub.Disconnect(0)
		eventually(t, 20*time.Second, "notifier called with its token", func() bool { return s.notifyOK.Load() })
		do(t, "GET", base+"/oauth/authorize?response_type=code&client_id=yandex-client&redirect_uri="+url.QueryEscape("https://social.yandex.net/broker/redirect")+"&state=x", nil)
		var pages strings.Builder
		for _, p := range []string{"/", "/api/status", "/api/session", "/metrics", "/healthz"} {
			code, body := do(t, "GET", base+p, nil, "Cookie", cookie)
			if code != 200 {
				t.Errorf("GET %s logged in: %d %.200s", p, code, body)
			}
			fmt.Fprintf(&pages, "== %s\n%s\n", p, body)
		}
		secrets := []string{demoToken, secMQTTPass, secWebPass, secYandexPass, secOAuthSecret, secNotifyToken, secAlexaSecret, secAlexaRefr}
		logs := s.out.String()
		if !strings.Contains(logs, "level=DEBUG") {
			t.Fatalf("the daemon logged nothing at debug: the log check would prove little:\n%.2000s", logs)
		}
		for _, sec := range secrets {
			if i := strings.Index(logs, sec); i >= 0 {
				t.Errorf("secret %q is in the daemon's log: %q", sec, around(logs, i))
			}
			if i := strings.Index(pages.String(), sec); i >= 0 {
				t.Errorf("secret %q is on a page: %q", sec, around(pages.String(), i))
			}
		}
		t.Logf("checked %d bytes of log and %d bytes of pages for %d secrets", len(logs), pages.Len(), len(secrets))
	})
}

func around(s string, i int) string {
	return s[max(0, i-120):min(len(s), i+120)]
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// webLogin logs in as the technician and returns the session cookie and
// the CSRF token.
func webLogin(t *testing.T, base string) (cookie, csrf string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(`{"user":"tech","password":"`+secWebPass+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := faultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb struct {
		CSRF string `json:"csrf"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(data, &sb) != nil {
		t.Fatalf("login: %d %s", resp.StatusCode, data)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "hubd_session" {
			return c.Name + "=" + c.Value, sb.CSRF
		}
	}
	t.Fatalf("login set no session cookie")
	return "", ""
}

// bigPost sends a POST of size bytes to path over a raw connection: with
// chunked false it announces the size in Content-Length and sends only
// prefix bytes of the body; with chunked true it streams the body. It returns the status
// the server answered with, and an error when the server did not answer
// within 5 s or took in the whole body first.
func bigPost(addr, path string, hdr []string, size, prefix int, chunked bool) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&head, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", size)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, head.String()); err != nil {
		return 0, err
	}
	if !chunked && prefix > 0 {
		if _, err := conn.Write([]byte(strings.Repeat("a", prefix))); err != nil {
			return 0, err
		}
	}
	var wrote atomic.Int64
	writeDone := make(chan error, 1)
	if chunked {
		go func() {
			chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("a", 64<<10)))
			for wrote.Load() < int64(size) {
				if _, err := conn.Write(chunk); err != nil {
					writeDone <- err
					return
				}
				wrote.Add(64 << 10)
			}
			_, err := io.WriteString(conn, "0\r\n\r\n")
			writeDone <- err
		}()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, fmt.Errorf("no answer (after %d body bytes sent): %w", wrote.Load(), err)
	}
	resp.Body.Close()
	if chunked {
		conn.Close() // stop the writer
		if err := <-writeDone; err == nil {
			return resp.StatusCode, fmt.Errorf("the server took all %d bytes before answering", size)
		}
	}
	return resp.StatusCode, nil
}

// slowLoris opens 200 connections that send their headers one byte a
// second and 50 that send nothing. Normal queries must keep working
// meanwhile, and the server must close every one of them once its
// ReadHeaderTimeout (5 s in daemon.go) has passed.
func slowLoris(t *testing.T, addr string) {
	const slow, idle = 200, 50
	const headerTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		took time.Duration
		err  error
	}
	results := make(chan result, slow+idle)
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	start := time.Now()
	for i := range slow + idle {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		opened := time.Now()
		if i < slow {
			go func() { // dribble a header that never ends
				req := "POST /v1.0/user/devices/query HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("a", 60)
				for j := 0; j < len(req); j++ {
					if _, err := c.Write([]byte{req[j]}); err != nil {
						return
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
			}()
		}
		go func() { // wait for the server to hang up
			c.SetReadDeadline(time.Now().Add(headerTimeout + 10*time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				results <- result{time.Since(opened), fmt.Errorf("still open after %v", time.Since(opened).Round(time.Second))}
				return
			}
			results <- result{time.Since(opened), nil}
		}()
	}
	t.Logf("%d slow and %d idle connections open in %v", slow, idle, time.Since(start).Round(time.Millisecond))
	// Meanwhile the API answers.
	var worst time.Duration
	for i := range 10 {
		qs := time.Now()
		q, err := queryRaw(faultClient, addr, []string{"sec-00"})
		if err != nil {
			t.Fatalf("query %d during the slow-loris: %v", i, err)
		}
		if _, ok := q["sec-00"]; !ok {
			t.Fatalf("query %d during the slow-loris: no sec-00", i)
		}
		worst = max(worst, time.Since(qs))
		time.Sleep(300 * time.Millisecond)
	}
	var longest time.Duration
	for range slow + idle {
		r := <-results
		if r.err != nil {
			t.Fatalf("a header-less connection was not closed by the server: %v", r.err)
		}
		longest = max(longest, r.took)
	}
	if longest < headerTimeout-time.Second {
		t.Errorf("connections were closed after %v, before the header timeout: were they ever open?", longest)
	}
	t.Logf("slowest query during the attack %v; every connection closed by the server, the last after %v", worst.Round(time.Millisecond), longest.Round(time.Millisecond))
}

func TestSecurity_Demo_RefusesNonLoopbackHTTP(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:8080", "example.com:80", "localhost.example.com:80", "nonsense"} {
		dir := t.TempDir()
		err := run([]string{"demo", "-http", addr, "-data", dir}, strings.NewReader(""), io.Discard, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("demo -http %s: %v, want a usage error about loopback", addr, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("demo -http %s touched its data directory before refusing: %v", addr, entries)
		}
	}
}
