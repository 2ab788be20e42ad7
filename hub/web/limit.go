package web

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"hubd/hub"
)

// loginLimiter rate-limits /login twice: per client address (an IPv6
// client per /64, since any host there can pick a fresh address) and per
// account (however many addresses the guesses come from). Every attempt
// costs its address a token; only a failed one costs its account a token,
// so a technician who types the right password is not held back by having
// signed in a few times. Refused attempts cost nothing.
//
// Configured accounts each have a limiter of their own, outside any table,
// so a flood of made-up names can never push a real account into the
// shared overflow limiter. Unknown names have limiters too (in a bounded
// table), so that a guessed name is refused exactly like a real one and
// the limiter does not reveal which names exist.
type loginLimiter struct {
	addrBurst, acctBurst int
	addrEvery, acctEvery time.Duration

	addrs   *hub.RateTable[*rate.Limiter]
	unknown *hub.RateTable[*rate.Limiter]

	mu    sync.Mutex
	known map[string]*rate.Limiter

	byAddr, byAcct atomic.Uint64 // attempts refused, by reason
}

func newLoginLimiter(o *Options) *loginLimiter {
	l := &loginLimiter{addrBurst: o.LoginBurst, addrEvery: o.LoginEvery,
		acctBurst: o.LoginAccountBurst, acctEvery: o.LoginAccountEvery, known: map[string]*rate.Limiter{}}
	l.addrs = hub.NewRateTable(o.MaxLoginAddresses, l.newAddr, idle)
	l.unknown = hub.NewRateTable(o.MaxLoginAddresses, l.newAcct, idle)
	return l
}

func (l *loginLimiter) newAddr() *rate.Limiter {
	return rate.NewLimiter(rate.Every(l.addrEvery), l.addrBurst)
}

func (l *loginLimiter) newAcct() *rate.Limiter {
	return rate.NewLimiter(rate.Every(l.acctEvery), l.acctBurst)
}

// idle reports whether a limiter has refilled, so forgetting it changes
// nothing.
func idle(r *rate.Limiter, now time.Time) bool {
	return r.TokensAt(now) >= float64(r.Burst())
}

// setUsers keeps the limiters of accounts that stay and makes ones for new
// accounts; a removed account's limiter goes.
func (l *loginLimiter) setUsers(names []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]*rate.Limiter, len(names))
	for _, n := range names {
		if r, ok := l.known[n]; ok {
			m[n] = r
		} else {
			m[n] = l.newAcct()
		}
	}
	l.known = m
}

// allowAddr takes an attempt from addr's bucket.
func (l *loginLimiter) allowAddr(addr string, now time.Time) bool {
	if l.addrs.Get(hub.AddrKey(addr), now).AllowN(now, 1) {
		return true
	}
	l.byAddr.Add(1)
	return false
}

// account returns user's limiter.
func (l *loginLimiter) account(user string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	r, ok := l.known[user]
	l.mu.Unlock()
	if ok {
		return r
	}
	return l.unknown.Get(user, now)
}

// reserveAccount takes a token from user's bucket for an attempt about to
// be checked; the caller gives it back (refund) when the password was
// right. Taking it before the check means parallel guesses can not all
// slip through while the first one is being hashed.
func (l *loginLimiter) reserveAccount(user string, now time.Time) (refund func(), ok bool) {
	r := l.account(user, now).ReserveN(now, 1)
	if !r.OK() || r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		l.byAcct.Add(1)
		return nil, false
	}
	return func() { r.CancelAt(now) }, true
}
