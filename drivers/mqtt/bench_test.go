package mqtt_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

const latencySamples = 400

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// benchLatency measures, on one broker, a device's publish until the new
// value is visible in the hub (via a hub subscription), next to the
// broker's own publish-to-subscriber round trip.
func benchLatency(b *testing.B, broker string) {
	specs := []mqttsim.Spec{{ID: "plug", Dialect: mqttsim.Shelly1, Name: "bench-plug", Kind: hub.KindSocket}}
	r := newRig(b, rigOpts{broker: broker, specs: specs})
	r.waitState(b)
	user, pass := devUser, devPass
	if broker != "" {
		user, pass = "", ""
	}
	pub := rawClient(b, r.url, user, pass)
	sub := r.hub.Subscribe(1024)
	defer r.hub.Unsubscribe(sub)

	// Hub path: device publish -> broker -> driver -> hub.Apply -> subscriber.
	hubLat := make([]time.Duration, 0, latencySamples)
	for i := range latencySamples {
		v := float64(1000 + i)
		t0 := time.Now()
		pub.Publish("shellies/bench-plug/relay/0/power", 0, false, strconv.FormatFloat(v, 'f', 0, 64))
		for done := false; !done; {
			select {
			case c := <-sub.C:
				if c.Kind == hub.ChangeState && c.Device == "plug" && c.Snapshot.State.Power == v {
					hubLat = append(hubLat, time.Since(t0))
					done = true
				}
			case <-time.After(5 * time.Second):
				b.Fatalf("sample %d never reached the hub", i)
			}
		}
	}

	// Broker path: publish -> broker -> a plain subscriber.
	got := make(chan struct{}, 1)
	echo := rawClient(b, r.url, user, pass)
	echo.Subscribe("bench/rtt", 0, func(paho.Client, paho.Message) { got <- struct{}{} }).Wait()
	brLat := make([]time.Duration, 0, latencySamples)
	for range latencySamples {
		t0 := time.Now()
		pub.Publish("bench/rtt", 0, false, "x")
		select {
		case <-got:
			brLat = append(brLat, time.Since(t0))
		case <-time.After(5 * time.Second):
			b.Fatal("broker round trip lost")
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(pct(hubLat, 0.5)), "hub-p50-µs")
	b.ReportMetric(us(pct(hubLat, 0.99)), "hub-p99-µs")
	b.ReportMetric(us(pct(brLat, 0.5)), "broker-p50-µs")
	b.ReportMetric(us(pct(brLat, 0.99)), "broker-p99-µs")
	ratio := float64(pct(hubLat, 0.99)) / float64(pct(brLat, 0.99))
	b.ReportMetric(ratio, "p99-ratio")
	b.Logf("device->hub p50 %v p99 %v; broker round trip p50 %v p99 %v; p99 ratio %.2f (target <= 2)",
		pct(hubLat, 0.5), pct(hubLat, 0.99), pct(brLat, 0.5), pct(brLat, 0.99), ratio)
}

func BenchmarkLatency_Embedded(b *testing.B) {
	for range b.N {
		benchLatency(b, "")
	}
}

func BenchmarkLatency_Mosquitto(b *testing.B) {
	mq := startMosquitto(b)
	for range b.N {
		benchLatency(b, mq.URL())
	}
}

// BenchmarkIngest_Mosquitto pushes a fixed number of meter reports for many
// devices through Mosquitto and measures how fast the hub applies them.
func BenchmarkIngest_Mosquitto(b *testing.B) {
	mq := startMosquitto(b)
	const (
		devices    = 500
		publishers = 4
		total      = 100_000
	)
	for range b.N {
		var devs []hub.Device
		for i := range devices {
			devs = append(devs, hub.Device{ID: fmt.Sprintf("p%03d", i), Kind: hub.KindSocket, Driver: "mqtt",
				Address: fmt.Sprintf("shelly:ingest-%03d", i), Fields: hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy)})
		}
		h, err := hub.New(devs, nil, hub.Options{})
		if err != nil {
			b.Fatal(err)
		}
		drv, err := mqtt.New(mqtt.Options{Broker: mq.URL(), ClientID: "hubd-ingest", Devices: devs, Apply: h.Apply, QueueLen: 64})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { drv.Run(ctx); close(done) }()
		waitFor(b, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })
		in0 := drv.Status()[0].MsgsIn

		start := time.Now()
		var wg sync.WaitGroup
		for p := range publishers {
			c := rawClient(b, mq.URL(), "", "")
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last paho.Token
				for i := p; i < total; i += publishers {
					last = c.Publish(fmt.Sprintf("shellies/ingest-%03d/relay/0/power", i%devices), 0, false, strconv.Itoa(i))
					if i%2000 < publishers {
						last.Wait() // keep paho's outgoing queue bounded
					}
				}
				if last != nil {
					last.Wait()
				}
			}()
		}
		wg.Wait()
		// Every message that reached the hub is either applied or dropped
		// from a full device queue (newer values superseded it).
		settled := func() (uint64, uint64, uint64) {
			in := drv.Status()[0].MsgsIn - in0
			applied := h.Stats().Reports["mqtt"]
			return in, applied, drv.Stats().Dropped
		}
		deadline := time.Now().Add(60 * time.Second)
		var in, applied, dropped uint64
		for {
			in, applied, dropped = settled()
			if in >= total && applied+dropped >= in || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start)
		cancel()
		<-done
		h.Close()
		b.ReportMetric(float64(applied)/el.Seconds(), "reports/s")
		b.ReportMetric(float64(in)/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(dropped), "dropped")
		b.Logf("%d messages published, %d received, %d applied, %d superseded in %v: %.0f reports/s (target >= 10000)",
			total, in, applied, dropped, el, float64(applied)/el.Seconds())
	}
}

// BenchmarkExecute_Shelly2 measures hub.Execute on a Gen2 plug over the
// embedded broker, from the call until the command is confirmed: the RPC
// reply, then the Switch.GetStatus echo. Half the commands change nothing
// (on when on), which only the RPC reply can confirm.
func BenchmarkExecute_Shelly2(b *testing.B) {
	specs := []mqttsim.Spec{{ID: "plug", Dialect: mqttsim.Shelly2, Name: "bench-plus", Kind: hub.KindSocket}}
	r := newRig(b, rigOpts{specs: specs})
	r.waitState(b)
	const n = 200
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		cmd := hub.Command{Device: "plug", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: i%4 < 2}}
		start := time.Now()
		if err := r.hub.Execute(context.Background(), cmd); err != nil {
			b.Fatalf("command %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	p50, p99 := pct(lat, 0.5), pct(lat, 0.99)
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.Logf("%d Gen2 commands (half of them no change): confirmed p50 %v p99 %v", n, p50, p99)
}
