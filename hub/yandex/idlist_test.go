package yandex

import (
	"strings"
	"testing"
)

// TestIDList_NamesAFewDevicesInOneAllocation holds the request log's
// device list to what it says (at most eight ids, each clipped to 64
// bytes, and the count when there were more) and to its cost: one
// allocation, none for a single device.
func TestIDList_NamesAFewDevicesInOneAllocation(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes: clipped at a rune boundary to 64
	ids := []string{"lamp-1", "relay-1", long, "socket-2", "lamp-3", "a", "b", "c", "d", "e"}
	cases := []struct {
		ids  []string
		n    int
		want string
	}{
		{nil, 0, ""},
		{ids[:1], 1, "lamp-1"},
		{ids[2:3], 1, strings.Repeat("é", 32)},
		{ids[:2], 2, "lamp-1,relay-1"},
		{ids[:5], 5, "lamp-1,relay-1," + strings.Repeat("é", 32) + ",socket-2,lamp-3"},
		{ids, 10, "lamp-1,relay-1," + strings.Repeat("é", 32) + ",socket-2,lamp-3,a,b,c,...(10 in all)"},
		{ids[:1], 9, "lamp-1,...(9 in all)"},
	}
	for _, c := range cases {
		if got := idList(c.ids, c.n); got != c.want {
			t.Errorf("idList(%d ids, %d) = %q, want %q", len(c.ids), c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		ids  []string
		n    int
		want float64
	}{{ids[:1], 1, 0}, {ids[:5], 5, 1}} {
		if a := testing.AllocsPerRun(100, func() { idList(c.ids, c.n) }); a != c.want {
			t.Errorf("idList of %d ids: %.0f allocations, want %.0f", len(c.ids), a, c.want)
		}
	}
}
