package uplink_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
	"hubd/hub/uplink"
	"hubd/store"
)

// logPaced logs n events in chunks that the hub subscription has room for,
// waiting for each chunk to be queued (a burst beyond the subscription's
// room is dropped by the hub and counted as missed, which is not what is
// measured here).
func logPaced(b *testing.B, f *fixture, n int, queued func() int) {
	const chunk = 2000
	for i := 0; i < n; i += chunk {
		k := min(chunk, n-i)
		for j := range k {
			f.hub.Log("info", "bench", "lamp-1", fmt.Sprintf("event %d", i+j))
		}
		want := i + k
		waitFor(b, "chunk queued", func() bool { return queued() >= want })
	}
}

// rss is the process's resident anonymous memory: bbolt's mapped file
// pages (RssFile) are the page cache's, given back under pressure.
func rss() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkUplink prints the uplink's throughput to a real Mosquitto with
// the store's fsync on, and the flush after an outage of 100,000 queued
// events with what they cost in memory and on disk; once with Mosquitto's
// defaults and once with set_tcp_nodelay (without it, Mosquitto's
// acknowledgements wait on Nagle's algorithm).
func BenchmarkUplink(b *testing.B) {
	for name, conf := range map[string]string{"default": "", "nodelay": "set_tcp_nodelay true\n"} {
		b.Run(name, func(b *testing.B) { benchUplink(b, "allow_anonymous true\npersistence false\n"+conf) })
	}
}

func benchUplink(b *testing.B, conf string) {
	const outage = 100_000
	for range b.N {
		br := mosquittotest.StartConfig(b, conf)
		f := newFixtureSync(b, br.URL(), uplink.Options{QoS: 1}, store.QueueOptions{}, true)
		waitFor(b, "connected", func() bool { return f.up.Status().Connected })
		sent := func() int { return int(f.up.Status().EventsSent) }
		base := sent()

		// Throughput while connected: events from the hub to the broker's
		// acknowledgement, through the durable queue.
		const live = 20_000
		start := time.Now()
		logPaced(b, f, live, func() int { return sent() - base + f.up.Status().Queued })
		waitFor(b, "live events acknowledged", func() bool { return sent()-base >= live })
		liveRate := float64(live) / time.Since(start).Seconds()

		// The outage: the broker stops; 100,000 events queued on disk.
		br.Stop()
		waitFor(b, "outage seen", func() bool { return !f.up.Status().Connected })
		before, rssBefore := heapInuse(), rss()
		start = time.Now()
		logPaced(b, f, outage, func() int { return f.up.Status().Queued })
		queueRate := float64(outage) / time.Since(start).Seconds()
		heap, rssQueued := int64(heapInuse())-int64(before), rss()-rssBefore
		fi, _ := os.Stat(filepath.Join(f.dir, "hubd.db"))
		st := f.up.Status()

		// The flush once the broker is reachable again.
		base = sent()
		start = time.Now()
		br.Run()
		waitWithin(b, 5*time.Minute, "flushed", func() bool { return sent()-base >= outage })
		flush := time.Since(start)
		rssFlushed := rss() - rssBefore
		b.ReportMetric(liveRate, "events/s")
		b.ReportMetric(float64(outage)/flush.Seconds(), "flush-events/s")
		fmt.Printf("%s\n", b.Name())
		fmt.Printf("uplink: %.0f events/s live (queued, fsync on, QoS 1, acknowledged by Mosquitto)\n", liveRate)
		fmt.Printf("uplink: outage of %d events: queued at %.0f events/s, %d bytes of values, store file %.1f MB, Go heap %+.1f MB, resident (anonymous) %+.1f MB while queued (%+.1f MB after the flush)\n",
			outage, queueRate, st.QueuedBytes, float64(fi.Size())/(1<<20), float64(heap)/(1<<20), float64(rssQueued)/(1<<20), float64(rssFlushed)/(1<<20))
		fmt.Printf("uplink: flushed %d events in %v after reconnecting: %.0f events/s; dropped %d, missed %d\n",
			outage, flush.Round(time.Millisecond), float64(outage)/flush.Seconds(), st.Dropped, st.Missed)
		f.close()
	}
}
