package web

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"unsafe"

	"hubd/hub"
)

// The status header the live feed sends every heartbeat, the summary of
// problems and a /metrics scrape visit every device; on a 10,000-device
// gateway a copy of the device list each time is megabytes of garbage a
// second. The header and the scrape walk the hub (hub.Walk), whose buffer
// is one chunk whatever the number of devices; the summary reads each
// device of the page's index on its own, which copies nothing either.
//
// The bound is half a copy of the device list (n × the size of a
// hub.Device): a single copy of it fails the test, while what does not
// grow with the devices fits (the walk's one 16 KB chunk, the links, and
// an exposition of a few dozen series: every lamp of benchHub is online
// and reports no link quality, so no device adds series of its own).
func TestStatusAndMetrics_AllocateLessThanACopyOfTheDevices(t *testing.T) {
	const n = 2000
	s := benchServer(t, n)
	handler := s.Handler()
	bound := uint64(n*unsafe.Sizeof(hub.Device{})) / 2
	for _, c := range []struct {
		name string
		call func()
	}{
		{"gateway", func() {
			l := s.links()
			if g := s.gateway(&l); g.Total != n {
				t.Fatalf("gateway counts %d devices of %d", g.Total, n)
			}
		}},
		{"problems", func() {
			l := s.links()
			s.problems(&l)
		}},
		{"metrics", func() {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/metrics", nil))
			if w.Code != http.StatusOK {
				t.Fatalf("scrape: %d", w.Code)
			}
		}},
	} {
		per := allocatedPerCall(c.call)
		t.Logf("%s: %d bytes a call at %d devices (bound %d)", c.name, per, n, bound)
		if per > bound {
			t.Errorf("%s allocates %d bytes a call at %d devices, past %d (half a copy of the device list)", c.name, per, n, bound)
		}
	}
}

// allocatedPerCall is the heap f allocates a call, on average over a few
// calls after a first one that sizes caches. Whatever else allocates
// meanwhile adds to it, never takes from it.
func allocatedPerCall(f func()) uint64 {
	const calls = 20
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / calls
}
