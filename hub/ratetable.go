package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// RateTable is a bounded table of per-key limiters (a token bucket per
// client address or account), shared by the adapters so that every login
// limiter of the daemon bounds and evicts the same way. The buckets
// themselves are the adapter's (golang.org/x/time/rate); hub imports only
// the standard library, so the table is generic over them.
//
// An entry is evicted only when idle says it holds nothing a fresh limiter
// would not (its bucket has refilled), or, with EvictNearest, when the
// table is full and it is the entry closest to refilled and not limited.
// When the table is full and no entry can go, a new key gets the table's
// one overflow limiter, shared by every such key: filling the table never
// hands a limited key a fresh bucket, it only makes the newcomers share
// one.
type RateTable[L any] struct {
	max   int
	fresh func() L
	idle  func(l L, now time.Time) bool
	left  func(l L, now time.Time) float64 // EvictNearest; nil: off

	mu       sync.Mutex
	m        map[string]L
	overflow L

	overflows atomic.Uint64
	evictions atomic.Uint64
}

// NewRateTable returns a table of at most size keys (at least 1); fresh makes
// the limiter of a new key and idle reports whether a limiter is back to
// what fresh returns.
func NewRateTable[L any](size int, fresh func() L, idle func(l L, now time.Time) bool) *RateTable[L] {
	return &RateTable[L]{max: max(size, 1), fresh: fresh, idle: idle, m: map[string]L{}, overflow: fresh()}
}

// Get returns key's limiter, making one if needed.
func (t *RateTable[L]) Get(key string, now time.Time) L {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.m[key]; ok {
		return l
	}
	if len(t.m) >= t.max {
		t.pruneLocked(now)
	}
	if len(t.m) >= t.max && !t.evictNearestLocked(now) {
		t.overflows.Add(1)
		return t.overflow
	}
	l := t.fresh()
	t.m[key] = l
	return l
}

// EvictNearest lets a table full of busy entries make room for a newcomer
// by evicting the entry with the most tokens left (left(l, now)), the one
// closest to refilled, when it has at least one: it would allow its next
// attempt anyway, and a fresh limiter gives it back only what refilling
// soon would. A limited entry (under one token left) is never evicted, so
// it is never refreshed; newcomers share the overflow limiter only when
// every entry is limited. Without it, they share it as soon as no entry is
// idle, which a flood of one attempt per address achieves. Call it before
// the table is used.
func (t *RateTable[L]) EvictNearest(left func(l L, now time.Time) float64) {
	t.left = left
}

// evictNearestLocked evicts the unlimited entry with the most tokens left
// and reports whether it did.
func (t *RateTable[L]) evictNearestLocked(now time.Time) bool {
	if t.left == nil {
		return false
	}
	best, most := "", 1.0
	found := false
	for k, l := range t.m {
		if n := t.left(l, now); n >= most {
			best, most, found = k, n, true
		}
	}
	if found {
		delete(t.m, best)
		t.evictions.Add(1)
	}
	return found
}

// Prune forgets the keys whose limiters are idle.
func (t *RateTable[L]) Prune(now time.Time) {
	t.mu.Lock()
	t.pruneLocked(now)
	t.mu.Unlock()
}

func (t *RateTable[L]) pruneLocked(now time.Time) {
	for k, l := range t.m {
		if t.idle(l, now) {
			delete(t.m, k)
			t.evictions.Add(1)
		}
	}
}

// Len is the number of keys held.
func (t *RateTable[L]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Overflows counts the keys that found the table full of busy limiters and
// were given the shared overflow limiter.
func (t *RateTable[L]) Overflows() uint64 { return t.overflows.Load() }

// Evictions counts idle keys dropped to make room or by Prune.
func (t *RateTable[L]) Evictions() uint64 { return t.evictions.Load() }
