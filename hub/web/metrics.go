package web

import (
	"net/http"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxEndpoints caps the endpoint label of the API latency histogram, so a
// caller passing raw paths can not grow the series without bound.
const maxEndpoints = 64

// metrics owns the Prometheus registry of /metrics. Everything but the API
// latency histogram is read from the hub and Options functions at scrape
// time by collector, so the numbers are never stale or double-counted.
type metrics struct {
	reg     *prometheus.Registry
	api     *prometheus.HistogramVec
	handler http.Handler

	mu        sync.Mutex
	endpoints map[string]bool
}

var _ prometheus.Collector = (*collector)(nil)

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), endpoints: map[string]bool{}}
	m.api = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hubd_api_request_duration_seconds",
		Help:    "Time to answer a voice platform API request, by endpoint and HTTP status.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"endpoint", "code"})
	m.reg.MustRegister(m.api, newCollector(s))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// ObserveAPI records one API request; the Yandex package's Observe hook is
// wired here. Endpoints beyond the first 64 distinct ones count as "other".
func (s *Server) ObserveAPI(endpoint string, status int, d time.Duration) {
	m := s.metrics
	m.mu.Lock()
	if !m.endpoints[endpoint] {
		if len(m.endpoints) >= maxEndpoints {
			endpoint = "other"
		}
		m.endpoints[endpoint] = true
	}
	m.mu.Unlock()
	m.api.WithLabelValues(endpoint, strconv.Itoa(status)).Observe(d.Seconds())
}

type collector struct {
	s *Server

	build, start, devices, reports, commands               *prometheus.Desc
	busOpen, busFrames, busCRC, busTimeouts, busReconnects *prometheus.Desc
	mqttUp, mqttReconnects, mqttMsgs                       *prometheus.Desc
	alexaCalls, alexaLastOK, alexaPending, alexaUnits      *prometheus.Desc
	notifications, notifyPending, storeSize, sseClients    *prometheus.Desc
	sseDropped, feedLost                                   *prometheus.Desc
	goMemory, goroutines                                   *prometheus.Desc
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("hubd_"+name, help, labels, nil)
	}
	return &collector{
		s:              s,
		build:          d("build_info", "Version, commit and architecture of the running hubd; always 1.", "version", "commit", "goarch"),
		start:          d("start_time_seconds", "When hubd started, in Unix seconds."),
		devices:        d("devices", "Devices by reachability (online: heard from and not stale).", "state"),
		reports:        d("reports_total", "Device reports applied or rejected, by driver.", "driver", "result"),
		commands:       d("commands_total", "Commands sent to devices, by driver and result.", "driver", "result"),
		busOpen:        d("serial_bus_open", "1 when the serial port is open.", "bus"),
		busFrames:      d("serial_frames_total", "Serial frames by bus and direction.", "bus", "direction"),
		busCRC:         d("serial_crc_errors_total", "Serial frames dropped for a bad CRC.", "bus"),
		busTimeouts:    d("serial_timeouts_total", "Serial requests that got no answer in time.", "bus"),
		busReconnects:  d("serial_reconnects_total", "Times a serial port was reopened.", "bus"),
		mqttUp:         d("mqtt_connected", "1 when connected to the MQTT broker.", "broker"),
		mqttReconnects: d("mqtt_reconnects_total", "MQTT reconnections.", "broker"),
		mqttMsgs:       d("mqtt_messages_total", "MQTT messages by direction (in, out, bad: received but not understood).", "broker", "direction"),
		alexaCalls:     d("alexa_calls_total", "Alexa API calls by result.", "result"),
		alexaLastOK:    d("alexa_sync_last_success_timestamp_seconds", "When the Alexa sync last succeeded (0: never)."),
		alexaPending:   d("alexa_sync_pending_steps", "Steps of the Alexa sync plan not yet done."),
		alexaUnits:     d("alexa_units", "Site nodes by whether Alexa has a unit for them.", "state"),
		notifications:  d("notifications_total", "Yandex state notifications by result.", "result"),
		notifyPending:  d("notifications_pending", "Yandex state notifications waiting to be sent."),
		storeSize:      d("store_size_bytes", "Size of the state file."),
		sseClients:     d("web_live_clients", "Status pages connected to the live feed."),
		sseDropped:     d("web_live_clients_dropped_total", "Live-feed clients dropped for reading too slowly."),
		feedLost:       d("web_feed_changes_lost_total", "Hub changes the live feed missed (each caused a full resync)."),
		goMemory:       d("go_memory_bytes", "Memory the Go runtime holds, by class (heap: in use by objects and their spans' free room; stacks: goroutine stacks; heap_free: free, not yet returned to the OS; total: mapped).", "class"),
		goroutines:     d("goroutines", "Goroutines running now."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.build, c.start, c.devices, c.reports, c.commands,
		c.busOpen, c.busFrames, c.busCRC, c.busTimeouts, c.busReconnects,
		c.mqttUp, c.mqttReconnects, c.mqttMsgs,
		c.alexaCalls, c.alexaLastOK, c.alexaPending, c.alexaUnits,
		c.notifications, c.notifyPending, c.storeSize, c.sseClients,
		c.sseDropped, c.feedLost, c.goMemory, c.goroutines,
	} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	o := &s.opts
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(c.build, 1, o.Version, o.Commit, goarch())
	gauge(c.start, float64(o.Started.UnixNano())/1e9)
	rt := readRuntime()
	gauge(c.goMemory, rt.heap, "heap")
	gauge(c.goMemory, rt.stacks, "stacks")
	gauge(c.goMemory, rt.heapFree, "heap_free")
	gauge(c.goMemory, rt.total, "total")
	gauge(c.goroutines, rt.goroutines)

	var online, offline int
	for _, d := range s.h.Devices() {
		if _, snap, ok := s.h.Snapshot(d.ID); ok && s.h.Reachable(&snap) {
			online++
		} else {
			offline++
		}
	}
	gauge(c.devices, float64(online), "online")
	gauge(c.devices, float64(offline), "offline")

	st := s.h.Stats()
	for drv, n := range st.Reports {
		counter(c.reports, n, drv, "ok")
	}
	for drv, n := range st.Rejected {
		counter(c.reports, n, drv, "rejected")
	}
	for k, n := range st.Commands {
		counter(c.commands, n, k[0], k[1])
	}

	if o.Buses != nil {
		seen := map[string]bool{}
		for _, b := range o.Buses() {
			if seen[b.Name] {
				continue // duplicate label sets would fail the scrape
			}
			seen[b.Name] = true
			gauge(c.busOpen, b2f(b.Open), b.Name)
			counter(c.busFrames, b.FramesIn, b.Name, "in")
			counter(c.busFrames, b.FramesOut, b.Name, "out")
			counter(c.busCRC, b.CRCErrors, b.Name)
			counter(c.busTimeouts, b.Timeouts, b.Name)
			counter(c.busReconnects, b.Reconnects, b.Name)
		}
	}
	if o.Brokers != nil {
		seen := map[string]bool{}
		for _, b := range o.Brokers() {
			if seen[b.Broker] {
				continue
			}
			seen[b.Broker] = true
			gauge(c.mqttUp, b2f(b.Connected), b.Broker)
			counter(c.mqttReconnects, b.Reconnects, b.Broker)
			counter(c.mqttMsgs, b.MsgsIn, b.Broker, "in")
			counter(c.mqttMsgs, b.MsgsOut, b.Broker, "out")
			counter(c.mqttMsgs, b.BadMsgs, b.Broker, "bad")
		}
	}
	if o.Alexa != nil {
		a := o.Alexa()
		failed := min(a.CallsFailed, a.Calls)
		counter(c.alexaCalls, a.Calls-failed, "ok")
		counter(c.alexaCalls, failed, "error")
		var last float64
		if !a.LastOK.IsZero() {
			last = float64(a.LastOK.UnixNano()) / 1e9
		}
		gauge(c.alexaLastOK, last)
		gauge(c.alexaPending, float64(len(a.Plan)))
		var synced, unsynced int
		for _, u := range a.Units {
			if u.UnitID != "" {
				synced++
			} else {
				unsynced++
			}
		}
		gauge(c.alexaUnits, float64(synced), "synced")
		gauge(c.alexaUnits, float64(unsynced), "pending")
	}
	if o.Notifier != nil {
		n := o.Notifier()
		counter(c.notifications, n.Sent, "sent")
		counter(c.notifications, n.Failed, "failed")
		gauge(c.notifyPending, float64(n.Pending))
	}
	if o.StoreSize != nil {
		gauge(c.storeSize, float64(o.StoreSize()))
	}
	gauge(c.sseClients, float64(s.feed.count()))
	counter(c.sseDropped, s.feed.dropped.Load())
	counter(c.feedLost, s.feed.lostChange.Load())
}

// runtimeFigures are the Go runtime's memory and goroutines, for /metrics.
type runtimeFigures struct {
	heap, stacks, heapFree, total, goroutines float64
}

// runtimeSamples are read with runtime/metrics, which does not stop the
// world (runtime.ReadMemStats does).
var runtimeSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/total:bytes",
	"/sched/goroutines:goroutines",
}

func readRuntime() runtimeFigures {
	ss := make([]rtmetrics.Sample, len(runtimeSamples))
	for i, n := range runtimeSamples {
		ss[i].Name = n
	}
	rtmetrics.Read(ss)
	v := func(i int) float64 {
		if ss[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0 // not in this Go version
		}
		return float64(ss[i].Value.Uint64())
	}
	return runtimeFigures{heap: v(0) + v(1), stacks: v(2), heapFree: v(3), total: v(4), goroutines: v(5)}
}
