package web

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testUser = "tech"
	testPass = "demo-pass"
)

// testHash hashes at bcrypt's minimum cost so logins stay fast under -race;
// the production helper HashPassword is checked separately.
func testHash(t testing.TB, pw string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func demoDevices() []hub.Device {
	return []hub.Device{
		{ID: "lamp-1", Name: "Lobby lamp", Kind: hub.KindLight, Driver: "serial", Address: "bus0/1",
			Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500},
		{ID: "socket-1", Name: "Lobby socket", Kind: hub.KindSocket, Driver: "serial", Address: "bus0/2",
			Fields: hub.Fields(hub.FieldOn).Union(hub.MeterFields)},
		{ID: "lamp-2", Name: "Room 101 lamp", Kind: hub.KindLight, Driver: "mqtt", Address: "tasmota/demo-lamp-2",
			Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness)},
		{ID: "socket-2", Name: "Room 101 plug", Kind: hub.KindSocket, Driver: "mqtt", Address: "shelly/shellyplug-s-demo2",
			Fields: hub.Fields(hub.FieldOn, hub.FieldPower)},
		{ID: "lamp-3", Name: "Room 201 lamp", Kind: hub.KindLight, Driver: "mqtt", Address: "z2m/demo-lamp-3",
			Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 2200, TempMaxK: 6500},
	}
}

func demoSite() *hub.Site {
	return &hub.Site{Buildings: []*hub.Node{{
		ID: "house", Name: "Demo House", Kind: hub.NodeBuilding,
		Children: []*hub.Node{
			{ID: "f1", Name: "Floor 1", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "lobby", Name: "Lobby", Kind: hub.NodeRoom, Devices: []string{"lamp-1", "socket-1"}},
				{ID: "r101", Name: "Room 101", Kind: hub.NodeRoom, Devices: []string{"lamp-2", "socket-2"}},
			}},
			{ID: "f2", Name: "Floor 2", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "r201", Name: "Room 201", Kind: hub.NodeRoom, Devices: []string{"lamp-3"}},
			}},
		},
	}}}
}

// echoHub is a real hub whose drivers behave like devices: every command is
// reported back as the device's new state, the way firmware confirms it.
type echoHub struct {
	*hub.Hub
	commands  atomic.Int64
	identifed atomic.Int64
	mute      atomic.Bool // when set, commands are swallowed (device silent)
}

func newEchoHub(t testing.TB, now func() time.Time) *echoHub {
	t.Helper()
	opts := hub.Options{CommandTimeout: 2 * time.Second, Now: now}
	if now != nil {
		opts.StaleAfter = 24 * time.Hour * 365 * 100 // a frozen clock must not make devices stale
	}
	h, err := hub.New(demoDevices(), demoSite(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &echoHub{Hub: h}
	drv := hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		e.commands.Add(1)
		if cmd.Identify {
			e.identifed.Add(1)
			return nil
		}
		if e.mute.Load() {
			return nil
		}
		go h.Apply(hub.Report{Device: dev.ID, State: cmd.Set})
		return nil
	})
	h.SetDriver("serial", drv)
	h.SetDriver("mqtt", drv)
	at := time.Time{}
	if now != nil {
		at = now()
	}
	for _, r := range []hub.Report{
		{Device: "lamp-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), On: true, Brightness: 80, TemperatureK: 3000, Mode: hub.ColorModeTemperature},
			Info: &hub.Info{Manufacturer: "hubd", Model: "lamp", Firmware: "1.4.2"}},
		{Device: "socket-1", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldVoltage, hub.FieldCurrent, hub.FieldEnergy), On: true, Power: 42.5, Voltage: 229.8, Current: 0.19, Energy: 12.34}},
		{Device: "lamp-2", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: false, Brightness: 40}},
		{Device: "socket-2", At: at, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldPower), On: true, Power: 3.2}},
		{Device: "lamp-3", At: at, Avail: hub.AvailOffline},
	} {
		if err := h.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { h.Close() })
	return e
}

// fakeLinks are the Options functions of the adapters this package must not
// import, with counters the metrics test checks.
func fakeLinks(o *Options) {
	since := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	o.Buses = func() []hub.BusStatus {
		return []hub.BusStatus{{Name: "bus0", Port: "/dev/ttyUSB0", Open: true, OpenSince: since, FramesIn: 1200, FramesOut: 1190, CRCErrors: 3, Timeouts: 7, Reconnects: 1, Devices: 2}}
	}
	o.Brokers = func() []hub.BrokerStatus {
		return []hub.BrokerStatus{{Broker: "tcp://127.0.0.1:1883", Embedded: true, Connected: true, Since: since, Reconnects: 2, MsgsIn: 500, MsgsOut: 40, BadMsgs: 1}}
	}
	o.Notifier = func() hub.NotifierStatus {
		return hub.NotifierStatus{Enabled: true, Sent: 31, Failed: 2, Pending: 1, LastSuccess: since, LastError: "yandex: 503 from dialogs.yandex.net", LastErrorAt: since.Add(-time.Hour)}
	}
	o.Alexa = func() hub.SyncStatus {
		return hub.SyncStatus{Enabled: true, LastRun: since, LastOK: since, Calls: 12, CallsFailed: 1,
			Plan:  []string{"create unit for Room 201"},
			Units: []hub.UnitStatus{{Node: "house", Name: "Demo House", UnitID: "amzn1.alexa.unit.did.house", Discovery: "SUCCEEDED"}, {Node: "r201", Name: "Room 201"}}}
	}
	o.StoreSize = func() int64 { return 32768 }
}

type testServer struct {
	*Server
	h   *echoHub
	ts  *httptest.Server
	url string
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	h := newEchoHub(t, opts.Now)
	ts := serveHub(t, h.Hub, opts)
	ts.h = h
	return ts
}

// serveHub serves a Server for h over loopback until the test ends; with
// no Users in opts, the test user may sign in.
func serveHub(t testing.TB, h *hub.Hub, opts Options) *testServer {
	t.Helper()
	if opts.Users == nil {
		opts.Users = []User{{Name: testUser, PasswordHash: testHash(t, testPass)}}
	}
	s, err := New(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return &testServer{Server: s, ts: ts, url: ts.URL}
}

// browser is an HTTP client that keeps cookies and sends what a browser on
// the page would: its own Origin, and the CSRF token once signed in.
type browser struct {
	t      testing.TB
	c      *http.Client
	base   string
	origin string
	csrf   string
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: base, origin: base}
}

func (b *browser) do(method, path, body string, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.origin != "" && method == http.MethodPost {
		req.Header.Set("Origin", b.origin)
	}
	if b.csrf != "" {
		req.Header.Set(csrfHeader, b.csrf)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *browser) login(user, pass string) *http.Response {
	b.t.Helper()
	resp, body := b.do("POST", "/login", `{"user":`+quote(user)+`,"password":`+quote(pass)+`}`, nil)
	if resp.StatusCode == http.StatusOK {
		var sb sessionBody
		mustJSON(b.t, body, &sb)
		b.csrf = sb.CSRF
	}
	return resp
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func (b *browser) cookie() *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == cookieName {
			return c
		}
	}
	return nil
}

// fixedClock is a settable clock for session expiry and golden output.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waitFor polls cond until it holds or the deadline passes; it is for
// waiting on other goroutines, never for asserting how fast they were.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
