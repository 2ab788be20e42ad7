package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
)

// benchHub is a hub with n lamps spread over rooms, all online (tests use
// it too).
func benchHub(b testing.TB, n int) *hub.Hub {
	b.Helper()
	devs := make([]hub.Device, n)
	rooms := make([]*hub.Node, 0, n/10+1)
	for i := range devs {
		id := fmt.Sprintf("lamp-%04d", i)
		devs[i] = hub.Device{ID: id, Name: "Lamp " + strconv.Itoa(i), Kind: hub.KindLight, Driver: "serial",
			Address: fmt.Sprintf("bus%d/%d", i/32, i%32), Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness)}
		if i%10 == 0 {
			rooms = append(rooms, &hub.Node{ID: "room-" + strconv.Itoa(i/10), Name: "Room " + strconv.Itoa(i/10), Kind: hub.NodeRoom})
		}
		r := rooms[len(rooms)-1]
		r.Devices = append(r.Devices, id)
	}
	site := &hub.Site{Buildings: []*hub.Node{{ID: "b", Name: "Building", Kind: hub.NodeBuilding, Children: rooms}}}
	h, err := hub.New(devs, site, hub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range devs {
		h.Apply(hub.Report{Device: d.ID, State: hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 50}})
	}
	b.Cleanup(func() { h.Close() })
	return h
}

func percentiles(b *testing.B, lat []time.Duration, unit string) {
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Microsecond) }
	b.ReportMetric(p(0.50), "p50-"+unit)
	b.ReportMetric(p(0.99), "p99-"+unit)
}

// BenchmarkStatus_500Devices: GET /api/status over loopback for a gateway
// with 500 devices (the page's snapshot, also sent on every SSE connect).
func BenchmarkStatus_500Devices(b *testing.B) {
	h := benchHub(b, 500)
	s, err := New(h, Options{AllowAnonymousView: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const reqs = 200
	for b.Loop() {
		lat := make([]time.Duration, 0, reqs)
		var size int
		for range reqs {
			start := time.Now()
			resp, err := http.Get(ts.URL + "/api/status")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
			size = int(n)
		}
		percentiles(b, lat, "µs")
		b.ReportMetric(float64(size), "bytes/snapshot")
	}
}

// BenchmarkMetrics_Scrape_500Devices: one /metrics scrape with every
// collector configured.
func BenchmarkMetrics_Scrape_500Devices(b *testing.B) {
	h := benchHub(b, 500)
	opts := Options{}
	fakeLinks(&opts)
	s, err := New(h, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for i := range 20 {
		s.ObserveAPI("endpoint-"+strconv.Itoa(i%4), 200, time.Duration(i)*time.Millisecond)
	}
	const scrapes = 100
	for b.Loop() {
		lat := make([]time.Duration, 0, scrapes)
		for range scrapes {
			start := time.Now()
			resp, err := http.Get(ts.URL + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
		}
		percentiles(b, lat, "µs")
	}
}

// BenchmarkFeed_ReportToBrowser measures how long a device report takes to
// reach a connected page over SSE (including the coalescing window), and
// how many reports each SSE message stands for under a burst.
func BenchmarkFeed_ReportToBrowser(b *testing.B) {
	const devices, reports = 100, 2000
	h := benchHub(b, devices)
	coalesce := 20 * time.Millisecond
	s, err := New(h, Options{AllowAnonymousView: true, Coalesce: coalesce})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for b.Loop() {
		// The viewer's page holds every device: each report is for it.
		c := openSSEPath(b, http.DefaultClient, ts.URL, fmt.Sprintf("/events?limit=%d", devices), nil)
		c.next(b, "snapshot")

		last := fmt.Sprintf("lamp-%04d/100", (reports-1)%devices)
		var mu sync.Mutex
		// Each report carries a value unique to its device, so the message
		// that shows it can be matched to the moment it was applied. A
		// report superseded within the window is coalesced, not measured.
		sent := map[string]time.Time{}
		var lat []time.Duration
		msgs := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range c.events {
				if ev.name != "device" {
					continue
				}
				msgs++
				var d DeviceView
				mustJSON(b, ev.data, &d)
				key := d.ID + "/" + strconv.Itoa(*d.State.Brightness)
				mu.Lock()
				if at, ok := sent[key]; ok {
					lat = append(lat, time.Since(at))
					delete(sent, key)
				}
				mu.Unlock()
				if key == last {
					return
				}
			}
		}()
		start := time.Now()
		for i := range reports {
			id := fmt.Sprintf("lamp-%04d", i%devices)
			bright := 1 + i/devices // 1..20, never the initial 50
			if i == reports-1 {
				bright = 100
			}
			mu.Lock()
			sent[id+"/"+strconv.Itoa(bright)] = time.Now()
			mu.Unlock()
			h.Apply(hub.Report{Device: id, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: bright}})
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // bursts of 50, as a busy bus delivers them
			}
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatal("the last report never reached the page")
		}
		elapsed := time.Since(start)
		c.cancel()
		if len(lat) > 0 {
			percentiles(b, lat, "µs")
		}
		b.ReportMetric(float64(reports)/float64(max(msgs, 1)), "reports/message")
		b.ReportMetric(float64(reports)/elapsed.Seconds(), "reports/s")
		b.ReportMetric(float64(coalesce.Microseconds()), "coalesce-µs")
	}
}

// BenchmarkFirmware_Upload1MiB: POST of a full-size (1 MiB) image over
// loopback, from the first byte to the 202 (the update itself is a fake
// that finishes at once), and the upload throughput.
func BenchmarkFirmware_Upload1MiB(b *testing.B) {
	h := benchHub(b, 10)
	hash, err := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(h, Options{Users: []User{{Name: testUser, PasswordHash: string(hash)}},
		UpdateFirmware: func(context.Context, string, []byte, bool, func(int, int)) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	br := newBrowser(b, ts.URL)
	br.login(testUser, testPass)
	img := string(testImage(maxFirmwareImage))
	const uploads = 20
	for b.Loop() {
		lat := make([]time.Duration, 0, uploads)
		for range uploads {
			waitFor(b, "the previous update to finish", func() bool {
				j, ok := s.fw.job("lamp-0000")
				return !ok || j.State != FirmwareRunning
			})
			start := time.Now()
			resp, body := br.do("POST", "/api/devices/lamp-0000/firmware", img, map[string]string{"Content-Type": "application/octet-stream"})
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("upload: %d %s", resp.StatusCode, body)
			}
			lat = append(lat, time.Since(start))
		}
		var total time.Duration
		for _, l := range lat {
			total += l
		}
		percentiles(b, lat, "µs")
		b.ReportMetric(float64(uploads*maxFirmwareImage)/(1<<20)/total.Seconds(), "MiB/s")
	}
}
