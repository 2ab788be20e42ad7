package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkMetrics_ObserveAPI: the cost ObserveAPI adds to every Yandex
// query, one goroutine at a time and from every core at once.
func BenchmarkMetrics_ObserveAPI(b *testing.B) {
	ts := newTestServer(b, Options{})
	endpoints := []string{"devices/query", "devices/action", "devices", "unlink"}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ts.ObserveAPI(endpoints[i&3], 200, time.Duration(i&1023)*time.Microsecond)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				ts.ObserveAPI(endpoints[i&3], 200, time.Duration(i&1023)*time.Microsecond)
				i++
			}
		})
	})
}

// BenchmarkMetrics_Scrape_10000Devices: one /metrics scrape of a
// 10,000-device gateway with every collector configured, the handler
// called directly so that B/op is one scrape's garbage (not the HTTP
// stack's) and ns/op one scrape's work.
func BenchmarkMetrics_Scrape_10000Devices(b *testing.B) {
	s := benchServer(b, 10000)
	b.ReportAllocs()
	h := s.Handler()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/metrics", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("scrape: %d", w.Code)
		}
	}
}

// BenchmarkGateway_10000Devices: the status header of a 10,000-device
// gateway, which the live feed builds every heartbeat while a page is
// open (and /metrics and /api/status on every call).
func BenchmarkGateway_10000Devices(b *testing.B) {
	s := benchServer(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		l := s.links()
		if g := s.gateway(&l); g.Total != 10000 {
			b.Fatalf("gateway counts %d devices", g.Total)
		}
	}
}

// benchServer is a server with every link configured over benchHub(n).
func benchServer(tb testing.TB, n int) *Server {
	tb.Helper()
	opts := Options{}
	fakeLinks(&opts)
	s, err := New(benchHub(tb, n), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkProblems_10000Devices: the summary of problems of a
// 10,000-device gateway, which the live feed sends at most every
// headerEvery while problems change and /api/status carries.
func BenchmarkProblems_10000Devices(b *testing.B) {
	s := benchServer(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		l := s.links()
		s.problems(&l)
	}
}
