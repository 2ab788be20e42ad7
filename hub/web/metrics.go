package web

import (
	"maps"
	"net/http"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxEndpoints caps the endpoint label of the API latency histogram, so a
// caller passing raw paths can not grow the series without bound.
const maxEndpoints = 64

// apiBuckets are the bounds of the API latency histogram, in seconds.
var apiBuckets = newBuckets(.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)

// The families of /metrics.
var (
	mAPI = newMetricDesc("hubd_api_request_duration_seconds", "Time to answer a voice platform API request, by endpoint and HTTP status.", kindHistogram, "endpoint", "code")

	mBuild          = gaugeDesc("build_info", "Version, commit and architecture of the running hubd; always 1.", "version", "commit", "goarch")
	mStart          = gaugeDesc("start_time_seconds", "When hubd started, in Unix seconds.")
	mDevices        = gaugeDesc("devices", "Devices by reachability (online: heard from and not stale).", "state")
	mReports        = counterDesc("reports_total", "Device reports applied or rejected, by driver.", "driver", "result")
	mCommands       = counterDesc("commands_total", "Commands sent to devices, by driver and result.", "driver", "result")
	mBusOpen        = gaugeDesc("serial_bus_open", "1 when the serial port is open.", "bus")
	mBusFrames      = counterDesc("serial_frames_total", "Serial frames by bus and direction.", "bus", "direction")
	mBusCRC         = counterDesc("serial_crc_errors_total", "Serial frames dropped for a bad CRC.", "bus")
	mBusTimeouts    = counterDesc("serial_timeouts_total", "Serial requests that got no answer in time.", "bus")
	mBusReconnects  = counterDesc("serial_reconnects_total", "Times a serial port was reopened.", "bus")
	mBusQueueFull   = counterDesc("serial_queue_full_total", "Commands that found a bus's command queue full and waited for room.", "bus")
	mSlaveFailures  = counterDesc("serial_slave_failures_total", "Failed exchanges with one device address on a Modbus bus, by kind (timeout, crc, exception).", "bus", "address", "kind")
	mMQTTUp         = gaugeDesc("mqtt_connected", "1 when connected to the MQTT broker.", "broker")
	mMQTTReconnects = counterDesc("mqtt_reconnects_total", "MQTT reconnections.", "broker")
	mMQTTMsgs       = counterDesc("mqtt_messages_total", "MQTT messages by direction (in: taken for a device, out, bad: taken but not understood).", "broker", "direction")
	mAlexaCalls     = counterDesc("alexa_calls_total", "Alexa API calls by result.", "result")
	mAlexaLastOK    = gaugeDesc("alexa_sync_last_success_timestamp_seconds", "When the Alexa sync last succeeded (0: never).")
	mAlexaPending   = gaugeDesc("alexa_sync_pending_steps", "Steps of the Alexa sync plan not yet done.")
	mAlexaUnits     = gaugeDesc("alexa_units", "Site nodes by whether Alexa has a unit for them.", "state")
	mNotifications  = counterDesc("notifications_total", "Yandex state notifications by result.", "result")
	mNotifyPending  = gaugeDesc("notifications_pending", "Yandex state notifications waiting to be sent.")
	mStoreSize      = gaugeDesc("store_size_bytes", "Size of the state file.")
	mStorePending   = gaugeDesc("store_pending_states", "Device states applied but not yet committed to the state file.")
	mSSEClients     = gaugeDesc("web_live_clients", "Status pages connected to the live feed.")
	mSSEDropped     = counterDesc("web_live_clients_dropped_total", "Live-feed clients dropped for reading too slowly.")
	mFeedLost       = counterDesc("web_feed_changes_lost_total", "Hub changes the live feed missed (each caused a full resync).")
	mFeedCapped     = counterDesc("web_feed_pages_capped_total", "Device-list pages asked for with more devices than web.max_feed_devices, cut to it.")
	mGzipSkipped    = counterDesc("web_compression_skipped_total", "Answers sent uncompressed to a client that takes gzip, for want of a free writer (web.max_compressed).")
	mGoMemory       = gaugeDesc("go_memory_bytes", "Memory the Go runtime holds, by class (heap: in use by objects and their spans' free room; stacks: goroutine stacks; heap_free: free, not yet returned to the OS; total: mapped).", "class")
	mGoroutines     = gaugeDesc("goroutines", "Goroutines running now.")
)

func gaugeDesc(name, help string, labels ...string) *metricDesc {
	return newMetricDesc("hubd_"+name, help, kindGauge, labels...)
}

func counterDesc(name, help string, labels ...string) *metricDesc {
	return newMetricDesc("hubd_"+name, help, kindCounter, labels...)
}

// metrics serves /metrics. Everything but the API latency histogram is read
// from the hub and Options functions at scrape time, so the numbers are
// never stale or double-counted.
type metrics struct {
	s       *Server
	handler http.Handler // what server.go routes GET /metrics to

	// api holds the API latency series. ObserveAPI reads it without a
	// lock; a new series copies the map under mu (at most a few hundred
	// series, made once each).
	api       atomic.Pointer[map[apiKey]*histogram]
	mu        sync.Mutex
	endpoints map[string]bool // endpoint labels in use, at most maxEndpoints+1 ("other")
	lastSize  atomic.Int64    // bytes of the last scrape, to size the next one's buffer
}

// apiKey names one series of the API latency histogram.
type apiKey struct {
	endpoint string
	status   int
}

func newMetrics(s *Server) *metrics {
	m := &metrics{s: s, endpoints: map[string]bool{}}
	m.api.Store(&map[apiKey]*histogram{})
	m.handler = http.HandlerFunc(m.serve)
	return m
}

// ObserveAPI records one API request; the Yandex package's Observe hook is
// wired here. Endpoints beyond the first 64 distinct ones count as "other".
// It is on every voice request's path: once a series exists, it costs a
// map lookup and two atomic adds, and takes no lock.
func (s *Server) ObserveAPI(endpoint string, status int, d time.Duration) {
	m := s.metrics
	h := (*m.api.Load())[apiKey{endpoint, status}]
	if h == nil {
		h = m.apiSeries(endpoint, status)
	}
	h.observe(d)
}

// apiSeries finds or makes the series for endpoint and status, applying
// the endpoint cap.
func (m *metrics) apiSeries(endpoint string, status int) *histogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.endpoints[endpoint] {
		if len(m.endpoints) >= maxEndpoints {
			endpoint = "other"
		}
		m.endpoints[endpoint] = true
	}
	k := apiKey{endpoint, status}
	old := *m.api.Load()
	if h := old[k]; h != nil {
		return h
	}
	h := newHistogram(apiBuckets)
	series := make(map[apiKey]*histogram, len(old)+1)
	maps.Copy(series, old)
	series[k] = h
	m.api.Store(&series)
	return h
}

// serve writes the exposition (GET and HEAD, as routed).
func (m *metrics) serve(w http.ResponseWriter, r *http.Request) {
	b := m.collect().appendText(make([]byte, 0, m.lastSize.Load()+1024))
	m.lastSize.Store(int64(len(b)))
	h := w.Header()
	h.Set("Content-Type", expoContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(b) // an error means the scraper went away; nothing to do
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collect reads every figure now.
func (m *metrics) collect() *exposition {
	s := m.s
	o := &s.opts
	e := newExposition()
	count := func(d *metricDesc, v uint64, l ...string) { e.add(d, float64(v), l...) }

	for k, h := range *m.api.Load() {
		e.addHistogram(mAPI, h.snapshot(), k.endpoint, strconv.Itoa(k.status))
	}

	e.add(mBuild, 1, o.Version, o.Commit, goarch())
	e.add(mStart, float64(o.Started.UnixNano())/1e9)
	rt := readRuntime()
	e.add(mGoMemory, rt.heap, "heap")
	e.add(mGoMemory, rt.stacks, "stacks")
	e.add(mGoMemory, rt.heapFree, "heap_free")
	e.add(mGoMemory, rt.total, "total")
	e.add(mGoroutines, rt.goroutines)

	m.collectDevices(e)

	st := s.h.Stats()
	for drv, n := range st.Reports {
		count(mReports, n, drv, "ok")
	}
	for drv, n := range st.Rejected {
		count(mReports, n, drv, "rejected")
	}
	for k, n := range st.Commands {
		count(mCommands, n, k[0], k[1])
	}

	// Two buses or brokers of the same name: the exposition keeps the
	// first one's series, as a duplicate label set would fail the scrape.
	if o.Buses != nil {
		for _, b := range o.Buses() {
			e.add(mBusOpen, b2f(b.Open), b.Name)
			count(mBusFrames, b.FramesIn, b.Name, "in")
			count(mBusFrames, b.FramesOut, b.Name, "out")
			count(mBusCRC, b.CRCErrors, b.Name)
			count(mBusTimeouts, b.Timeouts, b.Name)
			count(mBusReconnects, b.Reconnects, b.Name)
			count(mBusQueueFull, b.QueueFull, b.Name)
			for _, sl := range b.Slaves {
				a := strconv.Itoa(sl.Addr)
				count(mSlaveFailures, sl.Timeouts, b.Name, a, "timeout")
				count(mSlaveFailures, sl.CRCErrors, b.Name, a, "crc")
				count(mSlaveFailures, sl.Exceptions, b.Name, a, "exception")
			}
		}
	}
	if o.Brokers != nil {
		for _, b := range o.Brokers() {
			e.add(mMQTTUp, b2f(b.Connected), b.Broker)
			count(mMQTTReconnects, b.Reconnects, b.Broker)
			count(mMQTTMsgs, b.MsgsIn, b.Broker, "in")
			count(mMQTTMsgs, b.MsgsOut, b.Broker, "out")
			count(mMQTTMsgs, b.BadMsgs, b.Broker, "bad")
		}
	}
	s.mqttMetrics(e)
	s.commissioningMetrics(e)
	s.discoveryMetrics(e)
	s.uplinkMetrics(e)
	if o.Alexa != nil {
		a := o.Alexa()
		failed := min(a.CallsFailed, a.Calls)
		count(mAlexaCalls, a.Calls-failed, "ok")
		count(mAlexaCalls, failed, "error")
		var last float64
		if !a.LastOK.IsZero() {
			last = float64(a.LastOK.UnixNano()) / 1e9
		}
		e.add(mAlexaLastOK, last)
		e.add(mAlexaPending, float64(len(a.Plan)))
		var synced, unsynced int
		for _, u := range a.Units {
			if u.UnitID != "" {
				synced++
			} else {
				unsynced++
			}
		}
		e.add(mAlexaUnits, float64(synced), "synced")
		e.add(mAlexaUnits, float64(unsynced), "pending")
	}
	if o.Notifier != nil {
		n := o.Notifier()
		count(mNotifications, n.Sent, "sent")
		count(mNotifications, n.Failed, "failed")
		e.add(mNotifyPending, float64(n.Pending))
	}
	if o.StoreSize != nil {
		e.add(mStoreSize, float64(o.StoreSize()))
	}
	if o.StorePending != nil {
		e.add(mStorePending, float64(o.StorePending()))
	}
	e.add(mSSEClients, float64(s.feed.count()))
	count(mSSEDropped, s.feed.dropped.Load())
	count(mFeedLost, s.feed.lostChange.Load())
	count(mFeedCapped, s.feed.capped.Load())
	count(mGzipSkipped, s.gzip.skipped.Load())
	s.addGuardMetrics(e)
	return e
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
