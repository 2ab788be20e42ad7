package hub

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// idLog is a store that records the ids put, in order.
type idLog struct {
	mu   sync.Mutex
	ids  []string
	seen map[string]time.Time
}

func (l *idLog) Put(id string, s Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
	l.seen[id] = s.LastSeen
}

func (l *idLog) LoadAll() (map[string]Snapshot, error) { return nil, nil }

// take returns the ids put since the last take.
func (l *idLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.ids
	l.ids = nil
	return ids
}

func TestSeenStepping_AShareEverySecondOrMore(t *testing.T) {
	for _, c := range []struct {
		every, step time.Duration
		steps       int
	}{
		{time.Minute, 5 * time.Second, 12},
		{time.Hour, 5 * time.Minute, 12},
		{5 * time.Second, time.Second, 5},
		{20 * time.Millisecond, 20 * time.Millisecond, 1},
	} {
		step, steps := seenStepping(c.every)
		if step != c.step || steps != c.steps || step*time.Duration(steps) > c.every {
			t.Errorf("SeenEvery %v: %d steps of %v; want %d of %v, within it", c.every, steps, step, c.steps, c.step)
		}
	}
}

// Each step puts the seen-only changes of one share of the devices, in id
// order, and a cycle of shares puts every device's once: 25 devices in 12
// shares are 9 steps of at most 3.
func TestFlushSeenShare_EveryDeviceOnceACycleAShareAtATime(t *testing.T) {
	var devs []Device
	for i := range 25 {
		devs = append(devs, Device{ID: fmt.Sprintf("dev-%02d", i), Kind: KindSocket, Driver: "test", Fields: Fields(FieldOn)})
	}
	st := &idLog{seen: map[string]time.Time{}}
	h, err := New(devs, nil, Options{Store: st, SeenEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(10 * time.Second)} { // a change, then seen only
		for _, d := range devs {
			if err := h.Apply(Report{Device: d.ID, At: at, State: State{Set: Fields(FieldOn), On: true}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := st.take(); len(got) != len(devs) {
		t.Fatalf("%d puts for %d changes and as many seen-only reports", len(got), len(devs))
	}
	var cycle []string
	next := ""
	for step := 1; ; step++ {
		next = h.flushSeenShare(next, seenSteps)
		share := st.take()
		if len(share) > 3 {
			t.Fatalf("step %d put %d devices %v; a share of 25 in 12 is at most 3", step, len(share), share)
		}
		cycle = append(cycle, share...)
		if next == "" {
			if step != 9 {
				t.Fatalf("a cycle of %d steps; want 9", step)
			}
			break
		}
		if step > seenSteps {
			t.Fatalf("no end of the cycle after %d steps", step)
		}
	}
	want := make([]string, len(devs))
	for i, d := range devs {
		want[i] = d.ID
	}
	if !slices.Equal(cycle, want) {
		t.Fatalf("a cycle put %v; want every device once in id order", cycle)
	}
	for id, at := range st.seen {
		if !at.Equal(t0.Add(10 * time.Second)) {
			t.Fatalf("%s put with last seen %v; want the seen-only report's", id, at)
		}
	}
	// Nothing is left to put: the next cycle puts nothing.
	for range 9 {
		next = h.flushSeenShare(next, seenSteps)
	}
	if got := st.take(); len(got) != 0 {
		t.Fatalf("a second cycle put %v with nothing new", got)
	}
}
