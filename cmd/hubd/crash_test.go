package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hubd/hub"
	"hubd/store"
)

// ackWindow is how long after the daemon served a value that value must be
// in the bbolt file: one flush interval of the store's coalescing writer
// (100 ms) plus a commit with its two fsyncs, with room for a loaded
// machine.
const ackWindow = 100*time.Millisecond + 400*time.Millisecond

// TestRun_KillNineDuringReportStorm_NeverLosesAcknowledgedState runs the
// real daemon (`hubd run`, embedded broker on a fixed port) and, 20 times,
// kills it with SIGKILL at a random moment of a report storm: Tasmota plugs
// whose ENERGY.Total counts up by one with every message, while
// devices/query polls the served values. After every kill the bbolt file
// must open, pass bbolt's consistency check and hold, for every device, a
// value the storm really sent that is at least as new as what the daemon
// served more than ackWindow before the kill. The restarted daemon must
// then serve exactly what the file holds, before any new report arrives.
func TestRun_KillNineDuringReportStorm_NeverLosesAcknowledgedState(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	if testing.Short() {
		t.Skip("kills and restarts the daemon 20 times")
	}
	const (
		rounds  = 20
		devices = 16
		user    = "hubd"
		pass    = "crash-pass"
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 7))

	dir := t.TempDir()
	broker := freePort(t)
	specs := tasmotaSockets("crash", devices)
	ids := make([]string, devices)
	for i, s := range specs {
		ids[i] = s.ID
	}
	cfg := mqttRunConfig(t, dir, broker, user, pass, specs, nil)
	dbPath := filepath.Join(dir, "data", "hubd.db")

	// next[i] is the next counter value of device i: everything in
	// [1, next[i]) was sent, nothing else.
	var mu sync.Mutex
	next := make([]float64, devices)
	for i := range next {
		next[i] = 1
	}
	wasSent := func(i int, v float64) bool {
		mu.Lock()
		defer mu.Unlock()
		return v >= 1 && v < next[i] && v == math.Trunc(v)
	}
	stored := map[string]float64{} // what the file held after the last kill

	var checked, nonTrivial int
	for round := range rounds {
		roundStart := time.Now()
		d := startDaemon(t, "run", "-config", cfg)
		started := time.Since(roundStart)

		// Restart: the file's values are served at once.
		first, err := queryRaw(faultClient, d.addr, ids)
		if err != nil {
			t.Fatalf("round %d: query after restart: %v", round, err)
		}
		for id, want := range stored {
			got, ok := floatValue(first[id], "electricity_meter")
			if !ok || got != want {
				t.Fatalf("round %d: after restart %s serves %v (present %v), the file held %v: %+v", round, id, got, ok, want, first[id])
			}
		}
		type seen struct {
			at   time.Time
			vals map[string]float64
		}
		observe := func(q map[string]yandexDevice) (map[string]float64, error) {
			vals := map[string]float64{}
			for i, id := range ids {
				v, ok := floatValue(q[id], "electricity_meter")
				if !ok {
					continue
				}
				if !wasSent(i, v) {
					return nil, fmt.Errorf("%s served %v, a value never sent", id, v)
				}
				vals[id] = v
			}
			return vals, nil
		}
		v0, err := observe(first)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		seens := []seen{{time.Now(), v0}}

		connStart := time.Now()
		pub, err := mqttConnect(broker, fmt.Sprintf("storm-%d", round), user, pass, 10*time.Second)
		if err != nil {
			t.Fatalf("round %d: storm client: %v", round, err)
		}
		connTook := time.Since(connStart)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // the storm: every 5 ms one report per device
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for i, s := range specs {
					mu.Lock()
					v := next[i]
					next[i]++
					mu.Unlock()
					pub.Publish("tele/"+s.Name+"/SENSOR", 0, false, fmt.Sprintf(`{"ENERGY":{"Total":%.0f,"Power":5}}`, v))
				}
			}
		}()
		var pollErr error
		var seenMu sync.Mutex
		go func() { // the poller: what the daemon serves, and when
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				q, err := queryRaw(faultClient, d.addr, ids)
				at := time.Now()
				if err != nil {
					return // killed
				}
				vals, err := observe(q)
				seenMu.Lock()
				if err != nil && pollErr == nil {
					pollErr = err
				}
				seens = append(seens, seen{at, vals})
				seenMu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()

		time.Sleep(time.Duration(200+rnd.IntN(1300)) * time.Millisecond)
		killAt := time.Now()
		d.kill()
		close(stop)
		wg.Wait()
		pub.Disconnect(0)
		stopped := time.Since(killAt)
		if pollErr != nil {
			t.Fatalf("round %d: %v", round, pollErr)
		}

		// What had to be in the file: the newest values served before
		// killAt - ackWindow.
		need := map[string]float64{}
		for _, s := range seens {
			if s.at.After(killAt.Add(-ackWindow)) {
				continue
			}
			for id, v := range s.vals {
				need[id] = max(need[id], v)
			}
		}

		db, err := store.Open(dbPath, store.Options{LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: the store does not open after kill -9: %v", round, err)
		}
		if err := db.Check(); err != nil {
			db.Close()
			t.Fatalf("round %d: consistency check after kill -9: %v", round, err)
		}
		snaps, err := db.LoadAll()
		db.Close()
		if err != nil {
			t.Fatalf("round %d: load after kill -9: %v", round, err)
		}
		stored = map[string]float64{}
		for i, id := range ids {
			s, ok := snaps[id]
			if !ok || !s.State.Set.Has(hub.FieldEnergy) {
				if _, must := need[id]; must {
					t.Fatalf("round %d: %s has no stored energy, but %v was served more than %v before the kill", round, id, need[id], ackWindow)
				}
				continue
			}
			v := s.State.Energy
			if !wasSent(i, v) {
				t.Fatalf("round %d: %s stored %v, a value never sent", round, id, v)
			}
			if v < need[id] {
				t.Fatalf("round %d: %s stored %v, older than %v served more than %v before the kill", round, id, v, need[id], ackWindow)
			}
			stored[id] = v
			checked++
			if need[id] > 0 {
				nonTrivial++
			}
		}
		t.Logf("round %2d: killed after %4dms of storm, %d values stored, %d bounded by a value served before the kill (start %v, connect %v, stop %v, check %v)",
			round, killAt.Sub(seens[0].at).Milliseconds(), len(stored), len(need), started.Round(time.Millisecond), connTook.Round(time.Millisecond), stopped.Round(time.Millisecond), time.Since(killAt).Round(time.Millisecond))
	}
	t.Logf("%d kills: file opened and passed the check every time; %d stored values checked, %d against an earlier served value", rounds, checked, nonTrivial)
	if nonTrivial == 0 {
		t.Fatal("no stored value was ever bounded by a served value: the test proved nothing")
	}
}
