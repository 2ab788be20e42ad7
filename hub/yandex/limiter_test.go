package yandex

import (
	"fmt"
	"testing"
	"time"
)

// Filling the table with other addresses must not hand a limited address a
// fresh bucket (the old table evicted a key at random when full).
func TestLimiter_FloodOfAddresses_KeepsLimitedAddressLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(2, time.Minute, 10, time.Minute, 64)
	l.allow("victim", now)
	l.allow("victim", now)
	if ok, wait := l.allow("victim", now); ok || wait <= 0 {
		t.Fatalf("third attempt: ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	for i := range 1000 {
		l.allow(fmt.Sprint("10.0.", i/250, ".", i%250), now)
	}
	if ok, _ := l.allow("victim", now); ok {
		t.Fatal("a 1,000-address flood refreshed the limited address")
	}
	if ok, _ := l.allow("victim", now.Add(time.Minute)); !ok {
		t.Fatal("after a minute (one token back) the address is still refused")
	}
}
