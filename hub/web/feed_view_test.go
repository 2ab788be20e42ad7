package web

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"hubd/hub"
)

// setBrightness reports a new brightness for lamp id.
func setBrightness(t *testing.T, h *hub.Hub, id string, v int) {
	t.Helper()
	if err := h.Apply(hub.Report{Device: id, State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: v}}); err != nil {
		t.Fatal(err)
	}
}

// nextDevice reads device events until want's, failing on any of refused
// or on a "list" hint, whichever comes first.
func nextDevice(t *testing.T, c *sseClient, want string, refused ...string) DeviceView {
	t.Helper()
	var d DeviceView
	c.until(t, "device "+want, func(ev sseEvent) bool {
		if ev.name == "list" {
			t.Fatalf("a list hint came before %s", want)
		}
		if ev.name != "device" {
			return false
		}
		mustJSON(t, ev.data, &d)
		if slices.Contains(refused, d.ID) {
			t.Fatalf("the feed sent %s, which is not on the viewer's page", d.ID)
		}
		return d.ID == want
	})
	return d
}

// The feed sends the changes of the devices on the viewer's page, and not
// those of the others; moving to another page moves what it sends.
func TestFeed_SendsOnlyTheViewersPage(t *testing.T) {
	h := hotel(t, 2, 5, 10) // 100 devices; the first page of 10 is room 101
	ts := serveHub(t, h, Options{AllowAnonymousView: true, Coalesce: 10 * time.Millisecond})
	c := openSSEPath(t, http.DefaultClient, ts.url, "/events?limit=10", nil)
	var st Status
	mustJSON(t, c.next(t, "snapshot").data, &st)
	if len(st.Devices) != 10 || st.Devices[0].ID != "r101-d0" || st.Page.Total != 100 || st.Gateway.Total != 100 {
		t.Fatalf("snapshot: %v, page %+v, header total %d", ids(st.Devices), st.Page, st.Gateway.Total)
	}
	setBrightness(t, h, "r205-d0", 7) // off the page
	setBrightness(t, h, "r101-d2", 8) // on it: the marker
	if d := nextDevice(t, c, "r101-d2", "r205-d0"); *d.State.Brightness != 8 {
		t.Fatalf("r101-d2 at %d", *d.State.Brightness)
	}

	b := newBrowser(t, ts.url)
	p := getPage(t, b, "feed="+st.Feed+"&room=room-205&limit=10")
	if p.Total != 10 || p.Devices[0].ID != "r205-d0" || *p.Devices[0].State.Brightness != 7 {
		t.Fatalf("room 205's page: %v", ids(p.Devices))
	}
	setBrightness(t, h, "r101-d2", 9) // left the page
	setBrightness(t, h, "r205-d4", 10)
	if d := nextDevice(t, c, "r205-d4", "r101-d2"); *d.State.Brightness != 10 {
		t.Fatalf("r205-d4 at %d", *d.State.Brightness)
	}
}

// A device that starts to match a viewer's filter (a lamp going offline
// while the viewer shows only problems) earns the viewer a "list" hint;
// a viewer whose list does not depend on state gets none.
func TestFeed_HintsWhenADeviceEntersTheFilter(t *testing.T) {
	h := hotel(t, 2, 5, 10)
	ts := serveHub(t, h, Options{AllowAnonymousView: true, Coalesce: 10 * time.Millisecond})
	probs := openSSEPath(t, http.DefaultClient, ts.url, "/events?problems=1&room=f2", nil)
	plain := openSSEPath(t, http.DefaultClient, ts.url, "/events?limit=10", nil)
	var st Status
	mustJSON(t, probs.next(t, "snapshot").data, &st)
	if st.Page.Total != 0 {
		t.Fatalf("problems before any: %d", st.Page.Total)
	}
	plain.next(t, "snapshot")

	// Floor 1: outside the filter's room, no hint.
	if err := h.Apply(hub.Report{Device: "r103-d1", Avail: hub.AvailOffline}); err != nil {
		t.Fatal(err)
	}
	probs.next(t, "problems") // the flush that would have hinted is over
	setBrightness(t, h, "r101-d0", 3)
	if err := h.Apply(hub.Report{Device: "r204-d3", Avail: hub.AvailOffline}); err != nil {
		t.Fatal(err)
	}
	probs.next(t, "list")
	b := newBrowser(t, ts.url)
	if p := getPage(t, b, "feed="+st.Feed+"&problems=1&room=f2"); p.Total != 1 || p.Devices[0].ID != "r204-d3" {
		t.Fatalf("after the hint the page holds %v", ids(p.Devices))
	}
	// The plain viewer got the changes of its page and no hint at all.
	plain.next(t, "problems")
	nextDevice(t, plain, "r101-d0")
	setBrightness(t, h, "r101-d4", 4)
	nextDevice(t, plain, "r101-d4")
}

// The hint is coalesced: a storm of devices entering the filter, each in
// a flush of its own, makes at most one hint a second, not one per device;
// and devices entering after a hint earn one more, a second later.
func TestFeed_HintsAreCoalesced(t *testing.T) {
	h := hotel(t, 1, 5, 20)
	ts := serveHub(t, h, Options{AllowAnonymousView: true, Coalesce: time.Millisecond})
	c := openSSEPath(t, http.DefaultClient, ts.url, "/events?problems=1", nil)
	c.next(t, "snapshot")
	start := time.Now()
	const storm = 40
	for _, d := range h.Devices()[:storm] {
		before := ts.feed.flushes.Load()
		if err := h.Apply(hub.Report{Device: d.ID, Avail: hub.AvailOffline}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the flush of "+d.ID, func() bool { return ts.feed.flushes.Load() > before })
	}
	hints := 0
	deadline := time.After(2 * headerEvery) // the trailing hint is due within 1.25 s
	for done := false; !done; {
		select {
		case ev := <-c.events:
			if ev.name == "list" {
				hints++
			}
		case <-deadline:
			done = true
		}
	}
	took := time.Since(start)
	if hints < 2 || hints > 2+int(took/headerEvery) {
		t.Fatalf("%d devices in %d flushes made %d hints in %v, want 2 to %d", storm, ts.feed.flushes.Load(), hints, took, 2+int(took/headerEvery))
	}
	t.Logf("%d devices, %d flushes, %d hints in %v", storm, ts.feed.flushes.Load(), hints, took.Round(time.Millisecond))
}
