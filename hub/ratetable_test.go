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
