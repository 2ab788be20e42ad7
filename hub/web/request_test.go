package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func loopbackProxy() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} }

func sessionCookie(resp *http.Response) string {
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, cookieName+"=") {
			return c
		}
	}
	return ""
}

// A peer that is not a trusted proxy can not pick its address or claim
// HTTPS with headers.
func TestLogin_UntrustedPeer_ForwardedHeadersIgnored(t *testing.T) {
	ts := newTestServer(t, Options{LoginBurst: 2, LoginEvery: time.Hour,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	b := newBrowser(t, ts.url)
	for i, xff := range []string{"198.51.100.1", "198.51.100.2"} {
		hdr := map[string]string{"X-Forwarded-For": xff}
		if r, _ := b.do("POST", "/login", `{"user":"tech","password":"guess"}`, hdr); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
		}
	}
	hdr := map[string]string{"X-Forwarded-For": "198.51.100.3", "X-Forwarded-Proto": "https"}
	if r, _ := b.do("POST", "/login", `{"user":"tech","password":"`+testPass+`"}`, hdr); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third attempt with a spoofed X-Forwarded-For: %d, want 429", r.StatusCode)
	}
	r := newBrowserFromIP(t, ts.url, "127.0.0.2", map[string]string{"X-Forwarded-Proto": "https"})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("login from another address: %d", r.StatusCode)
	}
	if c := sessionCookie(r); c == "" || strings.Contains(c, "Secure") {
		t.Fatalf("an untrusted peer's X-Forwarded-Proto made the cookie %q Secure", c)
	}
}

func newBrowserFromIP(t *testing.T, base, ip string, hdr map[string]string) *http.Response {
	b := browserFrom(t, base, ip)
	r, _ := b.do("POST", "/login", `{"user":"tech","password":"`+testPass+`"}`, hdr)
	return r
}

// Behind a trusted proxy, each client behind it has its own bucket, and a
// proxy that terminated TLS gets a Secure cookie.
func TestLogin_TrustedProxy_ClientAddressAndSecureCookie(t *testing.T) {
	ts := newTestServer(t, Options{LoginBurst: 2, LoginEvery: time.Hour, TrustedProxies: loopbackProxy()})
	b := newBrowser(t, ts.url)
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.66"}
	for range 2 {
		b.do("POST", "/login", `{"user":"tech","password":"guess"}`, attacker)
	}
	if r, _ := b.do("POST", "/login", `{"user":"tech","password":"guess"}`, attacker); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attacker's third attempt: %d, want 429", r.StatusCode)
	}
	// The client's own X-Forwarded-For entry, left of the one the proxy
	// appended, does not count.
	tech := map[string]string{"X-Forwarded-For": "203.0.113.66, 192.168.1.20", "X-Forwarded-Proto": "https"}
	r, _ := b.do("POST", "/login", `{"user":"tech","password":"`+testPass+`"}`, tech)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("technician behind the proxy: %d, want 200", r.StatusCode)
	}
	if c := sessionCookie(r); !strings.Contains(c, "Secure") {
		t.Fatalf("cookie %q behind a TLS-terminating trusted proxy lacks Secure", c)
	}
	plain := map[string]string{"X-Forwarded-For": "192.168.1.21", "X-Forwarded-Proto": "http"}
	if r, _ := newBrowser(t, ts.url).do("POST", "/login", `{"user":"tech","password":"`+testPass+`"}`, plain); strings.Contains(sessionCookie(r), "Secure") {
		t.Fatal("cookie is Secure behind a proxy that says http")
	}
}

// DNS rebinding: the attacker's name resolves to the gateway, so the
// browser sends Host and Origin with that name. The login must be refused
// before it is looked at.
func TestServer_RebindingHost_IsRefused(t *testing.T) {
	ts := newTestServer(t, Options{Hosts: []string{"gw.example.net"}})
	for _, path := range []string{"/login", "/api/status", "/metrics"} {
		req, _ := http.NewRequest("POST", ts.url+path, strings.NewReader(`{"user":"tech","password":"`+testPass+`"}`))
		if path != "/login" {
			req.Method = "GET"
		}
		req.Host = "rebind.evil.example"
		req.Header.Set("Origin", "http://rebind.evil.example")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || sessionCookie(resp) != "" {
			t.Fatalf("%s with Host rebind.evil.example: %d cookie %q, want 421 and no session", path, resp.StatusCode, sessionCookie(resp))
		}
	}
	if n := ts.guard.refusedHost.Load(); n != 3 {
		t.Fatalf("refused-host counter %d, want 3", n)
	}
	// /healthz answers a probe whatever Host it sends: the status code only.
	req, _ := http.NewRequest("GET", ts.url+"/healthz", nil)
	req.Host = "hubd"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with Host hubd: %d, want 200", resp.StatusCode)
	}
}

// The names an installer configures, IP literals and localhost on a
// loopback listener all reach the page.
func TestServer_ConfiguredHostsAndIPLiterals_AreServed(t *testing.T) {
	ts := newTestServer(t, Options{Hosts: []string{"GW.example.net."}, LoginBurst: 100})
	port := ts.url[strings.LastIndex(ts.url, ":")+1:]
	for _, host := range []string{"gw.example.net", "gw.example.net:" + port, "GW.EXAMPLE.NET.", "127.0.0.1:" + port, "[::1]:" + port, "192.168.7.1", "localhost:" + port, "lab.localhost"} {
		req, _ := http.NewRequest("POST", ts.url+"/login", strings.NewReader(`{"user":"tech","password":"`+testPass+`"}`))
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("login with Host %q: %d, want 200", host, resp.StatusCode)
		}
	}
}

// localhost is accepted only on a connection that arrived on a loopback
// address: on a LAN address it would be a name the gateway does not have.
func TestHostAllowed_LocalhostOnlyOnLoopback(t *testing.T) {
	g, err := newRequestGuard(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		local string
		host  string
		want  bool
	}{
		{"127.0.0.1:8080", "localhost:8080", true},
		{"[::1]:8080", "app.localhost", true},
		{"192.168.1.5:8080", "localhost:8080", false},
		{"192.168.1.5:8080", "192.168.1.5:8080", true},
		{"192.168.1.5:8080", "gateway", false},
		{"192.168.1.5:8080", "", true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		la, _ := net.ResolveTCPAddr("tcp", tc.local)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, la))
		if got := g.hostAllowed(r); got != tc.want {
			t.Errorf("Host %q on %s: %v, want %v", tc.host, tc.local, got, tc.want)
		}
	}
}

func TestNew_RefusesBadHostsAndProxies(t *testing.T) {
	h := newEchoHub(t, nil)
	for _, o := range []Options{
		{Hosts: []string{"gw.example.net:8080"}},
		{Hosts: []string{"http://gw"}},
		{Hosts: []string{" "}},
		{TrustedProxies: []netip.Prefix{{}}},
	} {
		if _, err := New(h.Hub, o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}

// The bearer-token API under /v1.0 carries no cookies, so DNS rebinding
// gains nothing there: it is served whatever Host a proxy passes on.
// Everything else (/oauth/ has a login page and cookies) stays guarded,
// and a refusal shows on the page as an alarm naming the host.
func TestServer_Guard_ExemptsTheBearerAPIAndShowsRefusals(t *testing.T) {
	ts := newTestServer(t, Options{Hosts: []string{"gw.example.net"}, AllowAnonymousView: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.0/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api") })
	mux.HandleFunc("HEAD /v1.0", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/oauth/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "oauth") })
	mux.Handle("/", ts.Server.Handler())
	srv := httptest.NewServer(ts.Server.Guard(mux))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1.0/user/devices", http.StatusOK},
		{"HEAD", "/v1.0", http.StatusOK},
		{"GET", "/oauth/authorize", http.StatusMisdirectedRequest},
		{"GET", "/api/status", http.StatusMisdirectedRequest},
		{"GET", "/v1.0/../api/status", http.StatusMisdirectedRequest},
		{"GET", "/v1.0x/", http.StatusMisdirectedRequest},
		{"GET", "/v1.0%2f..%2fapi/status", http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Host = "voice.example.com"
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with Host voice.example.com: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	_, body := newBrowser(t, ts.url).do("GET", "/api/status", "", nil)
	var st Status
	mustJSON(t, body, &st)
	if len(st.Gateway.Alarms) != 1 || !strings.Contains(st.Gateway.Alarms[0], `"voice.example.com"`) || !strings.Contains(st.Gateway.Alarms[0], "web.hosts") {
		t.Fatalf("status alarms after 421s: %q, want one naming the host and web.hosts", st.Gateway.Alarms)
	}
}
