package broker

import (
	"fmt"
	"slices"
	"testing"
)

// A smallMap (here a session's filters) behaves as a map whether its
// entries are few (a slice) or many (a map), across the change from one to
// the other and back down.
func TestSmallMap_ActsAsAMap(t *testing.T) {
	var f filterSet
	want := map[string]byte{}
	check := func(when string) {
		t.Helper()
		if f.len() != len(want) {
			t.Fatalf("%s: %d filters, want %d", when, f.len(), len(want))
		}
		got := f.keys()
		slices.Sort(got)
		var w []string
		for k := range want {
			w = append(w, k)
			if !f.has(k) {
				t.Fatalf("%s: %q missing", when, k)
			}
		}
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("%s: filters %v, want %v", when, got, w)
		}
	}
	for i := range 2 * smallMapInline {
		k := fmt.Sprintf("f/%d", i)
		f.put(k, byte(i%2))
		want[k] = byte(i % 2)
		f.put(k, 1) // granted again: replaced, not added
		want[k] = 1
		check(fmt.Sprintf("after %d", i+1))
		if i < smallMapInline && f.many != nil || i >= smallMapInline && f.many == nil {
			t.Fatalf("after %d filters: map %v, want one past %d", i+1, f.many != nil, smallMapInline)
		}
	}
	for i := range 2 * smallMapInline {
		k := fmt.Sprintf("f/%d", i)
		if !f.del(k) || f.del(k) {
			t.Fatalf("deleting %q: want true once, then false", k)
		}
		delete(want, k)
		check(fmt.Sprintf("after deleting %d", i+1))
	}
	if f.has("f/0") || f.del("nothing") {
		t.Fatal("an empty set has a filter")
	}
}
