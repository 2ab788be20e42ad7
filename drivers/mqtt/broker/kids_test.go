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

// A subscriber whose exact filter and wildcard filter both match a topic
// is one target, with the higher QoS of the two, whichever holds which;
// other subscribers of either are targets too.
func TestTree_ExactAndWildcardFilters_OneTargetEach(t *testing.T) {
	for _, exactQoS := range []byte{0, 1} {
		var tr tree
		a, b, c := &session{}, &session{}, &session{}
		tr.add("dev/1/set", sub{s: a, qos: exactQoS})
		tr.add("dev/+/set", sub{s: a, qos: 1 - exactQoS})
		tr.add("dev/1/set", sub{s: b})
		tr.add("dev/#", sub{s: c, qos: 1})
		got := map[*session]byte{}
		for _, x := range tr.match("dev/1/set", nil) {
			if _, twice := got[x.s]; twice {
				t.Fatalf("exact QoS %d: a subscriber is a target twice", exactQoS)
			}
			got[x.s] = x.qos
		}
		if len(got) != 3 || got[a] != 1 || got[b] != 0 || got[c] != 1 {
			t.Errorf("exact QoS %d: targets %v", exactQoS, got)
		}
		if m := tr.match("dev/2/set", nil); len(m) != 2 {
			t.Errorf("exact QoS %d: dev/2/set has %d targets, want 2 (the wildcards)", exactQoS, len(m))
		}
		for _, f := range []string{"dev/1/set", "dev/+/set"} {
			tr.remove(f, sub{s: a})
		}
		if m := tr.match("dev/1/set", nil); len(m) != 2 || tr.n != 2 {
			t.Errorf("exact QoS %d: after a's removal %d targets, %d subscriptions", exactQoS, len(m), tr.n)
		}
		// b alone holds dev/1/set again: one value, not a slice.
		if x, ok := tr.one["dev/1/set"]; !ok || x.s != b || len(tr.many) != 0 {
			t.Errorf("exact QoS %d: after a's removal dev/1/set is %+v, %v", exactQoS, x, tr.many)
		}
		tr.remove("dev/1/set", sub{s: b})
		tr.remove("dev/#", sub{s: c})
		if len(tr.one)+len(tr.many) != 0 || !tr.root.bare() || tr.n != 0 {
			t.Errorf("exact QoS %d: after every removal %v, %v, %+v, %d", exactQoS, tr.one, tr.many, tr.root, tr.n)
		}
	}
}

// BenchmarkTree_10000Devices reports what the subscriptions of the hub's
// filters for 10,000 devices (7 each) hold on the heap, per device:
// mostly exact filters, and one wildcard a device.
func BenchmarkTree_10000Devices(b *testing.B) {
	const devices = 10000
	filters := deviceFilters(devices)
	for i := range devices {
		filters = append(filters, fmt.Sprintf("cmnd/plug-%05d/+", i))
	}
	s := &session{}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := &tree{}
		for _, f := range filters {
			t.add(f, sub{s: s})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(t)
		per := float64(after.HeapAlloc-before.HeapAlloc) / devices
		b.ReportMetric(per, "B/device")
		b.Logf("subscriptions of %d devices' %d filters: %.0f bytes per device", devices, len(filters), per)
	}
}
