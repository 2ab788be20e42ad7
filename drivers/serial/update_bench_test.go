package serial

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/firmware/wire"
	"hubd/hub"
)

// BenchmarkDriver_UpdateFirmware64K installs a 64 KiB image on a lamp over
// a real PTY through tarm/serial, with a socket on the same bus polled
// every 100 ms, 3 updates per iteration (new version each time). It
// reports the transfer rate (chunks from BEGIN to the last acknowledged
// byte), the whole update's time including the reboot, and what the same
// frames would take on a real 115200-baud line.
func BenchmarkDriver_UpdateFirmware64K(b *testing.B) {
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{VendorKey: firmware.DemoVendorPublicKey(), BootTime: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	sock, err := firmware.NewSocket(2, firmware.SocketConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := firmware.StartPTY(b.TempDir(), lamp, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	devs := []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}
	hb, err := hub.New(devs, nil, hub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer hb.Close()
	drv, err := New(Options{Buses: []BusConfig{{Name: "bus0", Port: h.Path(), PollInterval: 100 * time.Millisecond}}, Devices: devs, Apply: hb.Apply})
	if err != nil {
		b.Fatal(err)
	}
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
	const perIter = 3
	body := payload(64<<10, 42)
	var transfer, whole time.Duration
	var bytesSent, updates int
	minor := uint8(3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range perIter {
			minor++
			img, err := firmware.BuildImage("HL-100", [3]uint8{1, minor, 0}, body, firmware.DemoVendorKey())
			if err != nil {
				b.Fatal(err)
			}
			var first, last time.Time
			t0 := time.Now()
			err = drv.UpdateFirmware(ctx, "lamp-1", img, func(sent, total int) {
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				if sent == total && last.IsZero() {
					last = now
				}
			})
			if err != nil {
				b.Fatalf("update %d: %v", updates, err)
			}
			whole += time.Since(t0)
			transfer += last.Sub(first)
			bytesSent += len(img)
			updates++
		}
	}
	b.StopTimer()
	if d, _ := hb.Device("lamp-1"); d.Info.Firmware != fmt.Sprintf("1.%d.0", minor) {
		b.Fatalf("hub shows firmware %q", d.Info.Firmware)
	}
	rate := float64(bytesSent) / transfer.Seconds()
	// On the wire per chunk: the request frame (SOF LEN ADDR SEQ CMD,
	// 4-byte offset, data, CRC) and the UPDATE_STATUS reply, 10 bits a
	// byte at 115200 baud, plus 1 ms of turnaround and gaps.
	chunks := (len(body) + firmware.ImageOverhead + wire.MaxChunk - 1) / wire.MaxChunk
	perChunk := float64((5+4+wire.MaxChunk+2)+(5+5+2))*10/115200 + 0.001
	onWire := float64(chunks) * perChunk
	b.ReportMetric(rate, "bytes/s")
	b.ReportMetric(float64(whole.Milliseconds())/float64(updates), "ms/update")
	b.ReportMetric(onWire, "s-at-115200-baud")
	b.Logf("%d updates of %d bytes over a PTY: transfer %.0f bytes/s, %.1f ms per whole update (reboot included); at 115200 baud the %d chunks would take %.1f s (%.0f bytes/s)",
		updates, bytesSent/updates, rate, float64(whole.Milliseconds())/float64(updates), chunks, onWire, float64(len(body))/onWire)
}
