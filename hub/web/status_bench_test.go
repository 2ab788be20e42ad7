package web

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
	"hubd/hub/web/webtest"
)

// The status page's targets at 10,000 devices (issue 18).
const (
	targetPayloadBytes = 200 << 10       // first load, compressed
	targetFirstPaint   = time.Second     // phone viewport, loopback
	targetFeedShare    = 0.02            // of the all-devices feed
	feedWindow         = 5 * time.Second // how long the feed is measured
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// wireClient asks for gzip itself, so that what it counts is what a
// browser receives.
var wireClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// wireGet fetches path as a browser would and returns the bytes on the
// wire and the decoded body.
func wireGet(b *testing.B, url string) (int, []byte) {
	b.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	resp, err := wireClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	body := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(strings.NewReader(string(raw)))
		if err != nil {
			b.Fatal(err)
		}
		body, _ = io.ReadAll(zr)
	}
	return len(raw), body
}

// wireSSE is a live-feed stream that counts its bytes on the wire.
type wireSSE struct {
	*sseClient
	wire *countingReader
}

func openWireSSE(b *testing.B, url string) *wireSSE {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := wireClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		b.Fatalf("%s: %v %v", url, resp, err)
	}
	w := &wireSSE{sseClient: &sseClient{events: make(chan sseEvent, 1<<16), cancel: cancel}, wire: &countingReader{r: resp.Body}}
	b.Cleanup(cancel)
	go func() {
		defer resp.Body.Close()
		var r io.Reader = w.wire
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(w.wire)
			if err != nil {
				close(w.events)
				return
			}
			r = zr
		}
		readSSE(r, w.events)
	}()
	return w
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// BenchmarkStatusPage_10000Devices: the status page of a 500-room hotel,
// 10,000 devices, over loopback. It prints the first load's bytes on the
// wire (HTML, scripts, styles, catalogue, session and the feed's first
// snapshot) against what the page sent before it was paged (every device
// and the whole site, uncompressed, computed in the same run); the first
// useful paint in headless Chromium at 375x667; and the live feed's bytes a
// second to one viewer while every device reports every 10 s, against the
// all-devices feed of before.
func BenchmarkStatusPage_10000Devices(b *testing.B) {
	h := hotel(b, 10, 50, 20)
	ts := serveHub(b, h, Options{AllowAnonymousView: true})
	b.Run("payload", func(b *testing.B) {
		for b.Loop() {
			wire, before := firstLoad(b, ts)
			b.ReportMetric(float64(wire), "payload-B")
			b.ReportMetric(float64(before), "payload-before-B")
			b.Logf("initial payload %.1f KB compressed (target <= %d KB: %s); before paging: %.1f KB uncompressed",
				float64(wire)/1024, targetPayloadBytes>>10, verdict(wire <= targetPayloadBytes), float64(before)/1024)
		}
	})
	b.Run("feed", func(b *testing.B) {
		for b.Loop() {
			got, all := feedRate(b, ts, h)
			b.ReportMetric(got, "feed-B/s")
			b.ReportMetric(all, "feed-before-B/s")
			b.Logf("live feed to one viewer %.0f B/s on the wire, all-devices feed %.0f B/s: %.2f%% (target <= %.0f%%: %s)",
				got, all, 100*got/all, 100*targetFeedShare, verdict(got <= targetFeedShare*all))
		}
	})
	b.Run("paint", func(b *testing.B) {
		for b.Loop() {
			ms := firstPaint(b, ts)
			b.ReportMetric(ms, "first-paint-ms")
			b.Logf("first useful paint at 375x667: %.0f ms (target <= %v: %s)", ms, targetFirstPaint, verdict(ms <= float64(targetFirstPaint.Milliseconds())))
		}
	})
}

var assetRef = regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`)

// firstLoad sums what a browser transfers to show the page, and computes
// what the unpaged page transferred: every asset and snapshot uncompressed,
// with every device and the whole site in the snapshot.
func firstLoad(b *testing.B, ts *testServer) (wire, before int) {
	n, html := wireGet(b, ts.url+"/")
	wire, before = n, len(html)
	paths := []string{"/api/session", "/api/i18n"}
	for _, m := range assetRef.FindAllStringSubmatch(string(html), -1) {
		paths = append(paths, m[1])
	}
	for _, p := range paths {
		n, body := wireGet(b, ts.url+p)
		wire += n
		before += len(body)
	}
	c := openWireSSE(b, ts.url+"/events?limit=50")
	snap := c.next(b, "snapshot")
	wire += int(c.wire.n.Load())
	c.cancel()
	var st Status
	mustJSON(b, snap.data, &st)
	if len(st.Devices) != 50 || st.Gateway.Total != 10000 {
		b.Fatalf("snapshot of %d devices, header total %d", len(st.Devices), st.Gateway.Total)
	}
	before += len(sseMessage(nil, "snapshot", unpagedStatus(ts.Server)))
	return wire, before
}

// unpagedStatus is the snapshot as it was before paging: every device,
// and the site with every node's device ids.
func unpagedStatus(s *Server) any {
	type node struct {
		ID       string       `json:"id"`
		Name     string       `json:"name"`
		Kind     hub.NodeKind `json:"kind"`
		Devices  []string     `json:"devices"`
		Children []*node      `json:"children,omitempty"`
	}
	var tree func([]*hub.Node) []*node
	tree = func(ns []*hub.Node) []*node {
		var out []*node
		for _, n := range ns {
			out = append(out, &node{ID: n.ID, Name: n.Name, Kind: n.Kind, Devices: n.Devices, Children: tree(n.Children)})
		}
		return out
	}
	st := s.baseStatus()
	l := s.links()
	for _, d := range s.h.Devices() {
		if v, ok := s.deviceView(d.ID, &l); ok {
			st.Devices = append(st.Devices, v)
		}
	}
	return struct {
		Status
		Site []*node `json:"site"`
	}{st, tree(s.h.Site().Buildings)}
}

// feedRate runs every device reporting once per 10 s (1,000 reports a
// second) for feedWindow and returns the wire bytes a second of one
// viewer's feed, and the bytes a second of the feed that sent every
// device's change to every viewer, computed from the same reports.
func feedRate(b *testing.B, ts *testServer, h *hub.Hub) (got, all float64) {
	c := openWireSSE(b, ts.url+"/events?limit=50")
	c.next(b, "snapshot")
	devs := h.Devices()
	const perTick, tick = 10, 10 * time.Millisecond // 1,000 reports a second
	l := ts.links()
	start := c.wire.n.Load()
	began := time.Now()
	var allBytes int
	next := began
	for i := 0; time.Since(began) < feedWindow; i++ {
		for k := range perTick {
			d := devs[(i*perTick+k)%len(devs)]
			st := hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 1 + i%100}
			if d.Kind == hub.KindSocket {
				st = hub.State{Set: hub.Fields(hub.FieldPower), Power: float64(i % 1000)}
			}
			h.Apply(hub.Report{Device: d.ID, State: st})
			if v, ok := ts.deviceView(d.ID, &l); ok {
				allBytes += len(sseMessage(nil, "device", v))
			}
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	elapsed := time.Since(began)
	// Whatever the last reports made is on its way: wait for one more tick.
	c.next(b, "tick")
	got = float64(c.wire.n.Load()-start) / elapsed.Seconds()
	c.cancel()
	return got, float64(allBytes) / elapsed.Seconds()
}

// firstPaint loads the page in Chromium at 375x667 and reads the page's
// own mark: the first device card drawn with its state.
func firstPaint(b *testing.B, ts *testServer) float64 {
	ctx := webtest.Chromium(b, 375, 667)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 667), chromedp.Navigate(ts.url+"/")); err != nil {
		b.Fatal(err)
	}
	ms, err := chromedp.Run(ctx, chromedp.Poll[float64](`(() => { const m = performance.getEntriesByName('hubd-first-device')[0];
		return m && document.querySelector('#dev-list article [data-field="on"]') ? m.startTime : 0; })()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		b.Fatalf("no first device on the page: %v", err)
	}
	if testing.Verbose() {
		res, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType('resource').map(e => e.name.replace(/^.*\/\/[^/]+/, '') + ' ' + Math.round(e.startTime) + '-' + Math.round(e.responseEnd) + ' ' + e.transferSize).join('\n') + '\ndcl ' + Math.round(performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd)`))
		b.Logf("resources (start-end ms, bytes):\n%s", res)
	}
	return ms
}
