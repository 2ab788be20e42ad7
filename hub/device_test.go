package hub_test

import (
	"testing"
	"time"

	"hubd/hub"
)

func TestStamp_RoundTripsAndHoldsTheEnds(t *testing.T) {
	at := time.Date(2026, 12, 7, 7, 30, 1, 123456789, time.FixedZone("MSK", 3*3600))
	if got := hub.StampOf(at).Time(); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("StampOf(%v).Time() = %v, want the same instant in UTC", at, got)
	}
	if s := hub.StampOf(time.Time{}); s != 0 || !s.Time().IsZero() {
		t.Errorf("the zero time is stamp %d, back %v; want 0 and the zero time", s, s.Time())
	}
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := hub.StampOf(far).Time(); got.Year() != 2262 && got.Year() != 2261 {
		t.Errorf("year 9999 came back as %v, want the last year a stamp holds", got)
	}
	early := time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
	if got := hub.StampOf(early).Time(); got.IsZero() || got.Year() != 1677 && got.Year() != 1678 {
		t.Errorf("year 1 came back as %v, want the first year a stamp holds", got)
	}
}
