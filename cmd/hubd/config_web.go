package main

import (
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/firmware"
	"hubd/hub/web"
)

// WebGuardConfig is the status page's request checks and bounds. Its keys
// sit directly under `web:` (WebConfig inlines it). They take effect at the
// next start, not on reload.
type WebGuardConfig struct {
	// Hosts are the names the gateway answers to (the Host header) besides
	// IP literals and, on a loopback listener, localhost. Empty: the
	// machine's host name and <hostname>.local. Anything else gets 421:
	// this is the defence against DNS rebinding.
	Hosts []string `yaml:"hosts"`
	// TrustedProxies are CIDRs (or single addresses) of reverse proxies
	// whose X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string       `yaml:"trusted_proxies"`
	Login          WebLoginConfig `yaml:"login"`
	// MaxLiveClients caps the live feed's streams; 0: 64.
	MaxLiveClients int `yaml:"max_live_clients"`
	// MaxLiveClientsPerAddress caps one address's (IPv6: /64's) streams; 0: 8.
	MaxLiveClientsPerAddress int `yaml:"max_live_clients_per_address"`
	// MaxFeedDevices caps one page of the status page's device list, and
	// so the devices one viewer's live feed follows; 0: 200.
	MaxFeedDevices int `yaml:"max_feed_devices"`
	// MaxCompressed caps the answers gzip-compressed at once (live feeds
	// take at most half); 0: 8.
	MaxCompressed int `yaml:"max_compressed"`
}

// WebLoginConfig is the status page's login rate limit. Zero values take
// the defaults of web.Options.
type WebLoginConfig struct {
	Burst        int           `yaml:"burst"`         // per address; 0: 5
	Every        time.Duration `yaml:"every"`         // per address; 0: 12s
	AccountBurst int           `yaml:"account_burst"` // failures per user name; 0: 10
	AccountEvery time.Duration `yaml:"account_every"` // 0: 1m
	MaxEntries   int           `yaml:"max_entries"`   // addresses (and unknown names) remembered; 0: 4096
}

// validate checks the web guard keys; lines come from root.
func (g *WebGuardConfig) validate(add func(line int, format string, args ...any), root *yaml.Node) {
	for i, h := range g.Hosts {
		if n := strings.TrimSuffix(strings.ToLower(h), "."); n == "" || strings.ContainsAny(n, "/:[] \t") {
			add(lineOf(root, "web", "hosts", i), "web.hosts: %q must be a bare host name (no scheme, port or path)", h)
		}
	}
	for i, p := range g.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			add(lineOf(root, "web", "trusted_proxies", i), "web.trusted_proxies: %q is not a CIDR or IP address", p)
		}
	}
	l := g.Login
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"burst", int64(l.Burst)}, {"every", int64(l.Every)}, {"account_burst", int64(l.AccountBurst)},
		{"account_every", int64(l.AccountEvery)}, {"max_entries", int64(l.MaxEntries)},
	} {
		if n.v < 0 {
			add(lineOf(root, "web", "login", n.key), "web.login.%s must not be negative", n.key)
		}
	}
	if g.MaxLiveClients < 0 {
		add(lineOf(root, "web", "max_live_clients"), "web.max_live_clients must not be negative")
	}
	if g.MaxLiveClientsPerAddress < 0 {
		add(lineOf(root, "web", "max_live_clients_per_address"), "web.max_live_clients_per_address must not be negative")
	}
	if g.MaxFeedDevices < 0 {
		add(lineOf(root, "web", "max_feed_devices"), "web.max_feed_devices must not be negative")
	}
	if g.MaxCompressed < 0 {
		add(lineOf(root, "web", "max_compressed"), "web.max_compressed must not be negative")
	}
}

// parseProxy reads a CIDR or a single address (a /32 or /128).
func parseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// defaultHosts are the names accepted when web.hosts is empty: the
// machine's host name, as the installer and mDNS know it.
func defaultHosts() []string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, "/:[] ") {
		return nil
	}
	return []string{h, strings.TrimSuffix(h, ".local") + ".local"}
}

// applyWebGuard sets the web options the guard keys and the firmware
// reader give.
func (m *Main) applyWebGuard(o *web.Options) {
	g := m.Config.Web.Guard
	o.Hosts = g.Hosts
	if len(o.Hosts) == 0 {
		o.Hosts = defaultHosts()
	}
	for _, p := range g.TrustedProxies {
		if pr, err := parseProxy(p); err == nil { // validate refused the others
			o.TrustedProxies = append(o.TrustedProxies, pr)
		}
	}
	o.LoginBurst, o.LoginEvery = g.Login.Burst, g.Login.Every
	o.LoginAccountBurst, o.LoginAccountEvery = g.Login.AccountBurst, g.Login.AccountEvery
	o.MaxLoginAddresses = g.Login.MaxEntries
	o.MaxClients, o.MaxClientsPerAddress = g.MaxLiveClients, g.MaxLiveClientsPerAddress
	o.MaxFeedDevices, o.MaxCompressed = g.MaxFeedDevices, g.MaxCompressed
	if m.Serial != nil {
		o.InspectFirmware = inspectFirmware
	}
}

// inspectFirmware reads an image's header for the page's confirm step.
func inspectFirmware(image []byte) (web.FirmwareImage, error) {
	im, err := firmware.ParseImage(image)
	if err != nil {
		return web.FirmwareImage{}, err
	}
	return web.FirmwareImage{Model: im.Model, Version: im.VersionString()}, nil
}
