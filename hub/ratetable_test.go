package hub

import (
	"testing"
	"time"
)

// counter is a stand-in limiter: busy until its count is back to zero.
type counter struct{ n int }

func TestRateTable_FullOfBusyKeys_SharesOverflowAndKeepsEntries(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := NewRateTable(2, func() *counter { return &counter{} }, func(c *counter, _ time.Time) bool { return c.n == 0 })
	a, b := tb.Get("a", now), tb.Get("b", now)
	a.n, b.n = 1, 1 // both limited
	x, y := tb.Get("x", now), tb.Get("y", now)
	if x != y || x == a || x == b {
		t.Fatal("newcomers to a full table of busy keys must share the overflow limiter")
	}
	if tb.Get("a", now) != a || tb.Get("a", now).n != 1 {
		t.Fatal("a limited key lost its limiter to a flood")
	}
	if tb.Overflows() != 2 || tb.Len() != 2 {
		t.Fatalf("overflows %d len %d, want 2 and 2", tb.Overflows(), tb.Len())
	}
	b.n = 0 // b refilled: it may go to make room
	if z := tb.Get("z", now); z == x || z == b {
		t.Fatal("a newcomer did not get its own limiter when an idle key could be evicted")
	}
	if tb.Evictions() != 1 || tb.Get("a", now) != a {
		t.Fatalf("evictions %d; the busy key must stay", tb.Evictions())
	}
}

// bucket is a stand-in token bucket: tokens left of a burst of 5.
type bucket struct{ tokens float64 }

// A flood that leaves every entry busy but not limited (one attempt each)
// must not push newcomers onto the shared overflow limiter: the entry
// closest to refilled goes instead. A limited entry (under one token) is
// never evicted, so it is never refreshed.
func TestRateTable_FullOfBusyButUnlimitedKeys_EvictsTheOneClosestToRefilled(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := NewRateTable(3, func() *bucket { return &bucket{tokens: 5} }, func(b *bucket, _ time.Time) bool { return b.tokens >= 5 })
	tb.EvictNearest(func(b *bucket, _ time.Time) float64 { return b.tokens })
	limited, busy, nearest := tb.Get("limited", now), tb.Get("busy", now), tb.Get("nearest", now)
	limited.tokens, busy.tokens, nearest.tokens = 0.5, 2, 4
	x := tb.Get("x", now)
	if x == tb.overflow || x.tokens != 5 {
		t.Fatal("a newcomer got the overflow limiter although an unlimited entry could go")
	}
	if tb.Get("limited", now) != limited || tb.Get("busy", now) != busy {
		t.Fatal("an entry other than the one closest to refilled was evicted")
	}
	if tb.Evictions() != 1 || tb.Len() != 3 {
		t.Fatalf("evictions %d len %d, want 1 and 3", tb.Evictions(), tb.Len())
	}
	busy.tokens, x.tokens = 0, 0.9 // all limited now
	if y := tb.Get("y", now); y != tb.overflow {
		t.Fatal("a limited entry was evicted (and so refreshed) for a newcomer")
	}
	if tb.Get("limited", now) != limited || tb.Get("busy", now) != busy || tb.Get("x", now) != x {
		t.Fatal("a limited entry lost its limiter")
	}
}
