package yandex

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"hubd/hub"
)

// limiter rate-limits the OAuth login twice, with the semantics of the
// status page's login limiter (hub/web's loginLimiter): per client address
// (an IPv6 client per /64, hub.AddrKey, since any host there can pick a
// fresh address) and per account (however many addresses the guesses come
// from). Every attempt costs its address a token; only a failed one costs
// its account a token, so a resident who types the right password is not
// held back by having linked a few times. Refused attempts cost nothing.
//
// The buckets are golang.org/x/time/rate's; the tables are hub.RateTable,
// so both login limiters bound and evict alike: at most max keys, a key
// forgotten only once its bucket has refilled, and newcomers to a table
// full of limited keys sharing one overflow bucket rather than refreshing
// anyone (a full table evicts the unlimited key closest to refilled).
// Configured accounts have limiters outside any table, so a flood
// of made-up names can not push a real account into the overflow bucket;
// made-up names are limited too (in a table), so a guessed name is
// refused exactly like a real one.
type limiter struct {
	addrs   *hub.RateTable[*rate.Limiter]
	unknown *hub.RateTable[*rate.Limiter]
	acct    func() *rate.Limiter

	mu    sync.Mutex
	known map[string]*rate.Limiter
}

func newLimiter(burst int, per time.Duration, acctBurst int, acctPer time.Duration, max int) *limiter {
	fresh := func() *rate.Limiter { return rate.NewLimiter(rate.Every(per), burst) }
	acct := func() *rate.Limiter { return rate.NewLimiter(rate.Every(acctPer), acctBurst) }
	l := &limiter{addrs: hub.NewRateTable(max, fresh, idle), unknown: hub.NewRateTable(max, acct, idle),
		acct: acct, known: map[string]*rate.Limiter{}}
	left := func(l *rate.Limiter, now time.Time) float64 { return l.TokensAt(now) }
	l.addrs.EvictNearest(left)
	l.unknown.EvictNearest(left)
	return l
}

// idle reports whether a bucket has refilled, so forgetting it changes
// nothing.
func idle(l *rate.Limiter, now time.Time) bool { return l.TokensAt(now) >= float64(l.Burst()) }

// allow takes one attempt for a client address, or says how long until
// the next.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	return take(l.addrs.Get(hub.AddrKey(addr), now), now)
}

// take reserves a token of b, or says how long until there is one.
func take(b *rate.Limiter, now time.Time) (bool, time.Duration) {
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// reserveAccount takes a token from user's bucket for an attempt about to
// be checked (known: user is configured); the caller calls refund when
// the password was right. Taking it before the check means parallel
// guesses can not all slip through while the first one is being hashed.
func (l *limiter) reserveAccount(user string, known bool, now time.Time) (refund func(), ok bool, wait time.Duration) {
	var b *rate.Limiter
	if known {
		l.mu.Lock()
		if b = l.known[user]; b == nil {
			b = l.acct()
			l.known[user] = b
		}
		l.mu.Unlock()
	} else {
		b = l.unknown.Get(user, now)
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, false, d
	}
	return func() { r.CancelAt(now) }, true, 0
}

// prune forgets keys and accounts whose bucket is full again: the known
// accounts are bounded by the configured users, and a removed user's
// bucket goes once it has refilled.
func (l *limiter) prune(now time.Time) {
	l.addrs.Prune(now)
	l.unknown.Prune(now)
	l.mu.Lock()
	for u, b := range l.known {
		if idle(b, now) {
			delete(l.known, u)
		}
	}
	l.mu.Unlock()
}
