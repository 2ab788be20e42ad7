package web

import (
	"testing"

	"hubd/hub"
)

func TestMetrics_ModbusSlaveFailuresByAddress(t *testing.T) {
	opts := Options{AllowAnonymousView: true}
	opts.Buses = func() []hub.BusStatus {
		return []hub.BusStatus{{Name: "rs485", Port: "/dev/ttyUSB1", Protocol: "modbus", Open: true, Timeouts: 9, CRCErrors: 2, QueueFull: 6,
			Slaves: []hub.SlaveStatus{{Addr: 3, Timeouts: 4, CRCErrors: 2}, {Addr: 17, Timeouts: 5, Exceptions: 1}}}}
	}
	ts := newTestServer(t, opts)
	fams := scrape(t, ts.url)
	for _, tc := range []struct {
		addr, kind string
		want       float64
	}{
		{"3", "timeout", 4}, {"3", "crc", 2}, {"3", "exception", 0},
		{"17", "timeout", 5}, {"17", "crc", 0}, {"17", "exception", 1},
	} {
		labels := map[string]string{"bus": "rs485", "address": tc.addr, "kind": tc.kind}
		if got := value(t, fams, "hubd_serial_slave_failures_total", labels); got != tc.want {
			t.Errorf("%v = %v, want %v", labels, got, tc.want)
		}
	}
	if got := value(t, fams, "hubd_serial_queue_full_total", map[string]string{"bus": "rs485"}); got != 6 {
		t.Errorf("queue full %v, want 6", got)
	}
	if got := value(t, fams, "hubd_serial_timeouts_total", map[string]string{"bus": "rs485"}); got != 9 {
		t.Errorf("bus timeouts %v, want 9", got)
	}
}
