package mqtt

import (
	"testing"
)

// steadyPayloads are the messages a fleet sends every telemetry period,
// as the devices send them (every member they carry, not only those the
// hub reads): the steady-state garbage of the driver is theirs.
//
// allocs is the most allocations decoding one may take: the link
// quality the update points to (one linkBox), never the payload's
// members, never a string that is only compared.
var steadyPayloads = []struct {
	name, dialect, kind, comp, payload string
	allocs                             float64
}{
	{"tasmota-STATE", DialectTasmota, "STATE", "",
		`{"Time":"2024-01-15T10:20:30","Uptime":"0T01:02:03","UptimeSec":3723,"Heap":26,"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"ON","Wifi":{"AP":1,"SSId":"hotel-iot","BSSId":"AA:BB:CC:DD:EE:FF","Channel":6,"Mode":"11n","RSSI":78,"Signal":-61,"LinkCount":1,"Downtime":"0T00:00:03"}}`, 1},
	{"tasmota-SENSOR", DialectTasmota, "SENSOR", "",
		`{"Time":"2024-01-15T10:20:30","ENERGY":{"TotalStartTime":"2023-11-02T09:12:44","Total":12.345,"Yesterday":0.512,"Today":0.231,"Period":1,"Power":42,"ApparentPower":55,"ReactivePower":35,"Factor":0.76,"Voltage":229,"Current":0.241}}`, 0},
	{"z2m-plug", DialectZ2M, kindZ2MState, "",
		`{"state":"ON","power":42.5,"voltage":229.1,"current":0.19,"energy":12.34,"linkquality":120,"update":{"state":"idle","installed_version":16908815,"latest_version":16908815}}`, 1},
	{"z2m-light", DialectZ2M, kindZ2MState, "",
		`{"brightness":203,"color":{"hue":30,"saturation":80,"x":0.4575,"y":0.4099},"color_mode":"hs","color_temp":370,"linkquality":120,"state":"ON"}`, 1},
	{"shelly2-NotifyStatus", DialectShelly2, kindS2Event, shelly2Switch0,
		`{"src":"shellyplusplugs-a8032ab12345","dst":"shellyplusplugs-a8032ab12345/events","method":"NotifyStatus","params":{"ts":1705314030.12,"switch:0":{"id":0,"apower":42.1,"current":0.19,"aenergy":{"total":1234.567,"by_minute":[701.2,699.8,702.1],"minute_ts":1705314000}}}}`, 0},
	{"shelly2-status", DialectShelly2, kindS2Status, shelly2Switch0,
		`{"id":0,"source":"init","output":true,"apower":42.1,"voltage":229.4,"current":0.19,"aenergy":{"total":1234.567,"by_minute":[701.2,699.8,702.1],"minute_ts":1705314000},"temperature":{"tC":38.2,"tF":100.8}}`, 0},
	// Plain payloads: Gen1 publishes its relay and meter topics every
	// period; Tasmota its POWER on every change.
	{"shelly1-relay", DialectShelly1, shellyRelay, "", "on", 0},
	{"shelly1-power", DialectShelly1, shellyPower, "", "42.5", 0},
	{"tasmota-POWER", DialectTasmota, "POWER", "", "ON", 0},
}

// BenchmarkDecode_Steady decodes each steady-state payload through the
// driver's decode, as a received message is: allocs/op and B/op are what
// one report costs the garbage collector.
func BenchmarkDecode_Steady(b *testing.B) {
	for _, tc := range steadyPayloads {
		b.Run(tc.name, func(b *testing.B) {
			dv := &device{dialect: tc.dialect, comp: tc.comp}
			p := []byte(tc.payload)
			if _, err := decode(dv, tc.kind, p); err != nil {
				b.Fatalf("%s: %v", tc.name, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := decode(dv, tc.kind, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Decoding the steady-state payloads allocates only what the update
// holds: no map, no member copies, no encoding/json state.
func TestDecode_SteadyPayloadsAllocateLittle(t *testing.T) {
	for _, tc := range steadyPayloads {
		dv := &device{dialect: tc.dialect, comp: tc.comp}
		p := []byte(tc.payload)
		var err error
		allocs := testing.AllocsPerRun(50, func() { _, err = decode(dv, tc.kind, p) })
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if allocs > tc.allocs {
			t.Errorf("%s: %v allocations a message, want at most %v", tc.name, allocs, tc.allocs)
		}
	}
}
