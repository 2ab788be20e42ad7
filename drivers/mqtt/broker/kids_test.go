package broker

import (
	"fmt"
	"runtime"
	"testing"
)

// deviceFilters are the filters the hub holds for n devices of a
// gateway, the shape that matters for the tree: a few shared first
// levels, then each device's own levels.
func deviceFilters(n int) []string {
	var out []string
	for i := range n {
		name := fmt.Sprintf("plug-%05d", i)
		out = append(out, "stat/"+name+"/RESULT", "stat/"+name+"/POWER", "tele/"+name+"/STATE",
			"tele/"+name+"/SENSOR", "tele/"+name+"/LWT", name+"/status/switch:0", name+"/online")
	}
	return out
}

// A level with more children than the slice holds moves to a map; every
// filter still matches exactly its topics, and removing them all leaves
// an empty tree, through both forms.
func TestNode_ManySiblings_MatchAndPruneAcrossTheMapSwitch(t *testing.T) {
	for _, n := range []int{1, smallMapInline, smallMapInline + 1, 300} {
		var root node
		s := &session{}
		filters := deviceFilters(n)
		filters = append(filters, "stat/+/RESULT")
		for _, f := range filters {
			root.add(f, sub{s: s})
		}
		for _, f := range filters[:len(filters)-1] {
			if got := root.match(f, nil); len(got) != 1 || got[0].s != s {
				t.Fatalf("%d devices: %q matched %v", n, f, got)
			}
		}
		if got := root.match("stat/nobody/POWER", nil); len(got) != 0 {
			t.Fatalf("%d devices: a topic nobody subscribed to matched %v", n, got)
		}
		if got := root.match("stat/nobody/RESULT", nil); len(got) != 1 {
			t.Fatalf("%d devices: the wildcard did not match: %v", n, got)
		}
		for i, f := range filters {
			empty, _ := root.remove(f, sub{s: s})
			if last := i == len(filters)-1; empty != last {
				t.Fatalf("%d devices: removing %q (%d of %d) reported empty=%v", n, f, i+1, len(filters), empty)
			}
		}
		if !root.bare() {
			t.Fatalf("%d devices: the root is left with %+v", n, root)
		}
	}
}

// BenchmarkTree_10000Devices reports what the subscription tree of the
// hub's filters for 10,000 devices (7 each) holds on the heap, per
// device.
func BenchmarkTree_10000Devices(b *testing.B) {
	const devices = 10000
	filters := deviceFilters(devices)
	s := &session{}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		root := &node{}
		for _, f := range filters {
			root.add(f, sub{s: s})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(root)
		per := float64(after.HeapAlloc-before.HeapAlloc) / devices
		b.ReportMetric(per, "B/device")
		b.Logf("subscription tree of %d devices' %d filters: %.0f bytes per device", devices, len(filters), per)
	}
}
