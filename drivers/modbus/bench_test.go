package modbus

import (
	"fmt"
	"testing"
	"time"

	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// pollLimit is the most polls a second a line at baud carries: each poll
// of one coil is an 8-byte request and a 6-byte reply (8N1, 10 bits a
// character), each followed by the 3.5-character silence.
func pollLimit(baud int) float64 {
	bits := rtu.CharBits(false, 1)
	per := time.Duration(8+6)*rtu.CharTime(baud, bits) + 2*rtu.FrameGap(baud, bits)
	return float64(time.Second) / float64(per)
}

// BenchmarkBus_32Relays polls 32 one-channel relays on a PTY bus paced as
// a cable at 19200 and 115200 baud, and reports the polls a second (over
// one second with no commands), the theoretical limit at that baud, and
// the latency of a command (write coil plus read back) while polling goes
// on. Run: go test -run '^$' -bench Bus_32Relays -benchtime 20x ./drivers/modbus/
func BenchmarkBus_32Relays(b *testing.B) {
	for _, baud := range []int{19200, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			_, r := startRelays(b, 32, baud)
			before := r.drv.Status()[0].FramesOut
			window := time.Second
			time.Sleep(window) // the measuring window itself, not a wait for an event
			polls := float64(r.drv.Status()[0].FramesOut-before) / window.Seconds()

			// At least one command to every relay, so that `make bench`
			// (-benchtime 1x) gets a latency worth printing.
			n := max(b.N, 32)
			b.ResetTimer()
			start := time.Now()
			for i := range n {
				id := fmt.Sprintf("r%d", i%32+1)
				if err := r.exec(b, id, hub.State{Set: hub.Fields(hub.FieldOn), On: i/32%2 == 0}); err != nil {
					b.Fatal(err)
				}
			}
			lat := time.Since(start) / time.Duration(n)
			b.StopTimer()
			b.ReportMetric(polls, "polls/s")
			b.ReportMetric(pollLimit(baud), "limit-polls/s")
			b.ReportMetric(float64(lat.Microseconds())/1000, "ms/command")
			b.Logf("baud %d: %.0f polls/s (limit %.0f), command %v", baud, polls, pollLimit(baud), lat)
		})
	}
}
