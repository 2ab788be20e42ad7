package main

// Daemon-level faults that the packages' own tests do not cover: the Yandex
// notification endpoint down for a long time during a report storm, the
// Alexa API throttling, failing and losing replies during `hubd alexa sync`,
// and goroutine leaks when a serial bus vanishes and returns.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
	"hubd/hub/alexa/alexatest"
)

func TestRun_NotifierEndpointDown_MemoryBoundedAndDeliveryResumes(t *testing.T) {
	t.Parallel() // a child daemon each; the in-process goroutine count test runs alone before
	if testing.Short() {
		t.Skip("runs a storm against a failing endpoint")
	}
	const (
		devices = 20
		outage  = 8 * time.Second
	)
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var calls, failed int
	delivered := map[string]float64{} // device -> last electricity_meter pushed
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		mu.Lock()
		defer mu.Unlock()
		calls++
		if down.Load() {
			failed++
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"request_id":"x","status":"error","error_code":"INTERNAL_ERROR"}`)
			return
		}
		var cb struct {
			Payload struct {
				Devices []yandexDevice `json:"devices"`
			} `json:"payload"`
		}
		if strings.HasSuffix(r.URL.Path, "/callback/state") {
			if err := json.Unmarshal(body, &cb); err != nil {
				t.Errorf("notifier sent a body that is not JSON: %v: %.200s", err, body)
			}
			for _, d := range cb.Payload.Devices {
				if v, ok := floatValue(d, "electricity_meter"); ok {
					delivered[d.ID] = v
				}
			}
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"request_id":"x","status":"ok"}`)
	}))
	defer notify.Close()

	dir := t.TempDir()
	broker := freePort(t)
	specs := tasmotaSockets("notify", devices)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "notify-pass", specs, func(c *Config) {
		c.Log.Level = "info"
		c.Yandex.Notify = &NotifyConfig{URL: notify.URL, SkillID: "skill", OAuthToken: "owner-token", UserID: "owner"}
	})
	d := startDaemon(t, "run", "-config", cfg)
	pub, err := mqttConnect(broker, "storm", "hubd", "notify-pass", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(0)

	// The storm: every device's energy counts up, 2,000 reports a second,
	// for the whole outage.
	last := make([]int, devices)
	var rss []int64
	var maxPending float64
	start := time.Now()
	nextSample := start
	sent := 0
	for time.Since(start) < outage {
		for i, s := range specs {
			last[i]++
			pub.Publish("tele/"+s.Name+"/SENSOR", 0, false, fmt.Sprintf(`{"ENERGY":{"Total":%d,"Power":3}}`, last[i]))
			sent++
		}
		time.Sleep(10 * time.Millisecond)
		if time.Now().After(nextSample) {
			nextSample = nextSample.Add(time.Second)
			m := mustScrape(t, d.addr)
			p := m.sum("hubd_notifications_pending")
			maxPending = max(maxPending, p)
			// Pending counts device fields: the notifier keeps the last
			// value of each, so the bound is devices x fields.
			if p > devices*float64(hub.NumFields) {
				t.Fatalf("%v pending notifications for %d devices: the queue grows with the outage", p, devices)
			}
			if kb, err := rssKB(d.cmd.Process.Pid); err == nil {
				rss = append(rss, kb)
			}
		}
	}
	m := mustScrape(t, d.addr)
	mu.Lock()
	failedCalls := failed
	mu.Unlock()
	if failedCalls == 0 || m.sum("hubd_notifications_total", `result="failed"`) == 0 {
		t.Fatalf("the notifier never tried during the outage (endpoint saw %d failed calls, metrics %v)", failedCalls, m.sum("hubd_notifications_total", `result="failed"`))
	}
	if len(rss) >= 4 {
		// Memory rises while the daemon warms up (the race detector
		// multiplies it); it must not track the outage: the second half
		// of the outage may not need more than the first half plus
		// 16 MiB, far beyond what 20 pending devices can hold.
		h := len(rss) / 2
		if grow := slices.Max(rss[h:]) - slices.Max(rss[:h]); grow > 16<<10 {
			t.Errorf("resident memory grew by %d KiB in the second half of the outage: %v", grow, rss)
		}
	}

	// The endpoint recovers: the latest value of every device arrives.
	down.Store(false)
	recovered := time.Now()
	eventually(t, 60*time.Second, "every device's last value delivered after the endpoint recovered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i, s := range specs {
			if delivered[s.ID] != float64(last[i]) {
				return false
			}
		}
		return true
	})
	took := time.Since(recovered)
	m = mustScrape(t, d.addr)
	if p := m.sum("hubd_notifications_pending"); p != 0 {
		t.Errorf("%v notifications still pending after delivery", p)
	}
	t.Logf("outage %v: %d reports, %d failed pushes, at most %v pending, RSS samples (KiB) %v; all %d devices' last values delivered %v after recovery",
		outage, sent, failedCalls, maxPending, rss, devices, took.Round(time.Millisecond))
}

// TestAlexaSync_APIFaults_ConvergesWithoutDuplicates runs the real
// `hubd alexa sync` against the simulator while it throttles (429 with
// Retry-After), fails (500) and loses create replies (the unit is made but
// the connection drops): repeated runs converge to exactly the site, with
// no unit created twice.
func TestAlexaSync_APIFaults_ConvergesWithoutDuplicates(t *testing.T) {
	t.Parallel() // a child daemon each; the in-process goroutine count test runs alone before
	sim := alexatest.New(alexatest.Options{DiscoveryPolls: 1})
	defer sim.Close()
	dir := t.TempDir()
	room := func(id, name string, devs ...string) *NodeConfig {
		return &NodeConfig{ID: id, Name: name, Kind: "room", Devices: devs}
	}
	writeCfg := func(floors ...*NodeConfig) string {
		return mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "alexa-pass", tasmotaSockets("alexa", 2), func(c *Config) {
			c.Log.Level = "warn"
			c.Site = []*NodeConfig{{ID: "hq", Name: "HQ", Kind: "building", Children: floors}}
			c.Alexa = &AlexaConfig{
				Region: "NA", APIURL: sim.URL(), TokenURL: sim.TokenURL(),
				ClientID: alexatest.DemoClientID, ClientSecret: alexatest.DemoClientSecret, RefreshToken: alexatest.DemoRefreshToken,
				ParentID: alexatest.DemoOrg, SkillID: alexatest.DemoSkill, SkillStage: "development", SubscriptionSkillID: alexatest.DemoSubscriptionSkill, SyncInterval: time.Minute,
			}
		})
	}
	hubd := func(args ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), e2eArgsEnv+"="+strings.Join(args, "\x1f"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("hubd %v did not finish in 90s:\n%s", args, out.String())
			return "", nil
		}
	}
	// syncUntilOK runs `hubd alexa sync` under faults, then without, until it
	// succeeds; no unit may ever exist twice.
	syncUntilOK := func(stage string, cfg string, faults func()) {
		t.Helper()
		for run := range 4 {
			if run == 0 {
				faults()
			} else {
				sim.FailEvery(0, 0)
			}
			began := time.Now()
			out, err := hubd("alexa", "sync", "-config", cfg)
			if paths := sim.Paths(); len(slices.Compact(slices.Clone(paths))) != len(paths) {
				t.Fatalf("%s, run %d: a unit exists twice: %v\n%s", stage, run, paths, out)
			}
			t.Logf("%s, run %d (%v): err %v, %d units, %d create replies lost so far; last words: %s", stage, run, time.Since(began).Round(time.Millisecond), err, sim.UnitCount(), sim.LostReplies(), lastLine(out))
			if err == nil {
				return
			}
		}
		t.Fatalf("%s: alexa sync never succeeded", stage)
	}
	check := func(stage, cfg string, want []string) {
		t.Helper()
		sim.FailEvery(0, 0)
		if got := sim.Paths(); !slices.Equal(got, want) {
			t.Fatalf("%s: units %v, want %v", stage, got, want)
		}
		out, err := hubd("alexa", "plan", "-config", cfg)
		if err != nil || !strings.Contains(out, "nothing to do") {
			t.Fatalf("%s: the plan still has work (%v):\n%s", stage, err, out)
		}
	}

	// First sync: every 3rd call fails with 500, two create replies are lost.
	cfg := writeCfg(
		&NodeConfig{ID: "f1", Name: "Floor 1", Kind: "floor", Children: []*NodeConfig{room("r101", "Room 101", "alexa-00"), room("r102", "Room 102"), room("r103", "Room 103")}},
		&NodeConfig{ID: "f2", Name: "Floor 2", Kind: "floor", Children: []*NodeConfig{room("r201", "Room 201"), room("r202", "Room 202")}},
	)
	syncUntilOK("first sync", cfg, func() {
		sim.FailEvery(3, http.StatusInternalServerError)
		sim.SetRetryAfter("0")
		sim.LoseCreateReplies(2)
	})
	check("first sync", cfg, []string{"HQ", "HQ/Floor 1", "HQ/Floor 1/Room 101", "HQ/Floor 1/Room 102", "HQ/Floor 1/Room 103", "HQ/Floor 2", "HQ/Floor 2/Room 201", "HQ/Floor 2/Room 202"})

	// The building changes: a room is added, one renamed, one removed;
	// every 2nd call is throttled and one create reply is lost.
	cfg = writeCfg(
		&NodeConfig{ID: "f1", Name: "Floor 1", Kind: "floor", Children: []*NodeConfig{room("r101", "Room 101", "alexa-00"), room("r102", "Room 102"), room("r103", "Room 103a"), room("r104", "Room 104")}},
		&NodeConfig{ID: "f2", Name: "Floor 2", Kind: "floor", Children: []*NodeConfig{room("r201", "Room 201")}},
	)
	syncUntilOK("changed site", cfg, func() {
		sim.FailEvery(2, http.StatusTooManyRequests)
		sim.SetRetryAfter("0")
		sim.LoseCreateReplies(1)
	})
	check("changed site", cfg, []string{"HQ", "HQ/Floor 1", "HQ/Floor 1/Room 101", "HQ/Floor 1/Room 102", "HQ/Floor 1/Room 103a", "HQ/Floor 1/Room 104", "HQ/Floor 2", "HQ/Floor 2/Room 201"})
	if sim.LostReplies() < 3 {
		t.Fatalf("%d create replies lost, want 3: the test proved nothing about lost replies", sim.LostReplies())
	}
}

// TestDemo_BusVanishesAndReturns_NoGoroutineLeak stops and restarts the
// demo's serial PTY three times and checks that the daemon's goroutines
// come back to where they were.
func TestDemo_BusVanishesAndReturns_NoGoroutineLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("cycles the serial bus")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	addr, _, h := startDemo(t, DemoOptions{})
	ids := []string{"lamp-1", "socket-1"}
	online := func() bool {
		q, err := queryRaw(client, addr, ids)
		return err == nil && q["lamp-1"].ErrorCode == "" && q["socket-1"].ErrorCode == "" && len(q["lamp-1"].Capabilities) > 0
	}
	eventually(t, 15*time.Second, "serial devices online", online)

	// settled samples the goroutine count until it stops falling.
	settled := func() int {
		n := runtime.NumGoroutine()
		for range 10 {
			time.Sleep(200 * time.Millisecond)
			n = min(n, runtime.NumGoroutine())
		}
		return n
	}
	base := settled()
	const cycles = 3
	for c := range cycles {
		if err := h.Stop(); err != nil {
			t.Fatal(err)
		}
		eventually(t, demoUnreachableBound+5*time.Second, "devices unreachable", func() bool {
			q, err := queryRaw(client, addr, ids)
			return err == nil && q["lamp-1"].ErrorCode == "DEVICE_UNREACHABLE"
		})
		if err := h.Restart(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, fmt.Sprintf("devices back (cycle %d)", c), online)
	}
	// Leaks do not go away; noise does. Allow a few for timers and the
	// demo's own emulators that happen to be mid-report.
	const slack = 5
	var after int
	deadline := time.Now().Add(15 * time.Second)
	for {
		after = settled()
		if after <= base+slack || time.Now().After(deadline) {
			break
		}
	}
	if after > base+slack {
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("goroutines %d before %d bus cycles, %d after: a leak\n%s", base, cycles, after, buf.String())
	}
	t.Logf("goroutines %d before %d bus vanish/return cycles, %d after", base, cycles, after)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
