package mqtt

import (
	"runtime"
	"strings"
	"testing"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub"
)

// massDevices is the hub's devices for mqttsim.Mass(n), the mix the
// daemon's 10,000-device runs emulate.
func massDevices(n int) []hub.Device {
	var devs []hub.Device
	for _, s := range mqttsim.Mass(n) {
		devs = append(devs, s.Device())
	}
	return devs
}

// benchDriver is a driver that is not run, holding devs' table.
func benchDriver(b *testing.B, devs []hub.Device) *Driver {
	b.Helper()
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-bench", Apply: func(hub.Report) error { return nil }, Devices: devs})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// heapOf is the live heap that what make returns holds.
func heapOf[T any](make func() T) (T, int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := make()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return v, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkTable_Build10000 is the live heap of the driver's table for
// the hub devices of mqttsim.Mass(10000): table-B the whole table (its
// devices included), routes-B its routes alone (the maps receive routes
// by, and the topic strings made for them), built again for the same
// devices.
func BenchmarkTable_Build10000(b *testing.B) {
	devs := massDevices(10000)
	d := benchDriver(b, nil)
	for range b.N {
		p, tableB := heapOf(func() plan {
			p, err := d.build(devs, &table{})
			if err != nil {
				b.Fatal(err)
			}
			return p
		})
		t, routesB := heapOf(func() *table {
			t := d.newTable()
			for _, dv := range p.t.devs {
				if err := d.route(t, dv); err != nil {
					b.Fatal(err)
				}
			}
			return t
		})
		b.ReportMetric(float64(tableB), "table-B")
		b.ReportMetric(float64(routesB), "routes-B")
		runtime.KeepAlive(p)
		runtime.KeepAlive(t)
	}
}

// BenchmarkReceive_Mass routes messages of each dialect's topics through
// the table of mqttsim.Mass(10000), as the broker hands them to the
// driver, cycling over the devices; "miss" is topics no route takes.
func BenchmarkReceive_Mass(b *testing.B) {
	devs := massDevices(10000)
	d := benchDriver(b, devs)
	topics := map[string][]string{}
	for _, dv := range d.tab.Load().devs {
		var ts []string
		switch dv.dialect {
		case DialectTasmota:
			ts = []string{"tele/" + dv.name + "/STATE", "stat/" + dv.name + "/RESULT"}
		case DialectZ2M:
			ts = []string{dv.base, dv.base + "/availability"}
		case DialectShelly1:
			ts = []string{dv.base + "relay/0/power", dv.base + "online"}
		case DialectShelly2:
			ts = []string{dv.name + "/status/" + dv.comp, dv.name + "/online"}
		}
		topics[dv.dialect] = append(topics[dv.dialect], ts...)
		topics["miss"] = append(topics["miss"], strings.Replace(ts[0], "/", "/x", 1))
	}
	p := []byte("1")
	for _, name := range []string{DialectTasmota, DialectZ2M, DialectShelly1, DialectShelly2, "miss"} {
		ts := topics[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				d.receive(ts[i%len(ts)], p, false)
			}
		})
	}
}
