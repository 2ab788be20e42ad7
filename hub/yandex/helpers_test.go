package yandex

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// t0 is the fixed clock of the test hubs, so goldens are stable.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	tokenAlice = "alice-token"
	tokenBob   = "bob-token"
)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// demoDevices mirrors the demo of DESIGN.md.
func demoDevices() []hub.Device {
	on := hub.Fields(hub.FieldOn)
	return []hub.Device{
		{ID: "lamp-1", Name: "Lobby lamp", Kind: hub.KindLight, Driver: "serial", Address: "bus0/1",
			Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500,
			Info: hub.Info{Manufacturer: "hubd", Model: "serial-lamp", Hardware: "rev2", Firmware: "1.4.0"}},
		{ID: "socket-1", Name: "Lobby socket", Kind: hub.KindSocket, Driver: "serial", Address: "bus0/2",
			Fields: on.Union(hub.MeterFields),
			Info:   hub.Info{Manufacturer: "hubd", Model: "serial-socket", Hardware: "rev1", Firmware: "1.4.0"}},
		{ID: "lamp-2", Name: "Room 101 ceiling lamp with a very long name", Kind: hub.KindLight, Driver: "mqtt", Address: "tasmota/demo-lamp-2",
			Fields: hub.LightFields, TempMinK: 2000, TempMaxK: 6500,
			Info: hub.Info{Manufacturer: "Tasmota", Model: "Generic RGBCCT", Firmware: "14.2.0"}},
		{ID: "socket-2", Name: "Room 101 plug", Kind: hub.KindSocket, Driver: "mqtt", Address: "shelly/shellyplug-s-demo2",
			Fields: on.With(hub.FieldPower).With(hub.FieldEnergy),
			Info:   hub.Info{Manufacturer: "Shelly", Model: "SHPLG-S"}},
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
				{ID: "r101", Name: "Room 101", Kind: hub.NodeHome, Devices: []string{"lamp-2", "socket-2"}},
			}},
			{ID: "f2", Name: "Floor 2", Kind: hub.NodeFloor, Children: []*hub.Node{
				{ID: "r201", Name: "Room 201", Kind: hub.NodeHome, Devices: []string{"lamp-3"}},
			}},
		},
	}}}
}

// demoState is what the demo devices report at start.
func demoReports() []hub.Report {
	return []hub.Report{
		{Device: "lamp-1", State: hub.State{Set: hub.LightFields, On: true, Brightness: 80,
			Color: hub.HSV{H: 30, S: 80, V: 100}, TemperatureK: 4000, Mode: hub.ColorModeHSV}},
		{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldOn).Union(hub.MeterFields), On: true,
			Power: 56.5, Voltage: 230.1, Current: 0.246, Energy: 12.345}},
		{Device: "lamp-2", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
			On: false, Brightness: 40, TemperatureK: 3000, Mode: hub.ColorModeTemperature}},
		{Device: "socket-2", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy), On: true, Power: 0, Energy: 1.5}},
		{Device: "lamp-3", State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK),
			On: true, Brightness: 100, TemperatureK: 2700}},
	}
}

// echoDriver applies each command back as the device's report, as a
// device confirming it would.
func echoDriver(h **hub.Hub) hub.Driver {
	return hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		return (*h).Apply(hub.Report{Device: cmd.Device, State: cmd.Set})
	})
}

type fixture struct {
	hub   *hub.Hub
	api   *Handler
	srv   *httptest.Server
	clock *clock
}

var staff = hub.Scope{Staff: true}

func testUsers() []User {
	return []User{
		{ID: "alice", TokenHashes: []string{HashToken(tokenAlice)}, Scope: staff},
		{ID: "bob", TokenHashes: []string{HashToken(tokenBob), HashToken("bob-other")}, Scope: staff},
	}
}

// newFixture builds a demo hub with an echo driver and serves the API on
// real loopback HTTP.
func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(t0)}
	h, err := hub.New(demoDevices(), demoSite(), hub.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	f.hub = h
	drv := echoDriver(&f.hub)
	h.SetDriver("serial", drv)
	h.SetDriver("mqtt", drv)
	for _, r := range demoReports() {
		if err := h.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Users == nil {
		opts.Users = testUsers()
	}
	f.api, err = New(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request with the given token ("" for none) and returns the
// status and body.
func (f *fixture) do(t testing.TB, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "req-1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// golden compares got (JSON) with testdata/name.golden, indented.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: response is not JSON: %v\n%s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from %s:\ngot:\n%s\nwant:\n%s", name, path, buf.Bytes(), want)
	}
}

// mapKV is an in-memory KV for tests, shared across handlers like a store
// file would be.
type mapKV struct {
	mu sync.Mutex
	m  map[string]string
}

func (k *mapKV) Get(key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *mapKV) Put(key, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[key] = value
	return nil
}

func (k *mapKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func (k *mapKV) All() (map[string]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for a, b := range k.m {
		out[a] = b
	}
	return out, nil
}

var _ KV = (*mapKV)(nil)

// discoveryResponse is the answer of GET /v1.0/user/devices.
type discoveryResponse struct {
	RequestID string `json:"request_id"`
	Payload   struct {
		UserID  string       `json:"user_id"`
		Devices []discDevice `json:"devices"`
	} `json:"payload"`
}
