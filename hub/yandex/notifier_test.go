package yandex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
)

// platform is a fake callback endpoint that records what it receives.
type platform struct {
	srv  *httptest.Server
	down atomic.Bool  // answer 503
	hang atomic.Bool  // never answer (until the client gives up)
	hits atomic.Int64 // every request, failed ones included
	// refuse, when set, answers 400 to the bodies it picks.
	refuse atomic.Pointer[func(body []byte) bool]

	mu     sync.Mutex
	states [][]byte
	discos [][]byte
	auth   []string
}

func newPlatform(t *testing.T) *platform {
	p := &platform{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if p.hang.Load() {
			<-r.Context().Done()
			return
		}
		if f := p.refuse.Load(); f != nil && (*f)(body) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"request_id":"x","status":"error","error_code":"BAD_REQUEST","error_message":"refused"}`)
			return
		}
		if p.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"request_id":"x","status":"error","error_code":"INTERNAL_ERROR","error_message":"down"}`)
			return
		}
		p.mu.Lock()
		p.auth = append(p.auth, r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/api/v1/skills/skill-1/callback/state":
			p.states = append(p.states, body)
		case "/api/v1/skills/skill-1/callback/discovery":
			p.discos = append(p.discos, body)
		default:
			p.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		p.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"request_id":"x","status":"ok"}`)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) stateBodies() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.states...)
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func startNotifier(t *testing.T, h *hub.Hub, p *platform, opts NotifierOptions) *Notifier {
	t.Helper()
	opts.BaseURL = p.srv.URL + "/"
	opts.SkillID, opts.OAuthToken, opts.UserID = "skill-1", "owner-token", "alice"
	if opts.Batch == 0 {
		opts.Batch = 100 * time.Millisecond
	}
	n, err := NewNotifier(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	subs := h.Subscribers()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Run subscribes before the test makes changes.
	eventually(t, "the notifier subscribed", func() bool { return h.Subscribers() > subs })
	return n
}

type callbackBody struct {
	TS      float64 `json:"ts"`
	Payload struct {
		UserID  string `json:"user_id"`
		Devices []struct {
			ID           string            `json:"id"`
			Capabilities []json.RawMessage `json:"capabilities"`
			Properties   []json.RawMessage `json:"properties"`
		} `json:"devices"`
	} `json:"payload"`
}

type stateEntry struct {
	Type  string `json:"type"`
	State struct {
		Instance string          `json:"instance"`
		Value    json.RawMessage `json:"value"`
	} `json:"state"`
}

// instances flattens a callback into device/instance -> raw value, failing
// on a repeated instance.
func instances(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var cb callbackBody
	if err := json.Unmarshal(body, &cb); err != nil {
		t.Fatalf("callback is not JSON: %v: %s", err, body)
	}
	if cb.Payload.UserID != "alice" || cb.TS == 0 {
		t.Errorf("callback payload: %s", body)
	}
	out := map[string]string{}
	for _, d := range cb.Payload.Devices {
		for _, raw := range append(d.Capabilities, d.Properties...) {
			var e stateEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			k := d.ID + "/" + e.State.Instance
			if _, dup := out[k]; dup {
				t.Errorf("instance %s sent twice in one batch: %s", k, body)
			}
			out[k] = string(e.State.Value)
		}
	}
	return out
}

func TestNotifier_Burst_SendsOneBatchWithLastValues(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 300 * time.Millisecond})
	for i := 1; i <= 50; i++ {
		f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: i}})
		f.hub.Apply(hub.Report{Device: "lamp-2", State: hub.State{Set: hub.Fields(hub.FieldTemperatureK), TemperatureK: 3000 + i*10, Mode: hub.ColorModeTemperature}})
		f.hub.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: float64(i) + 0.5}})
	}
	eventually(t, "a state callback", func() bool { return len(p.stateBodies()) > 0 })
	// A marker change after the burst: once its callback is in, every
	// batch of the burst has been sent before it.
	f.hub.Apply(hub.Report{Device: "socket-2", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: 777}})
	eventually(t, "the marker's callback", func() bool {
		bodies := p.stateBodies()
		return len(bodies) > 0 && instances(t, bodies[len(bodies)-1])["socket-2/power"] == "777"
	})
	// A burst that straddles a window boundary may take two batches (the
	// second perhaps with the marker); the last value of each instance
	// must win either way.
	last := map[string]string{}
	burst := 0
	for _, b := range p.stateBodies() {
		got := instances(t, b)
		delete(got, "socket-2/power") // the marker
		if len(got) > 0 {
			burst++
		}
		maps.Copy(last, got)
	}
	if burst > 2 {
		t.Fatalf("a burst of 150 changes took %d callbacks", burst)
	}
	want := map[string]string{"lamp-1/brightness": "50", "lamp-2/temperature_k": "3500", "socket-1/power": "50.5"}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("%s = %q, want %q (integers stay integers)", k, last[k], v)
		}
	}
	if len(last) != len(want) {
		t.Errorf("unchanged values were sent: %v", last)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.auth[0] != "OAuth owner-token" {
		t.Errorf("Authorization = %q", p.auth[0])
	}
}

func TestNotifier_EndpointDown_RetriesWithBoundedMemoryThenDelivers(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	p.down.Store(true)
	n := startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 80 * time.Millisecond})
	maxPending := 0
	for i := 0; i < 2000; i++ {
		f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness, hub.FieldOn), Brightness: i%100 + 1, On: i%2 == 0}})
		f.hub.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.MeterFields, Power: float64(i), Voltage: 230, Current: float64(i) / 230, Energy: float64(i)}})
		if i%100 == 0 {
			maxPending = max(maxPending, n.Status().Pending)
			time.Sleep(5 * time.Millisecond)
		}
	}
	eventually(t, "retries", func() bool { return p.hits.Load() >= 3 })
	st := n.Status()
	if st.Failed < 3 || !strings.Contains(st.LastError, "503") || st.LastErrorAt.IsZero() || st.Sent != 0 {
		t.Errorf("status while down: %+v", st)
	}
	// Bounded by devices x fields, not by the number of changes.
	if maxPending > 2*hub.NumFields || st.Pending > 2*hub.NumFields {
		t.Errorf("pending grew to %d (now %d)", maxPending, st.Pending)
	}
	p.down.Store(false)
	eventually(t, "status catches up", func() bool { s := n.Status(); return s.Sent > 0 && s.Pending == 0 })
	// A batch taken before the outage ended may go first, with older
	// values; what the platform holds once everything is sent is the
	// latest of each.
	got := map[string]string{}
	for _, body := range p.stateBodies() {
		maps.Copy(got, instances(t, body))
	}
	if got["lamp-1/brightness"] != "100" || got["socket-1/power"] != "1999" || got["lamp-1/on"] != "false" {
		t.Errorf("after recovery: %v", got)
	}
}

func TestNotifier_SlowEndpoint_DoesNotSlowTheAPI(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	p.hang.Store(true)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 10 * time.Millisecond, Client: &http.Client{Timeout: 30 * time.Second}})
	for i := 0; i < 20; i++ {
		f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: i + 1}})
	}
	eventually(t, "a hanging callback", func() bool { return p.hits.Load() > 0 })
	// Queries and actions keep working while the push hangs.
	for i := 0; i < 5; i++ {
		if got := fmt.Sprint(queryOne(t, f, "lamp-1")); !strings.Contains(got, "value:20") {
			t.Fatalf("query: %s", got)
		}
		code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/action", tokenAlice,
			`{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`)
		if code != http.StatusOK || !strings.Contains(string(body), "DONE") {
			t.Fatalf("action: %d %s", code, body)
		}
	}
	p.hang.Store(false)
}

func TestNotifier_DevicesChange_SendsDiscoveryOnceSettled(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, Settle: 50 * time.Millisecond})
	// The hub's clock is fixed; move it past the settle time by hand.
	for i := 0; i < 3; i++ {
		devs := demoDevices()
		devs[0].Name = fmt.Sprintf("Lobby lamp %d", i) // what discovery shows changes
		if err := f.hub.Reconfigure(devs, demoSite()); err != nil {
			t.Fatal(err)
		}
	}
	// A state change after the reconfigurations is a marker: once its
	// callback is in, the notifier has seen them and had the chance to
	// send discovery early.
	marker := func(w float64) {
		t.Helper()
		f.hub.Apply(hub.Report{Device: "socket-2", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: w}})
		eventually(t, "the marker's callback", func() bool {
			for _, b := range p.stateBodies() {
				if instances(t, b)["socket-2/power"] == strconv.FormatFloat(w, 'f', -1, 64) {
					return true
				}
			}
			return false
		})
	}
	marker(701)
	p.mu.Lock()
	early := len(p.discos)
	p.mu.Unlock()
	if early != 0 {
		t.Fatalf("discovery sent before the device set settled")
	}
	f.clock.Add(time.Second)
	eventually(t, "discovery callback", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.discos) > 0 })
	marker(702) // a second discovery would be due by now
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.discos) != 1 || !strings.Contains(string(p.discos[0]), `"user_id":"alice"`) {
		t.Errorf("discovery callbacks: %q", p.discos)
	}
}

func TestNotifier_FloatProperties_AreResentPeriodically(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, FloatEvery: 100 * time.Millisecond})
	eventually(t, "two re-sends", func() bool { return len(p.stateBodies()) >= 2 })
	got := instances(t, p.stateBodies()[1])
	if got["socket-1/voltage"] != "230.1" || got["socket-2/electricity_meter"] != "1.5" {
		t.Errorf("re-sent floats: %v", got)
	}
	if _, ok := got["lamp-1/on"]; ok {
		t.Errorf("a capability was re-sent with the floats: %v", got)
	}
}

func TestNewNotifier_RequiresIdentity(t *testing.T) {
	f := newFixture(t, Options{})
	if _, err := NewNotifier(f.hub, NotifierOptions{SkillID: "s"}); err == nil {
		t.Error("no token and user: want an error")
	}
}

// deviceStatuses returns each device's "status" in a callback and whether
// it carried capabilities or properties.
func deviceStatuses(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var cb struct {
		Payload struct {
			Devices []struct {
				ID           string            `json:"id"`
				Status       string            `json:"status"`
				Capabilities []json.RawMessage `json:"capabilities"`
				Properties   []json.RawMessage `json:"properties"`
			} `json:"devices"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		t.Fatalf("callback is not JSON: %v: %s", err, body)
	}
	out := map[string]string{}
	for _, d := range cb.Payload.Devices {
		s := d.Status
		if len(d.Capabilities)+len(d.Properties) > 0 {
			s += "+values"
		}
		out[d.ID] = s
	}
	return out
}

func TestNotifier_Unreachable_SendsOfflineThenOnlineStatus(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 50 * time.Millisecond})
	// A value change, then the device drops off within the same window:
	// only the offline status goes out.
	f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 33}})
	f.hub.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline})
	f.hub.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: 7}})
	eventually(t, "a state callback", func() bool { return len(p.stateBodies()) > 0 })
	got := map[string]string{}
	for _, b := range p.stateBodies() {
		for k, v := range deviceStatuses(t, b) {
			got[k] = v
		}
	}
	if got["lamp-1"] != "offline" || got["socket-1"] != "+values" {
		t.Fatalf("statuses %v, want lamp-1 offline without values and socket-1 values without status", got)
	}
	n := len(p.stateBodies())
	f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}})
	eventually(t, "the online callback", func() bool { return len(p.stateBodies()) > n })
	last := p.stateBodies()[len(p.stateBodies())-1]
	if s := deviceStatuses(t, last); s["lamp-1"] != "online+values" {
		t.Fatalf("back online: %v in %s", s, last)
	}
	if v := instances(t, last); v["lamp-1/brightness"] != "33" || v["lamp-1/on"] != "true" {
		t.Errorf("back online must carry every known value: %v", v)
	}
}

func TestNotifier_Run_TwiceAtOnceIsRefused(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	n := startNotifier(t, f.hub, p, NotifierOptions{})
	if err := n.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	// The first Run is unharmed.
	f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 44}})
	eventually(t, "a state callback", func() bool { return len(p.stateBodies()) > 0 })
}

func TestNotifier_StaleDevice_IsReportedOffline(t *testing.T) {
	clk := newClock(t0)
	h, err := hub.New(demoDevices(), demoSite(), hub.Options{Now: clk.Now, StaleAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, r := range demoReports() {
		if err := h.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	p := newPlatform(t)
	startNotifier(t, h, p, NotifierOptions{Batch: 30 * time.Millisecond})
	clk.Add(time.Second) // every device falls silent for ten times StaleAfter
	eventually(t, "offline statuses", func() bool {
		got := map[string]string{}
		for _, b := range p.stateBodies() {
			for k, v := range deviceStatuses(t, b) {
				got[k] = v
			}
		}
		return len(got) == len(demoDevices()) && got["lamp-3"] == "offline" && got["socket-2"] == "offline"
	})
}
