package mqtt_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt"
	"hubd/hub"
)

// BenchmarkIngest_Embedded pushes a fixed number of meter reports for many
// devices through the embedded broker, from device connections of their
// own, and measures how fast the hub applies them and what the daemon's
// heap holds per connected device.
func BenchmarkIngest_Embedded(b *testing.B) {
	const (
		devices = 500
		total   = 100_000
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
		drv, err := mqtt.New(mqtt.Options{Listen: "127.0.0.1:0", ClientID: "hubd-ingest", Devices: devs, Apply: h.Apply, QueueLen: 64})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { drv.Run(ctx); close(done) }()
		waitFor(b, 10*time.Second, "connected", func() bool { return drv.Status()[0].Connected })

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]paho.Client, devices)
		for i := range clients {
			clients[i] = rawClient(b, drv.BrokerURL(), "", "")
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		in0 := drv.Status()[0].MsgsIn

		// Each device publishes its share from its own connection; a few
		// goroutines drive them, as devices reporting at once would.
		const drivers = 8
		start := time.Now()
		var wg sync.WaitGroup
		for g := range drivers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last paho.Token
				for i := g; i < total; i += drivers {
					last = clients[i%devices].Publish(fmt.Sprintf("shellies/ingest-%03d/relay/0/power", i%devices), 0, false, strconv.Itoa(i))
					if i%1000 < drivers {
						last.Wait()
					}
				}
				if last != nil {
					last.Wait()
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(60 * time.Second)
		var in, applied, dropped uint64
		for {
			in, applied, dropped = drv.Status()[0].MsgsIn-in0, h.Stats().Reports["mqtt"], drv.Stats().Dropped
			if in >= total && applied+dropped >= in || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start)
		for _, c := range clients {
			c.Disconnect(0)
		}
		cancel()
		<-done
		h.Close()
		// The clients live in this process too: the per-device figure
		// includes paho's side of each connection.
		perDev := (float64(after.HeapInuse) - float64(before.HeapInuse)) / devices
		b.ReportMetric(float64(applied)/el.Seconds(), "reports/s")
		b.ReportMetric(float64(dropped), "dropped")
		b.ReportMetric(float64(drv.Stats().BrokerDropped), "broker-dropped")
		b.ReportMetric(perDev/1024, "heap-KiB/conn")
		b.Logf("%d messages published by %d device connections, %d received, %d applied, %d superseded in %v: %.0f reports/s (target >= 10000); heap %.1f KiB per connection (both ends)",
			total, devices, in, applied, dropped, el, float64(applied)/el.Seconds(), perDev/1024)
	}
}
