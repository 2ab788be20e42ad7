package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// TestPage_Chromium_ModbusBusShowsFailuresByAddress: a technician sees a
// Modbus bus as such, and which slave addresses time out or fail their CRC.
func TestPage_Chromium_ModbusBusShowsFailuresByAddress(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	opts := Options{Name: "gw", AllowAnonymousView: true}
	opts.Buses = func() []hub.BusStatus {
		return []hub.BusStatus{{Name: "rs485", Port: "/dev/ttyUSB1", Protocol: "modbus", Open: true, Devices: 3,
			Slaves: []hub.SlaveStatus{{Addr: 3, Timeouts: 4, CRCErrors: 2}, {Addr: 17, Exceptions: 1}}}}
	}
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1024, 768)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#buses .card`))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(css(`#buses`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/dev/ttyUSB1 (modbus)", "Failures by address", "3: 4 timeouts, 2 CRC, 0 exceptions", "17: 0 timeouts, 0 CRC, 1 exceptions"} {
		if !strings.Contains(text, want) {
			t.Errorf("bus card lacks %q:\n%s", want, text)
		}
	}
}
