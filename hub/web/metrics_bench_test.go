package web

import (
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
