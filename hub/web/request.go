package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	pathpkg "path"
	"strings"
	"sync/atomic"
	"time"
)

// requestGuard holds the checks a request passes before any handler sees
// it, and the facts about its client that only trusted proxies may state.
type requestGuard struct {
	proxies []netip.Prefix
	hosts   map[string]bool

	refusedHost atomic.Uint64 // requests refused for their Host header
	lastRefused atomic.Pointer[hostRefusal]
}

// hostRefusal is the latest request refused for its Host header.
type hostRefusal struct {
	host string
	at   time.Time
}

// hostAlarmFor is how long the page shows an alarm after a request was
// refused for its Host header.
const hostAlarmFor = time.Hour

// hostAlarm is the page's alarm about recent 421s, or "": a proxy or a
// platform using a name missing from web.hosts fails silently otherwise.
func (g *requestGuard) hostAlarm(now time.Time) string {
	last := g.lastRefused.Load()
	if last == nil || now.Sub(last.at) > hostAlarmFor {
		return ""
	}
	return fmt.Sprintf("%d requests refused (421) since start because their Host is not a name of this gateway, the latest for %q at %s: "+
		"if that is a name of this gateway (a reverse proxy's public name), add it to web.hosts",
		g.refusedHost.Load(), last.host, last.at.UTC().Format(time.RFC3339))
}

// bearerAPI reports whether r is for the Yandex API under /v1.0, which
// needs no Host check: its callers authenticate with bearer tokens, no
// cookie is ever sent there, so a rebound page gains nothing by reaching it.
// The path must be under /v1.0 both cleaned and as sent (escaped), so no
// dot segment or escaped slash routes an exempt request to another handler.
func bearerAPI(r *http.Request) bool {
	under := func(p string) bool { return p == "/v1.0" || strings.HasPrefix(p, "/v1.0/") }
	return under(pathpkg.Clean("/"+r.URL.Path)) && under(r.URL.EscapedPath())
}

func newRequestGuard(o *Options) (*requestGuard, error) {
	g := &requestGuard{hosts: map[string]bool{}}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: trusted proxy %v is not a CIDR", ErrInvalidOptions, p)
		}
		g.proxies = append(g.proxies, p.Masked())
	}
	for _, h := range o.Hosts {
		n := normalHost(h)
		if n == "" || strings.ContainsAny(n, "/:[] ") {
			return nil, fmt.Errorf("%w: host %.100q must be a bare host name", ErrInvalidOptions, h)
		}
		g.hosts[n] = true
	}
	return g, nil
}

// normalHost is a host name as compared: lower case, no trailing dot.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

func (g *requestGuard) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address of the TCP peer, or the zero Addr when RemoteAddr is
// not an IP (a Unix socket, a test's made-up request).
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// clientAddr is the address the request comes from. Only when the peer is
// a trusted proxy does X-Forwarded-For count: its entries are read from the
// right (each proxy appends the address it got the request from), skipping
// trusted proxies, and the first other one is the client. A peer that is
// not trusted is the client, whatever headers it sends.
func (g *requestGuard) clientAddr(r *http.Request) string {
	p := peer(r)
	if !p.IsValid() {
		return r.RemoteAddr
	}
	if !g.trusted(p) {
		return p.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := p
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage left of here was not written by a proxy we trust
		}
		client = a.Unmap().WithZone("")
		if !g.trusted(client) {
			break
		}
	}
	return client.String()
}

// ClientAddr is the address a request comes from, by the rules of
// Options.TrustedProxies (see clientAddr); the daemon hands it to the other
// handlers on the listener (the Yandex OAuth login limit).
func (s *Server) ClientAddr(r *http.Request) string { return s.guard.clientAddr(r) }

// secure reports whether the client's connection is HTTPS: TLS here, or a
// trusted proxy saying in X-Forwarded-Proto (its last value, which the
// nearest proxy wrote) that it terminated TLS.
func (g *requestGuard) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if p := peer(r); !p.IsValid() || !g.trusted(p) {
		return false
	}
	vals := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(vals[len(vals)-1]), "https")
}

// hostAllowed reports whether r's Host header names this gateway. A DNS
// rebinding attack makes a browser send the attacker's own name, so names
// must be listed (Options.Hosts); an IP literal can not be rebound and is
// always accepted, as are "localhost" and its subdomains on a connection
// that arrived on a loopback address. An empty Host (HTTP/1.0 clients) is
// not a browser and passes.
func (g *requestGuard) hostAllowed(r *http.Request) bool {
	h := r.Host
	if h == "" {
		return true
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = normalHost(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if g.hosts[h] {
		return true
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return loopbackConn(r.Context())
	}
	return false
}

// loopbackConn reports whether the request's connection arrived on a
// loopback address of this machine.
func loopbackConn(ctx context.Context) bool {
	la, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(la.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// Guard wraps next with the request-level checks of Options.Hosts: a
// request whose Host header names another site is answered 421 and never
// reaches next. The Server's own Handler is guarded already; the daemon
// wraps its other routes (the Yandex API, OAuth) with it too.
//
// /healthz is exempt: probes and load balancers send whatever Host they were
// configured with, and it tells a caller without a session only the status
// code (a rebound page never carries the gateway's session cookie). So is
// the bearer-token API under /v1.0 (bearerAPI); /oauth/ is not, it has a
// login page and cookies. Refusals are counted and shown on the page.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !bearerAPI(r) && !s.guard.hostAllowed(r) {
			s.guard.refusedHost.Add(1)
			s.guard.lastRefused.Store(&hostRefusal{host: clipped(r.Host), at: s.opts.Now()})
			s.log.Debug("web: request for another host refused", "host", clipped(r.Host), "client", s.guard.clientAddr(r), "path", r.URL.Path)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintf(w, "%v: host %q is not a name of this gateway; add it to web.hosts\n", ErrWrongHost, clipped(r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func clipped(h string) string {
	if len(h) > 100 {
		return h[:100]
	}
	return h
}
