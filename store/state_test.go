package store

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"hubd/hub"
)

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDB_Put_SurvivesCloseAndOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]hub.Snapshot{}
	for i := range 300 {
		s := snap(i, uint64(i*3))
		db.Put(devID(i), s)
		want[devID(i)] = s
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestAt(t, path, Options{})
	got, err := db.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("LoadAll: %d devices, want %d", len(got), len(want))
	}
	for id, w := range want {
		if !sameSnapshot(got[id], w) {
			t.Errorf("%s: got %+v, want %+v", id, got[id], w)
		}
	}
}

func TestDB_Put_KeepsLastValue(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Hour})
	for seq := range uint64(1000) {
		db.Put("lamp-1", snap(1, seq))
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	got, _ := db.LoadAll()
	if got["lamp-1"].Seq != 999 {
		t.Errorf("stored seq = %d, want 999", got["lamp-1"].Seq)
	}
	st := db.Stats()
	if st.Puts != 1000 || st.Committed != 1 || st.Coalesced != 999 || st.Batches != 1 || st.Pending != 0 {
		t.Errorf("stats = %+v, want 1000 puts coalesced into one committed snapshot", st)
	}
	if db.Committed() != 1 {
		t.Errorf("Committed() = %d", db.Committed())
	}
}

func TestDB_Put_CoalescedRecordsOfAnyLengthKeepTheLast(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Hour})
	// Records grow and shrink between coalesced puts (firmware strings
	// come and go), so that a replacement is written both over the old
	// record and into a new one.
	for round, lens := range [][]int{{0, 200, 3, 900, 1}, {50, 10}, {1000, 0}} {
		var last hub.Snapshot
		for k, n := range lens {
			last = snap(1, uint64(round*10+k))
			last.Info.Firmware = strings.Repeat("v", n)
			db.Put("lamp-1", last)
			db.Put("lamp-2", snap(2, uint64(k)))
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := db.LoadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !sameSnapshot(got["lamp-1"], last) {
			t.Fatalf("round %d: stored %+v, want %+v", round, got["lamp-1"], last)
		}
		if want := snap(2, uint64(len(lens)-1)); !sameSnapshot(got["lamp-2"], want) {
			t.Fatalf("round %d: lamp-2 stored %+v, want %+v", round, got["lamp-2"], want)
		}
	}
}

func TestDB_Put_CommitsWithinFlushInterval(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: 20 * time.Millisecond})
	db.Put("socket-1", snap(1, 1))
	waitFor(t, "the writer to commit without Flush", func() bool { return db.Committed() == 1 })
	got, _ := db.LoadAll()
	if got["socket-1"].Seq != 1 {
		t.Errorf("stored %+v", got["socket-1"])
	}
}

func TestDB_Put_FullBatchCommitsBeforeInterval(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Hour, MaxBatch: 50})
	for i := range 49 {
		db.Put(devID(i), snap(i, 1))
	}
	// 49 pending: under MaxBatch, so nothing is due for an hour. Once the
	// writer is waiting out its interval, a commit could only come from
	// a kick.
	waitFor(t, "the writer to hold the batch back", func() bool { return db.w.gathering.Load() > 0 })
	if n := db.Committed(); n != 0 {
		t.Fatalf("committed %d before the batch was full", n)
	}
	db.Put(devID(49), snap(49, 1))
	waitFor(t, "a full batch to commit", func() bool { return db.Committed() == 50 })
	if st := db.Stats(); st.Batches != 1 || st.LastBatch != 50 {
		t.Errorf("stats = %+v, want one batch of 50", st)
	}
}

func TestDB_Flush_CoversConcurrentPuts(t *testing.T) {
	db := openTest(t, Options{NoSync: true, MaxBatch: 64})
	const writers, per = 4, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				id := devID(g*per + i)
				db.Put(id, snap(i, uint64(i)))
				if i%100 == 99 {
					if err := db.Flush(); err != nil {
						t.Error(err)
					}
					// Everything this goroutine put is on disk now.
					all, err := db.LoadAll()
					if err != nil {
						t.Error(err)
						return
					}
					for j := 0; j <= i; j++ {
						if _, ok := all[devID(g*per+j)]; !ok {
							t.Errorf("%s put before Flush is not stored", devID(g*per+j))
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	all, _ := db.LoadAll()
	if len(all) != writers*per {
		t.Errorf("stored %d devices, want %d", len(all), writers*per)
	}
	if st := db.Stats(); st.Committed+st.Coalesced != st.Puts {
		t.Errorf("stats do not add up: %+v", st)
	}
}

func TestDB_Flush_OnIdleStoreReturns(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Hour})
	for range 3 {
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDB_Commit_FailureKeepsBatchAndRetries(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: 10 * time.Millisecond})
	diskFull := errors.New("no space left on device")
	db.w.mu.Lock()
	db.w.failNext = func() error { return diskFull }
	db.w.mu.Unlock()

	db.Put("lamp-1", snap(1, 1))
	db.Put("lamp-2", snap(2, 1))
	err := db.Flush()
	if !errors.Is(err, diskFull) || !strings.HasPrefix(err.Error(), "store: commit") {
		t.Fatalf("Flush while commits fail = %v, want the disk error", err)
	}
	// A newer state of lamp-1 arrives while the disk is stuck; the failed
	// batch must not overwrite it.
	db.Put("lamp-1", snap(1, 2))
	st := db.Stats()
	if st.WriteErrors == 0 || st.Pending != 2 || !strings.Contains(st.LastError, "no space") {
		t.Errorf("stats while failing = %+v", st)
	}
	db.w.mu.Lock()
	db.w.failNext = nil
	db.w.mu.Unlock()
	waitFor(t, "the retry to commit", func() bool { return db.Committed() == 2 })
	got, _ := db.LoadAll()
	if got["lamp-1"].Seq != 2 || got["lamp-2"].Seq != 1 {
		t.Errorf("after retry: lamp-1 seq %d (want 2), lamp-2 seq %d (want 1)", got["lamp-1"].Seq, got["lamp-2"].Seq)
	}
	if st := db.Stats(); st.LastError != "" {
		t.Errorf("LastError not cleared after a success: %q", st.LastError)
	}
}

func TestDB_Put_StuckDiskKeepsMemoryBounded(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Millisecond, MaxBatch: 10})
	db.w.mu.Lock()
	db.w.failNext = func() error { return errors.New("I/O error") }
	db.w.mu.Unlock()
	for seq := range uint64(20000) {
		db.Put(devID(int(seq%100)), snap(int(seq%100), seq))
	}
	if st := db.Stats(); st.Pending != 100 {
		t.Errorf("pending = %d while the disk is stuck, want one per device (100)", st.Pending)
	}
	db.w.mu.Lock()
	db.w.failNext = nil
	db.w.mu.Unlock()
	if err := db.Close(); err != nil {
		t.Fatalf("Close after the disk recovered: %v", err)
	}
}

func TestDB_LoadAll_SkipsUndecodableRecords(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	db.Put("good", snap(1, 5))
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	err := db.update("test", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte("bad"), []byte("garbage"))
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := db.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["bad"]; ok || all["good"].Seq != 5 || len(all) != 1 {
		t.Errorf("LoadAll = %v, want only the good record", all)
	}
	if st := db.Stats(); st.BadRecords != 1 {
		t.Errorf("BadRecords = %d, want 1", st.BadRecords)
	}
}

func TestDB_Put_BadIDIsDroppedNotPoisoningTheBatch(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	db.Put("", snap(1, 1))
	db.Put(strings.Repeat("x", MaxKeyLen+1), snap(1, 1))
	db.Put("ok", snap(1, 1))
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Dropped != 2 || st.Committed != 1 {
		t.Errorf("stats = %+v, want 2 dropped, 1 committed", st)
	}
}

func TestDB_Delete_RemovesState(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	db.Put("a", snap(1, 1))
	db.Put("b", snap(2, 1))
	db.Flush()
	if err := db.Delete("a"); err != nil {
		t.Fatal(err)
	}
	all, _ := db.LoadAll()
	if _, ok := all["a"]; ok || len(all) != 1 {
		t.Errorf("LoadAll after Delete = %v", all)
	}
}

// TestHub_New_RestoresStateFromStore runs the real hub over the store:
// reports applied before a restart are served after it.
func TestHub_New_RestoresStateFromStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	devs := []hub.Device{
		{ID: "lamp-1", Kind: hub.KindLight, Driver: "serial", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500},
		{ID: "socket-1", Kind: hub.KindSocket, Driver: "serial", Fields: hub.Fields(hub.FieldOn).Union(hub.MeterFields)},
	}
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(devs, nil, hub.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	reports := []hub.Report{
		{Device: "lamp-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 40}},
		{Device: "lamp-1", At: at.Add(time.Second), State: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 3400, Mode: hub.ColorModeTemperature},
			Info: &hub.Info{Manufacturer: "Acme", Firmware: "2.0"}},
		{Device: "socket-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), On: true, Power: 60.5, Energy: 1.25}},
	}
	for _, r := range reports {
		if err := h.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	_, before, _ := h.Snapshot("lamp-1")
	h = restartHub(t, h, db, path, devs)
	dev, after, ok := h.Snapshot("lamp-1")
	if !ok || !sameSnapshot(after, before) {
		t.Errorf("lamp-1 after restart = %+v, want %+v", after, before)
	}
	if dev.Info.Firmware != "2.0" {
		t.Errorf("lamp-1 info after restart = %+v", dev.Info)
	}
	_, sock, _ := h.Snapshot("socket-1")
	if !sock.State.On || sock.State.Power != 60.5 || sock.State.Energy != 1.25 || !sock.LastSeen.Equal(at) {
		t.Errorf("socket-1 after restart = %+v", sock)
	}
}

func TestDB_Put_DoesNotWaitForAStuckCommit(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Millisecond})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	db.w.mu.Lock()
	db.w.failNext = func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release // the disk hangs inside the write transaction
		return nil
	}
	db.w.mu.Unlock()

	db.Put("first", snap(0, 1))
	<-entered
	// The writer is stuck in a commit; Put must still return at once.
	for i := range 5000 {
		db.Put(devID(i), snap(i, 2))
	}
	if st := db.Stats(); st.Puts != 5001 || st.Pending != 5001 {
		t.Errorf("while stuck: %+v, want 5001 puts pending", st)
	}
	db.w.mu.Lock()
	db.w.failNext = nil
	db.w.mu.Unlock()
	close(release)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.LoadAll(); len(all) != 5001 {
		t.Errorf("stored %d devices, want 5001", len(all))
	}
}

// What a device said it can do survives a restart: the restarted hub
// offers the learned capabilities and range at once, before the device
// says them again; a device whose config pins them keeps the config's.
func TestHub_LearnedCapsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	devs := []hub.Device{
		{ID: "ct", Kind: hub.KindLight, Driver: "mqtt", Address: "z2m:ct", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500},
		{ID: "pinned", Kind: hub.KindLight, Driver: "mqtt", Address: "z2m:p", Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness), Pinned: hub.PinFields},
	}
	learned := hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 2203, TempMaxK: 4000}
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(devs, nil, hub.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ct", "pinned"} {
		if err := h.Apply(hub.Report{Device: id, Avail: hub.AvailOnline, Caps: &learned}); err != nil {
			t.Fatal(err)
		}
	}
	h = restartHub(t, h, db, path, devs)
	ct, _ := h.Device("ct")
	if ct.Fields != learned.Fields || ct.TempMinK != 2203 || ct.TempMaxK != 4000 {
		t.Errorf("ct after restart: %s %d..%d K, want %s", ct.Fields, ct.TempMinK, ct.TempMaxK, learned)
	}
	if c, ok := h.Reported("ct"); !ok || c != learned {
		t.Errorf("ct's report after restart: %+v %v", c, ok)
	}
	if p, _ := h.Device("pinned"); p.Fields != hub.Fields(hub.FieldOn, hub.FieldBrightness) {
		t.Errorf("pinned device after restart: %s", p.Fields)
	}
}

// restartHub closes h and its store db, as a stopping daemon does, and
// starts a hub with devs over the same file again (closed with the test).
func restartHub(t *testing.T, h *hub.Hub, db *DB, path string, devs []hub.Device) *hub.Hub {
	t.Helper()
	h.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestAt(t, path, Options{NoSync: true})
	h, err := hub.New(devs, nil, hub.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
