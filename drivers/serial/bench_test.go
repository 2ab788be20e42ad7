package serial

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/hub"
)

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkDriver_CommandRoundTrip sends 300 SET_STATE commands per
// iteration to a lamp over a real PTY through tarm/serial, each returning
// when the lamp's STATE echo was applied.
func BenchmarkDriver_CommandRoundTrip(b *testing.B) {
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := firmware.StartPTY(b.TempDir(), lamp)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	devs := []hub.Device{lampDev("lamp-1", 1)}
	hb, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer hb.Close()
	drv, err := New(Options{Buses: []BusConfig{{Name: "bus0", Port: h.Path(), PollInterval: time.Hour}}, Devices: devs, Apply: hb.Apply})
	if err != nil {
		b.Fatal(err)
	}
	hb.SetDriver(Name, drv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); drv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, s, _ := hb.Snapshot("lamp-1"); s.Online {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("lamp never came online")
		}
	}
	const perIter = 300
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range perIter {
			cmd := hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: j % 101}}
			t0 := time.Now()
			if err := hb.Execute(ctx, cmd); err != nil {
				b.Fatalf("command %d: %v", j, err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	total := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/total.Seconds(), "cmds/s")
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-us")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-us")
	b.Logf("%d commands through hub.Execute over a PTY: %.0f/s, p50 %v, p99 %v", len(lat), float64(len(lat))/total.Seconds(), percentile(lat, 0.5), percentile(lat, 0.99))
}

// BenchmarkDriver_PollCycle32 times poll cycles over 32 devices (16 lamps,
// 16 sockets) on one PTY: the first cycle (IDENTIFY + GET_STATE each), then
// 20 "any news?" cycles and 20 full-state cycles.
func BenchmarkDriver_PollCycle32(b *testing.B) {
	for _, mode := range []string{"poll", "refresh"} {
		b.Run(mode, func(b *testing.B) {
			var fw []firmware.Device
			var devs []hub.Device
			for a := 1; a <= 32; a++ {
				if a%2 == 1 {
					l, _ := firmware.NewLamp(uint8(a), firmware.LampConfig{})
					fw = append(fw, l)
					devs = append(devs, lampDev(fmt.Sprintf("d%d", a), a))
				} else {
					s, _ := firmware.NewSocket(uint8(a), firmware.SocketConfig{})
					fw = append(fw, s)
					devs = append(devs, socketDev(fmt.Sprintf("d%d", a), a))
				}
			}
			h, err := firmware.StartPTY(b.TempDir(), fw...)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			cfg := BusConfig{Name: "bus0", Port: h.Path()}
			if mode == "refresh" {
				cfg.RefreshEvery = time.Nanosecond
			}
			reports := 0
			drv, err := New(Options{Buses: []BusConfig{cfg}, Devices: devs, Apply: func(hub.Report) error { reports++; return nil }})
			if err != nil {
				b.Fatal(err)
			}
			// Drive the bus goroutine's work by hand: no Run, no timers.
			bus := drv.buses[0]
			port, err := OpenTarm(h.Path(), 115200)
			if err != nil {
				b.Fatal(err)
			}
			defer port.Close()
			bus.port = port
			ctx := context.Background()
			t0 := time.Now()
			if err := bus.pollCycle(ctx); err != nil {
				b.Fatal(err)
			}
			first := time.Since(t0)
			for _, n := range bus.nodeList() {
				if !n.online {
					b.Fatalf("device %d not online after the first cycle", n.addr)
				}
			}
			const cycles = 20
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for range cycles {
					t0 := time.Now()
					if err := bus.pollCycle(ctx); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
			}
			b.StopTimer()
			st := bus.statusCopy()
			if st.Timeouts != 0 {
				b.Errorf("%d timeouts on a healthy bus", st.Timeouts)
			}
			b.ReportMetric(float64(first.Microseconds())/1000, "first-cycle-ms")
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-cycle-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-cycle-ms")
			b.Logf("32 devices, %s: first cycle %v, p50 %v, p99 %v, %d frames out, %d reports", mode, first, percentile(lat, 0.5), percentile(lat, 0.99), st.FramesOut, reports)
		})
	}
}
