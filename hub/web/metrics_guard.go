package web

// The families that say when a bound of the page's request checks bit.
var (
	mLoginRefused  = counterDesc("web_login_refused_total", "Login attempts refused by the rate limiter, by what was limited (address: the client address or IPv6 /64; account: the user name).", "by")
	mLoginOverflow = counterDesc("web_login_limiter_overflows_total", "Login attempts from a new address or user name that found the limiter's table full of limited entries and shared its overflow limiter, by table.", "table")
	mLiveRefused   = counterDesc("web_live_clients_refused_total", "Live-feed clients refused, by the cap that bit (total: web.max_live_clients; address: web.max_live_clients_per_address).", "cap")
	mHostRefused   = counterDesc("web_requests_wrong_host_total", "Requests refused (421) because their Host header is not a name of this gateway (web.hosts).")
	mHealthChecks  = counterDesc("web_health_checks_total", "Health checks started; concurrent /healthz calls share one.")
)

// addGuardMetrics adds the counters of the limiter, the feed's caps and the
// Host check to e.
func (s *Server) addGuardMetrics(e *exposition) {
	count := func(d *metricDesc, v uint64, l ...string) { e.add(d, float64(v), l...) }
	count(mLoginRefused, s.limit.byAddr.Load(), "address")
	count(mLoginRefused, s.limit.byAcct.Load(), "account")
	count(mLoginOverflow, s.limit.addrs.Overflows(), "addresses")
	count(mLoginOverflow, s.limit.unknown.Overflows(), "names")
	count(mLoginOverflow, s.limit.shares.Overflows(), "shares")
	count(mLiveRefused, s.feed.refused.Load(), "total")
	count(mLiveRefused, s.feed.refusedPer.Load(), "address")
	count(mHostRefused, s.guard.refusedHost.Load())
	count(mHealthChecks, s.health.runs.Load())
}
