package hub_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// walkHub is a hub of n lamps, given to New in reverse order of their ids
// (so that the walk's order is the hub's, not the config's), each with a
// brightness of its own.
func walkHub(t *testing.T, n int) *hub.Hub {
	t.Helper()
	h := openWalkHub(t, n)
	t.Cleanup(func() { h.Close() })
	return h
}

// openWalkHub is walkHub that the caller closes.
func openWalkHub(t *testing.T, n int) *hub.Hub {
	t.Helper()
	devs := make([]hub.Device, n)
	for i := range devs {
		d := lamp(fmt.Sprintf("lamp-%d", n-1-i))
		d.Address = d.ID
		devs[i] = d
	}
	h, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		if err := h.Apply(hub.Report{Device: d.ID, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 1 + i%100}}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// walkIDs walks h to the end and returns the ids it visited.
func walkIDs(h *hub.Hub) []string {
	var ids []string
	h.Walk(func(d *hub.Device, _ *hub.Snapshot) bool {
		ids = append(ids, d.ID)
		return true
	})
	return ids
}

func TestHub_Walk_VisitsEveryDeviceOnceInIdOrderWithItsSnapshot(t *testing.T) {
	// Sizes around any chunk a walk might copy at a time: none, one, a
	// power of two, and one past it.
	for _, n := range []int{0, 1, 64, 65, 257} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := walkHub(t, n)
			var want []string
			for _, d := range h.Devices() {
				want = append(want, d.ID)
			}
			var got []string
			h.Walk(func(d *hub.Device, s *hub.Snapshot) bool {
				got = append(got, d.ID)
				wd, ws, ok := h.Snapshot(d.ID)
				if !ok || wd.Name != d.Name || ws.State.Brightness != s.State.Brightness || ws.Seq != s.Seq || !ws.LastSeen.Equal(s.LastSeen) {
					t.Errorf("%s: walk gave %+v, Snapshot gives %+v", d.ID, s.State, ws.State)
				}
				return true
			})
			if !slices.Equal(got, want) {
				t.Fatalf("walk visited %d devices %v, Devices lists %d: %v", len(got), got, len(want), want)
			}
		})
	}
}

func TestHub_Walk_StopsWhenFnReturnsFalse(t *testing.T) {
	h := walkHub(t, 200)
	all := walkIDs(h)
	for _, stop := range []int{1, 40, 64, 199} {
		var got []string
		h.Walk(func(d *hub.Device, _ *hub.Snapshot) bool {
			got = append(got, d.ID)
			return len(got) < stop
		})
		if !slices.Equal(got, all[:stop]) {
			t.Fatalf("stopping at %d: walk went on to %d devices, the last %s", stop, len(got), got[len(got)-1])
		}
	}
}

// A walk's garbage is its one buffer, whatever the number of devices.
func TestHub_Walk_AllocatesOneBuffer(t *testing.T) {
	h := walkHub(t, 1000)
	n := 0
	allocs := testing.AllocsPerRun(10, func() {
		h.Walk(func(*hub.Device, *hub.Snapshot) bool { n++; return true })
	})
	if n != 11*1000 {
		t.Fatalf("the walks visited %d devices, not 11 times 1000", n)
	}
	if allocs > 1 {
		t.Fatalf("a walk over 1000 devices allocates %v times, not once", allocs)
	}
}

// fn runs with the hub's lock released: a report, a snapshot and a reload
// from inside fn would otherwise wait forever for the walk that waits for
// them.
func TestHub_Walk_FnMayCallBackIntoTheHub(t *testing.T) {
	h := openWalkHub(t, 200) // closed once the walk is over: a stuck walk would hold up Close
	before := h.Devices()
	// The reload drops the last device (past the first chunk whatever its
	// size) and adds one before and one after every other.
	reload := append([]hub.Device{lamp("aa-new"), lamp("zz-new")}, before[:len(before)-1]...)
	reload[0].Address, reload[1].Address = "aa", "zz"
	dropped := before[len(before)-1].ID
	done := make(chan []string)
	go func() {
		var ids []string
		h.Walk(func(d *hub.Device, _ *hub.Snapshot) bool {
			ids = append(ids, d.ID)
			if len(ids) == 1 {
				if err := h.Apply(hub.Report{Device: d.ID, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 99}}); err != nil {
					t.Error(err)
				}
				if _, s, _ := h.Snapshot(d.ID); s.State.Brightness != 99 {
					t.Errorf("the report from inside the walk left brightness %d", s.State.Brightness)
				}
				if err := h.Reconfigure(reload, nil); err != nil {
					t.Error(err)
				}
			}
			return true
		})
		done <- ids
	}()
	var ids []string
	select {
	case ids = <-done:
		h.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the walk is stuck: fn was called under the hub's lock")
	}
	if !onceInOrder(ids) {
		t.Fatalf("the walk across the reload is not once each in id order: %v", ids)
	}
	if !slices.Contains(ids, "zz-new") || slices.Contains(ids, "aa-new") || slices.Contains(ids, dropped) {
		t.Fatalf("after the reload the walk should go on in the new set past where it was: %v", ids)
	}
}

// Run with -race: walks while reports and reloads change the devices.
func TestHub_Walk_RaceFreeDuringReportsAndReloads(t *testing.T) {
	h := walkHub(t, 300)
	full := h.Devices()
	half := full[:150]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	repeat := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
					f(i)
				}
			}
		}()
	}
	repeat(func(i int) {
		if err := h.Reconfigure([][]hub.Device{full, half}[i%2], nil); err != nil {
			t.Error(err)
		}
	})
	repeat(func(i int) {
		// A device of the full set may be gone for a while: refused then.
		h.Apply(hub.Report{Device: full[i%len(full)].ID, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 1 + i%100}})
	})
	for range 50 {
		if ids := walkIDs(h); !onceInOrder(ids) || len(ids) < len(half) {
			t.Errorf("a walk during reloads visited %d devices, not once each in id order", len(ids))
			break
		}
	}
	close(stop)
	wg.Wait()
}

// onceInOrder: ids are in increasing order, none twice.
func onceInOrder(ids []string) bool {
	return slices.IsSorted(ids) && len(slices.Compact(slices.Clone(ids))) == len(ids)
}
