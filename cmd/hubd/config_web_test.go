package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestConfig_WebGuardKeys(t *testing.T) {
	text := goodConfig + `web:
  hosts: [gw.example.net]
  trusted_proxies: [10.0.0.0/8, 192.168.1.1]
  login:
    burst: 3
    account_every: 2m
    max_entries: 100
  max_live_clients_per_address: 4
  max_feed_devices: 100
  max_compressed: 3
`
	c, err := ParseConfig("config.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: c, Log: slog.New(slog.DiscardHandler)}
	o := m.webOptions()
	if len(o.Hosts) != 1 || o.Hosts[0] != "gw.example.net" || o.LoginBurst != 3 || o.LoginAccountEvery.Minutes() != 2 ||
		o.MaxLoginAddresses != 100 || o.MaxClientsPerAddress != 4 || o.MaxFeedDevices != 100 || o.MaxCompressed != 3 {
		t.Fatalf("web options from the config: %+v", o)
	}
	if len(o.TrustedProxies) != 2 || o.TrustedProxies[1] != netip.MustParsePrefix("192.168.1.1/32") {
		t.Fatalf("trusted proxies %v", o.TrustedProxies)
	}
	for _, bad := range []struct{ text, want string }{
		{"web:\n  hosts: [\"http://gw\"]\n", "config.yaml:19: web.hosts"},
		{"web:\n  trusted_proxies: [10.0.0.0/33]\n", "config.yaml:19: web.trusted_proxies"},
		{"web:\n  login:\n    burst: -1\n", "config.yaml:20: web.login.burst"},
		{"web:\n  max_compressed: -1\n", "config.yaml:19: web.max_compressed"},
		{"web:\n  max_feed_devices: -1\n", "config.yaml:19: web.max_feed_devices"},
	} {
		_, err := ParseConfig("config.yaml", []byte(goodConfig+bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want %q", bad.text, err, bad.want)
		}
	}
}

// With no web.hosts the gateway answers to its host name.
func TestConfig_WebHostsDefaultToTheHostName(t *testing.T) {
	c, err := ParseConfig("config.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	o := (&Main{Config: c, Log: slog.New(slog.DiscardHandler)}).webOptions()
	h, _ := os.Hostname()
	if len(o.Hosts) == 0 || o.Hosts[0] != h {
		t.Fatalf("default hosts %v, want the host name %q first", o.Hosts, h)
	}
}

// The Host check covers OAuth (a login page with cookies) and the page: a
// rebinding name is refused there; the listener's address and localhost
// get through. The bearer-token Yandex API is exempt, so a proxy that
// passes its public Host on keeps voice control working.
func TestDemo_HostCheckCoversEveryRouteButTheBearerAPI(t *testing.T) {
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir())
	port := d.addr[strings.LastIndex(d.addr, ":")+1:]
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"voice.example.com", "/v1.0/user/devices", http.StatusOK},
		{"rebind.evil.example", "/v1.0/../api/status", http.StatusMisdirectedRequest},
		{"rebind.evil.example", "/v1.0x", http.StatusMisdirectedRequest},
		{"rebind.evil.example:" + port, "/oauth/authorize", http.StatusMisdirectedRequest},
		{"rebind.evil.example", "/api/status", http.StatusMisdirectedRequest},
		{d.addr, "/v1.0/user/devices", http.StatusOK},
		{"localhost:" + port, "/v1.0/user/devices", http.StatusOK},
		{d.addr, "/api/status", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", "http://"+d.addr+tc.path, nil)
		req.Host = tc.host
		req.Header.Set("Authorization", "Bearer "+demoToken)
		resp, err := e2eClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with Host %s: %d %s, want %d", tc.path, tc.host, resp.StatusCode, body, tc.want)
		}
	}
}
