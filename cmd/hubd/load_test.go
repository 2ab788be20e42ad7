package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/mqttsim"
)

// soakEnabled says whether the long tests run: HUBD_SOAK=1 (make soak).
func soakEnabled(t *testing.T) {
	t.Helper()
	if os.Getenv("HUBD_SOAK") != "1" {
		t.Skip("soak test: run with HUBD_SOAK=1 (make soak)")
	}
}

// soakDuration is SOAK_DURATION (default 5m).
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	d := 5 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 10*time.Second {
			t.Fatalf("SOAK_DURATION=%q: want a duration of at least 10s", v)
		}
	}
	return d
}

// deviceSide reports whether a message on topic was published by a device
// (a report) rather than by the hub (commands, queries, its availability).
func deviceSide(topic string, shelly2 map[string]bool) bool {
	switch {
	case strings.HasPrefix(topic, "hubd/") && strings.HasSuffix(topic, "/rpc"):
		return true // a Gen2 device's reply to the hub's request
	case strings.HasPrefix(topic, "cmnd/"), strings.HasPrefix(topic, "hubd/"):
		return false
	case strings.HasSuffix(topic, "/set"), strings.HasSuffix(topic, "/get"), strings.HasSuffix(topic, "/command"):
		return false
	case strings.HasSuffix(topic, "/rpc") && shelly2[strings.TrimSuffix(topic, "/rpc")]:
		return false // a Gen2 request from the hub
	}
	return true
}

// TestLoad_ThousandDevices_EveryReportApplied runs the daemon with 1,000
// emulated MQTT devices (every dialect) reporting every second while
// devices/query runs at 50 requests a second for 10 devices each. It prints
// the daemon's resident memory every 10 s, query latency per minute, and
// requires that every report a device published was applied by the hub.
func TestLoad_ThousandDevices_EveryReportApplied(t *testing.T) {
	soakEnabled(t)
	dur := soakDuration(t)
	const (
		devices = 1000
		qps     = 50
		perQ    = 10
	)
	specs := mqttsim.Mass(devices)
	shelly2 := map[string]bool{}
	ids := make([]string, devices)
	for i, s := range specs {
		ids[i] = s.ID
		if s.Dialect == mqttsim.Shelly2 {
			shelly2[s.Name] = true
		}
	}
	dir := t.TempDir()
	broker := freePort(t)
	cfg := mqttRunConfig(t, dir, broker, "hubd", "load-pass", specs, func(c *Config) { c.StaleAfter = 10 * time.Minute })
	// The release build, so that its resident memory is the shipped one.
	d := startBinary(t, buildHubd(t, t.TempDir(), runtime.GOARCH), "run", "-config", cfg)
	pid := d.cmd.Process.Pid

	// An independent observer counts what the devices publish.
	var sent, hubMsgs atomic.Int64
	obs, err := mqttConnect(broker, "load-observer", "hubd", "load-pass", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Disconnect(0)
	if tok := obs.Subscribe("#", 0, func(_ paho.Client, m paho.Message) {
		if deviceSide(m.Topic(), shelly2) {
			sent.Add(1)
		} else {
			hubMsgs.Add(1)
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connStart := time.Now()
	// The devices connect and announce themselves; their telemetry is
	// driven below, once the announcements (some of which carry the
	// information of many devices at once) have settled.
	sim, err := mqttsim.Start(ctx, mqttsim.Options{Broker: "tcp://" + broker, Username: "hubd", Password: "load-pass", Devices: specs, Telemetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	simClosed := false
	defer func() {
		if !simClosed {
			sim.Close()
		}
	}()
	connected := time.Since(connStart)
	applied := func() float64 {
		return mustScrape(t, d.addr).sum("hubd_reports_total", `driver="mqtt"`, `result="ok"`)
	}
	var applied0 float64
	var sent0 int64
	for i := 0; i < 60; i++ {
		a, s := applied(), sent.Load()
		time.Sleep(2 * time.Second)
		if a == applied() && s == sent.Load() {
			applied0, sent0 = a, s
			break
		}
	}
	if applied0 == 0 {
		t.Fatal("the hub's report counter did not settle after the devices connected")
	}
	rss0, _ := rssKB(pid)
	t.Logf("%d devices connected in %v and announced; daemon RSS %d KiB", devices, connected.Round(time.Millisecond), rss0)

	// Telemetry: every device reports once a second.
	stopTele := make(chan struct{})
	teleDone := make(chan struct{})
	go func() {
		defer close(teleDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopTele:
				return
			case <-tick.C:
			}
			for _, sp := range specs {
				sim.SetLoad(sp.Name, float64(20+n%40))
			}
		}
	}()

	// The query load: qps requests a second, 10 random devices each.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	type minute struct {
		lat    []time.Duration
		errors int
	}
	var lmu sync.Mutex
	var minutes []*minute
	loadStart := time.Now()
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / qps)
		defer tick.Stop()
		sem := make(chan struct{}, 32)
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for {
			select {
			case <-stopLoad:
				return
			case <-tick.C:
			}
			q := make([]string, perQ)
			for i := range q {
				q[i] = ids[rand.IntN(devices)]
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // 32 in flight: the daemon is far behind; counted as missing samples
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-sem }()
				st := time.Now()
				r, err := queryRaw(client, d.addr, q)
				took := time.Since(st)
				idx := int(st.Sub(loadStart) / time.Minute)
				lmu.Lock()
				for len(minutes) <= idx {
					minutes = append(minutes, &minute{})
				}
				if err != nil || len(r) != len(uniq(q)) {
					minutes[idx].errors++
				} else {
					minutes[idx].lat = append(minutes[idx].lat, took)
				}
				lmu.Unlock()
			}()
		}
	}()

	// Memory and counters every 10 s.
	type sample struct {
		at       time.Duration
		rss      int64
		sent     int64
		applied  float64
		online   float64
		mqttIn   float64
		rejected float64
		reconn   float64
	}
	var samples []sample
	take := func() sample {
		m := mustScrape(t, d.addr)
		kb, err := rssKB(pid)
		if err != nil {
			t.Fatalf("daemon RSS: %v", err)
		}
		return sample{
			at: time.Since(loadStart), rss: kb, sent: sent.Load() - sent0,
			applied:  m.sum("hubd_reports_total", `driver="mqtt"`, `result="ok"`) - applied0,
			online:   m.sum("hubd_devices", `state="online"`),
			mqttIn:   m.sum("hubd_mqtt_messages_total", `direction="in"`),
			rejected: m.sum("hubd_reports_total", `result="rejected"`) + m.sum("hubd_mqtt_messages_total", `direction="bad"`),
			reconn:   m.sum("hubd_mqtt_reconnects_total"),
		}
	}
	every := time.NewTicker(10 * time.Second)
	end := time.After(dur)
loop:
	for {
		select {
		case <-every.C:
			s := take()
			samples = append(samples, s)
			t.Logf("t=%4ds  rss=%7d KiB  sent=%8d  applied=%8.0f  online=%4.0f  hub reconnects=%.0f", int(s.at.Seconds()), s.rss, s.sent, s.applied, s.online, s.reconn)
		case <-end:
			break loop
		}
	}
	every.Stop()
	close(stopLoad)
	wg.Wait()
	close(stopTele)
	<-teleDone
	sim.Close()
	simClosed = true

	// Settle: the counters stop moving.
	var final sample
	prev := take()
	for range 30 {
		time.Sleep(time.Second)
		final = take()
		if final.sent == prev.sent && final.applied == prev.applied {
			break
		}
		prev = final
	}

	// The report.
	var b strings.Builder
	fmt.Fprintf(&b, "\nload: %d devices reporting every second, %d queries/s of %d devices, %v\n", devices, qps, perQ, dur)
	fmt.Fprintf(&b, "\nmemory (daemon VmRSS)\n  %6s  %10s\n", "t", "KiB")
	fmt.Fprintf(&b, "  %6s  %10d\n", "start", rss0)
	for _, s := range samples {
		fmt.Fprintf(&b, "  %5ds  %10d\n", int(s.at.Seconds()), s.rss)
	}
	fmt.Fprintf(&b, "\nquery latency per minute\n  %6s  %7s  %9s  %9s  %9s  %6s\n", "minute", "queries", "p50", "p99", "max", "errors")
	lmu.Lock()
	totalErr := 0
	for i, m := range minutes {
		n := len(m.lat)
		fmt.Fprintf(&b, "  %6d  %7d  %9v  %9v  %9v  %6d\n", i, n,
			percentile(m.lat, 0.5).Round(time.Microsecond), percentile(m.lat, 0.99).Round(time.Microsecond), percentile(m.lat, 1).Round(time.Microsecond), m.errors)
		totalErr += m.errors
	}
	lmu.Unlock()
	fmt.Fprintf(&b, "\nreports: sent by devices %d, applied by the hub %.0f, rejected or bad %.0f; hub messages seen %d; hub broker reconnects %.0f\n", final.sent, final.applied, final.rejected, hubMsgs.Load(), final.reconn)
	if len(samples) >= 2 {
		h := len(samples) / 2
		var a, z int64
		for _, s := range samples[:h] {
			a = max(a, s.rss)
		}
		for _, s := range samples[h:] {
			z = max(z, s.rss)
		}
		fmt.Fprintf(&b, "memory trend: max RSS first half %d KiB, second half %d KiB (%+d KiB)\n", a, z, z-a)
	}
	// What the daemon complained about, for the post-mortem of a failure.
	var complaints []string
	for _, line := range strings.Split(d.out.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			complaints = append(complaints, line)
		}
	}
	fmt.Fprintf(&b, "daemon warnings and errors: %d\n", len(complaints))
	for i, c := range complaints {
		if i == 20 {
			fmt.Fprintf(&b, "  ...\n")
			break
		}
		fmt.Fprintf(&b, "  %.300s\n", c)
	}
	t.Log(b.String())
	if final.reconn > 0 {
		// A lost broker connection makes the driver report every device
		// offline (applied reports no device sent) and loses what was
		// published meanwhile: the counts can not match, and the daemon
		// should not have lost its local broker under this load anyway.
		t.Errorf("the hub lost its connection to the embedded broker %.0f times under load", final.reconn)
	}

	// Fewer applied than sent is a lost report: never allowed. A few more
	// applied than the observer counted is not a loss: the observer is an
	// ordinary QoS 0 "#" subscriber of the same broker, and the hub also
	// applies replies to its own state and info requests; more than one in
	// 10,000 would point at reports counted twice.
	switch {
	case final.applied < float64(final.sent):
		t.Errorf("reports lost: devices sent %d, the hub applied %.0f", final.sent, final.applied)
	case final.applied > float64(final.sent)*1.0001:
		t.Errorf("devices sent %d reports, the hub applied %.0f: more than 1 in 10,000 extra", final.sent, final.applied)
	}
	if final.rejected != 0 {
		t.Errorf("%.0f reports rejected or messages not understood", final.rejected)
	}
	if totalErr > 0 {
		t.Errorf("%d queries failed", totalErr)
	}
	if final.sent < int64(devices)*int64(dur/time.Second)/2 {
		t.Errorf("only %d reports in %v from %d devices: the emulator did not load the daemon", final.sent, dur, devices)
	}
}

func uniq(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
