package mqtt

import (
	"fmt"
	"runtime"
	"testing"

	"hubd/hub"
)

// mixedDevices is n devices of every dialect, with some multi-output
// devices (Tasmota relays, Shelly Gen1 relays, Gen2 components) whose
// outputs share one device topic, as a large site has them.
func mixedDevices(n int) []hub.Device {
	out := make([]hub.Device, 0, n)
	for i := 0; len(out) < n; i++ {
		var addr string
		switch i % 5 {
		case 0:
			addr = fmt.Sprintf("tasmota:room%d-lamp", i)
		case 1:
			addr = fmt.Sprintf("shelly:shellyplug-%06x", i)
		case 2:
			addr = fmt.Sprintf("shelly2:shellyplus1pm-%06x", i)
		case 3:
			addr = fmt.Sprintf("z2m:floor%d/bulb-%d", i/100, i)
		case 4:
			addr = fmt.Sprintf("tasmota:room%d-strip", i)
		}
		out = append(out, hub.Device{ID: fmt.Sprint("dev-", i), Kind: hub.KindSocket, Driver: DriverName, Address: addr, Fields: hub.Fields(hub.FieldOn)})
		if i%20 == 4 && len(out) < n { // a second relay on its own account (the first output's)
			out = append(out, hub.Device{ID: fmt.Sprint("dev-", i, "-2"), Kind: hub.KindSocket, Driver: DriverName, Address: addr + ":2", Fields: hub.Fields(hub.FieldOn)})
		}
	}
	return out
}

// BenchmarkAccounts_HeapPer10000Devices is the live heap the embedded
// broker's device-account tables hold for 10,000 devices of mixed
// dialects, each on its own account, built by New as the daemon builds
// them: the heap with the tables in force, less the heap once they are
// dropped.
func BenchmarkAccounts_HeapPer10000Devices(b *testing.B) {
	const n = 10000
	devs := mixedDevices(n)
	for range b.N {
		d, err := New(Options{Listen: "127.0.0.1:0", ClientID: "hubd-bench", Apply: func(hub.Report) error { return nil }, Devices: devs})
		if err != nil {
			b.Fatal(err)
		}
		var with, without runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&with)
		dropAccountTables(d)
		runtime.GC()
		runtime.ReadMemStats(&without)
		b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/n, "B/device")
		runtime.KeepAlive(d)
		d.broker.srv.Close()
	}
}

func dropAccountTables(d *Driver) {
	d.acl.tab.Store(&aclTable{})
	d.acl.counters = nil
}
