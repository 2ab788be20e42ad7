package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

// getPage asks for one page of the device list.
func getPage(t *testing.T, b *browser, query string) DevicePage {
	t.Helper()
	resp, body := b.do("GET", "/api/devices?"+query, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/devices?%s: %d %s", query, resp.StatusCode, body)
	}
	var p DevicePage
	mustJSON(t, body, &p)
	return p
}

// Walking the pages lists every device once, in the order of rooms; a
// search for any device's name or id finds it; totals count the matches.
func TestDevices_PagesListEveryDeviceOnceAndSearchFindsEach(t *testing.T) {
	h := hotel(t, 3, 10, 20) // 600 devices in 30 rooms
	ts := serveHub(t, h, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	seen := map[string]int{}
	var order []string
	for off := 0; ; off += 200 {
		p := getPage(t, b, fmt.Sprintf("offset=%d&limit=200", off))
		if p.Total != 600 || p.Offset != off || p.Limit != 200 {
			t.Fatalf("page at %d: total %d offset %d limit %d", off, p.Total, p.Offset, p.Limit)
		}
		if len(p.Devices) == 0 {
			break
		}
		for _, d := range p.Devices {
			seen[d.ID]++
			order = append(order, d.RoomPath[2]+"/"+d.Name)
		}
	}
	if len(seen) != 600 {
		t.Fatalf("the pages list %d devices, want 600", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s listed %d times", id, n)
		}
	}
	if order[0] != "Room 101/Room 101 lamp 0" || !strings.HasPrefix(order[599], "Room 310/") {
		t.Fatalf("not in the order of rooms: first %q, last %q", order[0], order[599])
	}
	for _, d := range h.Devices() {
		for _, q := range []string{d.ID, d.Name, strings.ToUpper(d.Name)} {
			p := getPage(t, b, "q="+url.QueryEscape(q))
			found := false
			for _, v := range p.Devices {
				found = found || v.ID == d.ID
			}
			if !found {
				t.Fatalf("search %q does not find %s (total %d)", q, d.ID, p.Total)
			}
		}
		if d.ID == "r105-d3" {
			break // a sample is enough for the slow part; the ids below cover all
		}
	}
	for id := range seen {
		if p := getPage(t, b, "q="+url.QueryEscape(id)); p.Total < 1 || p.Devices[0].ID != id && !strings.HasPrefix(p.Devices[0].ID, id) {
			t.Fatalf("search %q: %d matches, first %s", id, p.Total, p.Devices[0].ID)
		}
	}
	for _, c := range []struct {
		query string
		total int
	}{
		{"q=" + url.QueryEscape("room 205"), 20},
		{"q=" + url.QueryEscape("205 socket"), 10},
		{"q=bus307%2F4", 1},
		{"room=room-203", 20},
		{"room=f2", 200},
		{"room=f2&q=lamp", 100},
		{"room=hotel", 600},
		{"room=nowhere", 0},
		{"q=nothing-like-this", 0},
		{"state=online", 600},
		{"state=offline", 0},
		{"problems=1", 0},
	} {
		if p := getPage(t, b, c.query); p.Total != c.total {
			t.Errorf("%s: total %d, want %d", c.query, p.Total, c.total)
		}
	}
}

// The problem filters follow the devices' state, and the header counts
// every device whatever page is shown.
func TestDevices_ProblemFiltersAndHeaderCountAllDevices(t *testing.T) {
	h := hotel(t, 2, 5, 10) // 100 devices
	ts := serveHub(t, h, Options{AllowAnonymousView: true})
	for _, id := range []string{"r203-d4", "r101-d0", "r105-d9"} {
		if err := h.Apply(hub.Report{Device: id, Avail: hub.AvailOffline, Cause: &hub.Cause{Code: hub.CauseWill}}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, ts.url)
	p := getPage(t, b, "problems=1")
	if p.Total != 3 || p.Devices[0].ID != "r101-d0" || p.Devices[2].ID != "r203-d4" {
		t.Fatalf("problems: %d, %+v", p.Total, p.Devices)
	}
	if p := getPage(t, b, "state=offline&room=f1"); p.Total != 2 {
		t.Fatalf("offline on floor 1: %d, want 2", p.Total)
	}
	p = getPage(t, b, "sort=problems&limit=5")
	if p.Total != 100 || len(p.Devices) != 5 || p.Devices[0].Fault == nil || p.Devices[2].Fault == nil || p.Devices[3].Fault != nil {
		t.Fatalf("problems first: total %d, first five %v", p.Total, ids(p.Devices))
	}
	_, body := b.do("GET", "/api/status", "", nil)
	var st Status
	mustJSON(t, body, &st)
	g := st.Gateway
	if len(st.Devices) != defaultPageSize || st.Page.Total != 100 || g.Total != 100 || g.Online != 97 || g.Faulty != 3 {
		t.Fatalf("status: %d devices of %d; header %d of %d online, %d faulty", len(st.Devices), st.Page.Total, g.Online, g.Total, g.Faulty)
	}
	if len(st.Problems) != 3 || st.Problems[0].Fault == nil || len(st.Problems[0].RoomPath) != 3 {
		t.Fatalf("summary problems: %+v", st.Problems)
	}
	if len(st.Site) != 1 || st.Site[0].Children[0].Children[0].Count != 10 {
		t.Fatalf("site tree does not count devices: %+v", st.Site)
	}
}

func ids(vs []DeviceView) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// Garbage in the query string is a 400 with the reason, never a panic or
// a page of everything.
func TestDevices_GarbageQueryIs400(t *testing.T) {
	ts := newTestServer(t, Options{AllowAnonymousView: true})
	b := newBrowser(t, ts.url)
	for _, q := range []string{
		"limit=abc", "limit=0", "limit=-1", "offset=-5", "offset=99999999999999999999", "limit=1e3",
		"problems=2", "problems=true", "state=sleepy", "sort=name", "colour=red", "q=a&q=b",
		"q=" + strings.Repeat("x", maxQueryText+1), "room=" + strings.Repeat("r", 300), "feed=" + strings.Repeat("f", 65),
		"q=%zz", "q=" + strings.Repeat("%41", 700), strings.Repeat("a=1&", 600),
	} {
		for _, path := range []string{"/api/devices?", "/events?"} {
			resp, body := b.do("GET", path+q, "", nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "web: bad request") {
				t.Errorf("%s%.60s: %d %.120s, want 400 naming the problem", path, q, resp.StatusCode, body)
			}
		}
	}
	// A new stream takes no feed id: it gets one.
	if resp, _ := b.do("GET", "/events?feed=abc", "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/events?feed=: %d, want 400", resp.StatusCode)
	}
}

// A limit above Options.MaxFeedDevices is cut to it and counted: no viewer
// makes the feed follow more devices than that.
func TestDevices_LimitAboveTheCapIsCutAndCounted(t *testing.T) {
	h := hotel(t, 1, 5, 10)
	ts := serveHub(t, h, Options{AllowAnonymousView: true, MaxFeedDevices: 7})
	b := newBrowser(t, ts.url)
	if p := getPage(t, b, "limit=500"); p.Limit != 7 || len(p.Devices) != 7 || p.Total != 50 {
		t.Fatalf("limit 500 under a cap of 7: limit %d, %d devices of %d", p.Limit, len(p.Devices), p.Total)
	}
	c := openSSEPath(t, http.DefaultClient, ts.url, "/events?limit=1000", nil)
	var st Status
	mustJSON(t, c.next(t, "snapshot").data, &st)
	if len(st.Devices) != 7 || st.Page.Limit != 7 {
		t.Fatalf("the feed's snapshot holds %d devices, limit %d, want the cap 7", len(st.Devices), st.Page.Limit)
	}
	cl, err := ts.feed.find(st.Feed, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	n := len(cl.ids)
	cl.mu.Unlock()
	if n != 7 {
		t.Fatalf("the feed follows %d devices, want 7", n)
	}
	if got := ts.feed.capped.Load(); got != 2 {
		t.Fatalf("capped counted %d, want 2", got)
	}
	if _, body := b.do("GET", "/metrics", "", nil); !strings.Contains(body, "hubd_web_feed_pages_capped_total 2") {
		t.Fatal("/metrics lacks hubd_web_feed_pages_capped_total 2")
	}
}

// Without anonymous view the list needs a session; a feed opened in one
// session can not be steered from another, nor without one.
func TestDevices_SignInNeededAndFeedBoundToItsSession(t *testing.T) {
	ts := newTestServer(t, Options{Coalesce: 20 * time.Millisecond})
	anon := newBrowser(t, ts.url)
	if resp, body := anon.do("GET", "/api/devices", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous /api/devices: %d %s, want 401", resp.StatusCode, body)
	}
	tech := newBrowser(t, ts.url)
	if resp := tech.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if p := getPage(t, tech, ""); p.Total != 5 || len(p.Devices) != 5 {
		t.Fatalf("signed in: %d of %d", len(p.Devices), p.Total)
	}
	c := openSSEWith(t, tech.c, ts.url, nil)
	var st Status
	mustJSON(t, c.next(t, "snapshot").data, &st)
	if st.Feed == "" {
		t.Fatal("the snapshot names no feed")
	}
	other := newBrowser(t, ts.url)
	other.login(testUser, testPass) // the same user, another session
	if resp, body := other.do("GET", "/api/devices?feed="+st.Feed, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another session steering the feed: %d %s, want 404", resp.StatusCode, body)
	}
	if resp, _ := anon.do("GET", "/api/devices?feed="+st.Feed, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous steering the feed: %d, want 401", resp.StatusCode)
	}
	if p := getPage(t, tech, "feed="+st.Feed+"&q=lamp-2"); p.Total != 1 {
		t.Fatalf("its own session steering the feed: %d matches", p.Total)
	}
}
