package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

type sseEvent struct {
	name string
	data string
}

// sseClient reads a real /events stream over loopback.
type sseClient struct {
	events chan sseEvent
	cancel context.CancelFunc
}

func openSSE(t testing.TB, url string, hdr http.Header) *sseClient {
	t.Helper()
	return openSSEWith(t, http.DefaultClient, url, hdr)
}

// openSSEWith opens the stream with hc (one dialling from a given address).
func openSSEWith(t testing.TB, hc *http.Client, url string, hdr http.Header) *sseClient {
	t.Helper()
	return openSSEPath(t, hc, url, "/events", hdr)
}

// openSSEPath opens the stream at path (/events with a query).
func openSSEPath(t testing.TB, hc *http.Client, url, path string, hdr http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("/events: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	c := &sseClient{events: make(chan sseEvent, 10000), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		readSSE(resp.Body, c.events)
	}()
	t.Cleanup(cancel)
	return c
}

// readSSE parses server-sent events from r into out, and closes out when
// r ends.
func readSSE(r io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

// next returns the next event named name, skipping others.
func (c *sseClient) next(t testing.TB, name string) sseEvent {
	t.Helper()
	return c.until(t, fmt.Sprintf("%q", name), func(ev sseEvent) bool { return ev.name == name })
}

// until returns the first event done takes, skipping the others; done
// may fail the test instead.
func (c *sseClient) until(t testing.TB, what string, done func(sseEvent) bool) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended waiting for %s", what)
			}
			if done(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", what)
		}
	}
}

func TestFeed_SnapshotThenLiveChanges(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 20 * time.Millisecond})
	c := openSSE(t, ts.url, nil)

	var st Status
	mustJSON(t, c.next(t, "snapshot").data, &st)
	if len(st.Devices) != 5 || st.Devices[0].ID != "lamp-1" || st.Devices[0].State.On == nil || !*st.Devices[0].State.On {
		t.Fatalf("snapshot devices: %+v", st.Devices)
	}

	if err := ts.h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: false}}); err != nil {
		t.Fatal(err)
	}
	var d DeviceView
	mustJSON(t, c.next(t, "device").data, &d)
	if d.ID != "lamp-1" || d.State.On == nil || *d.State.On {
		t.Fatalf("device event %+v, want lamp-1 off", d)
	}
	if d.Seq <= st.Devices[0].Seq {
		t.Fatalf("seq %d did not grow past %d", d.Seq, st.Devices[0].Seq)
	}

	ts.h.Log("warn", "test", "lamp-1", "hello technician")
	var ev hub.Event
	mustJSON(t, c.next(t, "event").data, &ev)
	if ev.Text != "hello technician" {
		t.Fatalf("event %+v", ev)
	}

	// A new device set means a fresh snapshot.
	if err := ts.h.Reconfigure(demoDevices()[:2], &hub.Site{}); err != nil {
		t.Fatal(err)
	}
	mustJSON(t, c.next(t, "snapshot").data, &st)
	if len(st.Devices) != 2 {
		t.Fatalf("snapshot after reconfigure has %d devices, want 2", len(st.Devices))
	}
}

func TestFeed_CoalescesBursts(t *testing.T) {
	// A long window makes the burst certainly fall in one flush.
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 300 * time.Millisecond})
	c := openSSE(t, ts.url, nil)
	c.next(t, "snapshot")

	const n = 200
	for i := 1; i <= n; i++ {
		if err := ts.h.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var d DeviceView
	mustJSON(t, c.next(t, "device").data, &d)
	if d.ID != "socket-1" || d.State.Power == nil || *d.State.Power != n {
		t.Fatalf("first device event after the burst: %+v, want socket-1 at %d W", d, n)
	}
	if got := ts.feed.flushes.Load(); got != 1 {
		t.Fatalf("%d reports made %d flushes, want 1", n, got)
	}
}

func TestFeed_DropsSlowClientWithoutBlocking(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	slow, err := ts.feed.add("192.0.2.1", "", deviceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := ts.feed.add("192.0.2.1", "", deviceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < clientBuffer+1; i++ {
		ts.feed.broadcast([]byte("event: x\ndata: {}\n\n"))
		<-fast.ch // the fast client keeps up
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("a client that never reads was not dropped")
	}
	select {
	case <-fast.gone:
		t.Fatal("a client that keeps up was dropped")
	default:
	}
	if ts.feed.dropped.Load() != 1 {
		t.Fatalf("dropped %d, want 1", ts.feed.dropped.Load())
	}
	ts.feed.remove(fast)
	ts.feed.remove(slow) // removing a dropped client is harmless
}

func TestFeed_CapsClientsAndEndsOnClose(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true, MaxClients: 1})
	c := openSSE(t, ts.url, nil)
	c.next(t, "snapshot")
	resp, err := http.Get(ts.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second client: %d, want 503", resp.StatusCode)
	}
	ts.Close()
	for range c.events { // the stream must end, not hang
	}
}

func TestFeed_SectionsRefresh(t *testing.T) {
	opts := Options{AllowAnonymousView: true, RefreshEvery: 50 * time.Millisecond}
	fakeLinks(&opts)
	ts := newTestServer(t, opts)
	c := openSSE(t, ts.url, nil)
	var st Status
	mustJSON(t, c.next(t, "sections").data, &st)
	if len(st.Buses) != 1 || st.Alexa == nil || st.Gateway.StoreBytes == nil {
		t.Fatalf("sections: %+v", st)
	}
	var raw map[string]json.RawMessage
	mustJSON(t, c.next(t, "sections").data, &raw)
	if _, ok := raw["brokers"]; !ok {
		t.Fatal("sections lack brokers")
	}
}

// 64 anonymous streams from one address take only that address's share:
// a viewer from another address still gets the feed.
func TestFeed_OneAddressCanNotTakeEverySlot(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	hog := clientFrom(t, "127.0.0.7")
	codes := map[int]int{}
	for range 64 {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/events", nil)
		resp, err := hog.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		codes[resp.StatusCode]++
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
		}
	}
	if codes[http.StatusOK] != 8 || codes[http.StatusServiceUnavailable] != 56 {
		t.Fatalf("64 streams from one address: %v, want 8 served and 56 refused", codes)
	}
	viewer := openSSEWith(t, clientFrom(t, "127.0.0.8"), ts.url, nil)
	viewer.next(t, "snapshot")
	if n := ts.feed.refusedPer.Load(); n != 56 {
		t.Fatalf("per-address refusals counted %d, want 56", n)
	}
}

// A periodic snapshot is made from the view it read; a page the viewer
// asked for while it was made stands, and the stale page is not taken.
func TestFeedClient_SnapshotDoesNotUndoAPageChange(t *testing.T) {
	c := &client{}
	first := deviceQuery{Limit: 50}
	c.setView(first, []string{"a", "b"})
	q, ver := c.view() // the snapshot starts from page one
	c.setView(deviceQuery{Offset: 50, Limit: 50}, []string{"c"})
	c.keepView(ver, q, []string{"a", "b"}) // and ends with its page
	now, _ := c.view()
	if now.Offset != 50 {
		t.Fatalf("the view is %+v after a snapshot of the old page, want the page asked for (offset 50)", now)
	}
	if _, ok := c.ids["c"]; !ok || len(c.ids) != 1 {
		t.Fatalf("the feed follows %v, want only c", c.ids)
	}
	// With no change meanwhile the snapshot's fresh page is taken.
	q, ver = c.view()
	c.keepView(ver, q, []string{"c", "d"})
	if _, ok := c.ids["d"]; !ok {
		t.Fatalf("the feed follows %v, want the snapshot's page c, d", c.ids)
	}
}
