package broker

import (
	"fmt"
	"slices"
	"testing"
)

// A session's filters behave as a map whether they are few (a slice) or
// many (a map), across the change from one to the other and back down.
func TestFilterSet_ActsAsAMap(t *testing.T) {
	var f filterSet
	want := map[string]byte{}
	check := func(when string) {
		t.Helper()
		if f.len() != len(want) {
			t.Fatalf("%s: %d filters, want %d", when, f.len(), len(want))
		}
		got := f.filters()
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
	for i := range 2 * smallFilters {
		k := fmt.Sprintf("f/%d", i)
		f.set(k, byte(i%2))
		want[k] = byte(i % 2)
		f.set(k, 1) // granted again: replaced, not added
		want[k] = 1
		check(fmt.Sprintf("after %d", i+1))
		if i < smallFilters && f.many != nil || i >= smallFilters && f.many == nil {
			t.Fatalf("after %d filters: map %v, want one past %d", i+1, f.many != nil, smallFilters)
		}
	}
	for i := range 2 * smallFilters {
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
