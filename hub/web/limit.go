package web

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"hubd/hub"
)

// loginLimiter rate-limits /login three ways: per client address (an IPv6
// client per /64, since any host there can pick a fresh address), per
// account and address, and per account (however many addresses the
// guesses come from). Every attempt costs its address a token; only a
// failed one costs its account tokens, so a technician who types the
// right password is not held back by having signed in a few times.
// Refused attempts cost nothing.
//
// One address alone can not spend the account's bucket: its own share
// (half the account's burst, refilled at half the account's rate) runs
// out first, and the account refills faster than that share is spent. So
// a single attacker address can not keep the technician out; only many
// addresses together can empty the account, and then they get at most
// the account's burst plus one guess per LoginAccountEvery. While the
// account is empty, the addresses that signed in to it successfully
// before (the last maxKnownAddrs of them) are still checked against their
// own share, so even a distributed attack does not lock out the
// technician's usual machines.
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
	shares  *hub.RateTable[*rate.Limiter] // per account and address

	mu    sync.Mutex
	known map[string]*account

	byAddr, byAcct atomic.Uint64 // attempts refused, by reason
}

// maxKnownAddrs is how many addresses that signed in are remembered per
// account.
const maxKnownAddrs = 8

// account is a configured account's bucket and the addresses (hub.AddrKey)
// that signed in to it, newest last.
type account struct {
	all   *rate.Limiter
	known []string
}

func newLoginLimiter(o *Options) *loginLimiter {
	l := &loginLimiter{addrBurst: o.LoginBurst, addrEvery: o.LoginEvery,
		acctBurst: o.LoginAccountBurst, acctEvery: o.LoginAccountEvery, known: map[string]*account{}}
	l.addrs = hub.NewRateTable(o.MaxLoginAddresses, l.newAddr, idle)
	l.unknown = hub.NewRateTable(o.MaxLoginAddresses, l.newAcct, idle)
	l.shares = hub.NewRateTable(o.MaxLoginAddresses, l.newShare, idle)
	for _, t := range []*hub.RateTable[*rate.Limiter]{l.addrs, l.unknown, l.shares} {
		t.EvictNearest(tokensLeft)
	}
	return l
}

// tokensLeft is what a limiter would allow now.
func tokensLeft(r *rate.Limiter, now time.Time) float64 { return r.TokensAt(now) }

// newShare is one address's share of an account: half its burst, at half
// its rate.
func (l *loginLimiter) newShare() *rate.Limiter {
	return rate.NewLimiter(rate.Every(2*l.acctEvery), max(1, l.acctBurst/2))
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
	m := make(map[string]*account, len(names))
	for _, n := range names {
		if a, ok := l.known[n]; ok {
			m[n] = a
		} else {
			m[n] = &account{all: l.newAcct()}
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

// account returns user's limiter and whether addr (a hub.AddrKey) signed in
// to it before.
func (l *loginLimiter) account(user, addr string, now time.Time) (*rate.Limiter, bool) {
	l.mu.Lock()
	a, ok := l.known[user]
	known := ok && slices.Contains(a.known, addr)
	l.mu.Unlock()
	if !ok {
		return l.unknown.Get(user, now), false
	}
	return a.all, known
}

// signedIn remembers that addr signed in to user.
func (l *loginLimiter) signedIn(user, addr string) {
	key := hub.AddrKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.known[user]
	if !ok {
		return
	}
	a.known = slices.DeleteFunc(a.known, func(k string) bool { return k == key })
	if len(a.known) >= maxKnownAddrs {
		a.known = a.known[1:]
	}
	a.known = append(a.known, key)
}

// reserveAccount takes a token from addr's share of user's bucket and one
// from the whole bucket, for an attempt about to be checked; the caller
// gives them back (refund) when the password was right. Taking them
// before the check means parallel guesses can not all slip through while
// the first one is being hashed. An address that signed in to user before
// needs only its share.
func (l *loginLimiter) reserveAccount(user, addr string, now time.Time) (refund func(), ok bool) {
	key := hub.AddrKey(addr)
	share, ok := take(l.shares.Get(user+"\x00"+key, now), now)
	if !ok {
		l.byAcct.Add(1)
		return nil, false
	}
	all, known := l.account(user, key, now)
	whole, fromAll := take(all, now)
	if !fromAll && !known {
		share.CancelAt(now)
		l.byAcct.Add(1)
		return nil, false
	}
	return func() {
		share.CancelAt(now)
		if fromAll {
			whole.CancelAt(now)
		}
	}, true
}

// take reserves a token of r for now; a reservation that would have to
// wait is cancelled and not ok.
func take(r *rate.Limiter, now time.Time) (*rate.Reservation, bool) {
	res := r.ReserveN(now, 1)
	if !res.OK() || res.DelayFrom(now) > 0 {
		res.CancelAt(now)
		return nil, false
	}
	return res, true
}
