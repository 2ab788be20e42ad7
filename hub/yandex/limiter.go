package yandex

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a client address): burst attempts at
// once, one more every per. It remembers at most max keys, so a flood of
// addresses can not grow it without bound.
type limiter struct {
	burst float64
	per   time.Duration
	max   int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, per time.Duration, max int) *limiter {
	return &limiter{burst: float64(burst), per: per, max: max, m: map[string]*bucket{}}
}

// allow takes one attempt for key, or says how long until the next.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= l.max {
			l.pruneLocked(now)
		}
		if len(l.m) >= l.max {
			for k := range l.m { // evict one at random
				delete(l.m, k)
				break
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.per))
	}
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.per))
	}
	b.tokens--
	return true, 0
}

// prune forgets keys whose bucket is full again.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	l.pruneLocked(now)
	l.mu.Unlock()
}

func (l *limiter) pruneLocked(now time.Time) {
	for k, b := range l.m {
		if b.tokens+float64(now.Sub(b.last))/float64(l.per) >= l.burst {
			delete(l.m, k)
		}
	}
}
