package yandex

import (
	"time"

	"golang.org/x/time/rate"

	"hubd/hub"
)

// limiter is a token bucket per key (a client address): burst attempts at
// once, one more every per. The buckets are golang.org/x/time/rate's; the
// table is hub.RateTable, which the status page's login limiter uses too,
// so both bound and evict alike: at most max keys, a key forgotten only
// once its bucket has refilled or, when the table is full, the unlimited
// key closest to refilled; newcomers to a table full of limited keys share
// one overflow bucket rather than refreshing anyone.
type limiter struct {
	t *hub.RateTable[*rate.Limiter]
}

func newLimiter(burst int, per time.Duration, max int) *limiter {
	fresh := func() *rate.Limiter { return rate.NewLimiter(rate.Every(per), burst) }
	idle := func(l *rate.Limiter, now time.Time) bool { return l.TokensAt(now) >= float64(l.Burst()) }
	t := hub.NewRateTable(max, fresh, idle)
	t.EvictNearest(func(l *rate.Limiter, now time.Time) float64 { return l.TokensAt(now) })
	return &limiter{t: t}
}

// allow takes one attempt for key, or says how long until the next.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	r := l.t.Get(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// prune forgets keys whose bucket is full again.
func (l *limiter) prune(now time.Time) { l.t.Prune(now) }
