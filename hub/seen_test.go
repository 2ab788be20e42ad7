package hub_test

import (
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// putLog is a store that keeps every snapshot put, in order, and tells a
// channel about each.
type putLog struct {
	memStore
	mu   sync.Mutex
	puts []hub.Snapshot
	c    chan hub.Snapshot
}

func newPutLog() *putLog { return &putLog{c: make(chan hub.Snapshot, 1024)} }

func (p *putLog) Put(id string, s hub.Snapshot) {
	p.memStore.Put(id, s)
	p.mu.Lock()
	p.puts = append(p.puts, s)
	p.mu.Unlock()
	p.c <- s
}

func (p *putLog) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.puts)
}

// next is the next snapshot put, or fails the test after 5 s.
func (p *putLog) next(t *testing.T) hub.Snapshot {
	t.Helper()
	select {
	case s := <-p.c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("nothing put within 5 s")
		return hub.Snapshot{}
	}
}

var seenT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func onReport(at time.Time, bri int) hub.Report {
	return hub.Report{Device: "lamp-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: bri}}
}

func TestHub_SeenOnlyReports_AreNotPutOneByOne(t *testing.T) {
	st := newPutLog()
	h := newHub(t, hub.Options{Store: st, SeenEvery: time.Hour})
	h.Apply(onReport(seenT0, 40))
	if s := st.next(t); s.State.Brightness != 40 || !s.LastSeen.Equal(seenT0) {
		t.Fatalf("first put %+v", s)
	}
	for i := 1; i <= 50; i++ {
		h.Apply(onReport(seenT0.Add(time.Duration(i)*time.Second), 40)) // the same state again: only seen
	}
	// The marker: a real change, which must be the very next put and
	// carry the newest time the lamp was seen.
	last := seenT0.Add(51 * time.Second)
	h.Apply(onReport(last, 70))
	if s := st.next(t); s.State.Brightness != 70 || !s.LastSeen.Equal(last) {
		t.Fatalf("put after 50 seen-only reports: brightness %d, last seen %v; want the change at %v", s.State.Brightness, s.LastSeen, last)
	}
	if n := st.count(); n != 2 {
		t.Fatalf("%d puts for 2 changes and 50 seen-only reports", n)
	}
}

func TestHub_SeenOnlyReports_ReachTheStoreWithinSeenEvery(t *testing.T) {
	st := newPutLog()
	h := newHub(t, hub.Options{Store: st, SeenEvery: 20 * time.Millisecond})
	h.Apply(onReport(seenT0, 40))
	st.next(t)
	seen := seenT0.Add(10 * time.Second)
	h.Apply(onReport(seen, 40))
	s := st.next(t)
	if !s.LastSeen.Equal(seen) || !s.State.Updated[hub.FieldBrightness].Time().Equal(seen) || s.State.Brightness != 40 {
		t.Fatalf("flushed %+v; want last seen and brightness updated at %v", s, seen)
	}
}

func TestHub_Close_PutsSeenOnlyChanges(t *testing.T) {
	st := newPutLog()
	h, err := hub.New([]hub.Device{lamp("lamp-1"), socket("socket-1")}, demoSite(), hub.Options{Store: st, SeenEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.Apply(onReport(seenT0, 40))
	seen := seenT0.Add(time.Minute)
	h.Apply(onReport(seen, 40))
	h.Close()
	h2 := newHub(t, hub.Options{Store: st, SeenEvery: time.Hour})
	if _, s, _ := h2.Snapshot("lamp-1"); !s.LastSeen.Equal(seen) {
		t.Fatalf("after a clean close the store has lamp-1 last seen %v, want %v", s.LastSeen, seen)
	}
	// Reports after Close are put at once: nothing would flush them.
	late := seen.Add(time.Second)
	h.Apply(onReport(late, 40))
	if saved, _ := st.LoadAll(); !saved["lamp-1"].LastSeen.Equal(late) {
		t.Fatalf("a seen-only report after Close was not put (store has %v)", saved["lamp-1"].LastSeen)
	}
}

func TestHub_SeenEveryNegative_PutsEveryReport(t *testing.T) {
	st := newPutLog()
	h := newHub(t, hub.Options{Store: st, SeenEvery: -1})
	for i := range 5 {
		h.Apply(onReport(seenT0.Add(time.Duration(i)*time.Second), 40))
	}
	for i := range 5 {
		if s := st.next(t); !s.LastSeen.Equal(seenT0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("put %d: last seen %v", i, s.LastSeen)
		}
	}
}

// seqStore fails when a device's snapshots are put out of order: Seq
// grows with every change, and a seen-only put carries the Seq of the
// change before it.
type seqStore struct {
	memStore
	mu       sync.Mutex
	last     map[string]uint64
	backward int
}

func (p *seqStore) Put(id string, s hub.Snapshot) {
	p.mu.Lock()
	if s.Seq < p.last[id] {
		p.backward++
	}
	p.last[id] = max(p.last[id], s.Seq)
	p.mu.Unlock()
	p.memStore.Put(id, s)
}

// The flush and Apply race for the same device; whatever the
// interleaving, the store must never be handed an older snapshot after a
// newer one, and must end with the hub's last state.
func TestHub_SeenFlush_NeverPutsAnOlderSnapshotAfterANewer(t *testing.T) {
	st := &seqStore{last: map[string]uint64{}}
	h, err := hub.New([]hub.Device{lamp("lamp-1"), socket("socket-1")}, demoSite(), hub.Options{Store: st, SeenEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; time.Since(start) < 300*time.Millisecond; i++ {
		bri := 1 + i/3%100 // each value is reported three times: one change, two seen-only
		h.Apply(onReport(seenT0.Add(time.Duration(i)*time.Millisecond), bri))
	}
	_, want, _ := h.Snapshot("lamp-1")
	h.Close()
	if st.backward > 0 {
		t.Fatalf("%d snapshots put after a newer one of the same device", st.backward)
	}
	got, _ := st.LoadAll()
	if s := got["lamp-1"]; s.State.Brightness != want.State.Brightness || !s.LastSeen.Equal(want.LastSeen) || s.Seq != want.Seq {
		t.Fatalf("store ends with brightness %d seen %v seq %d; the hub had %d seen %v seq %d",
			s.State.Brightness, s.LastSeen, s.Seq, want.State.Brightness, want.LastSeen, want.Seq)
	}
}
