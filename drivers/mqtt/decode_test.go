package mqtt

import (
	"errors"
	"testing"

	"hubd/hub"
)

type decodeCase struct {
	name    string
	dialect string
	kind    string
	payload string
	want    func(u update) bool // nil: only the error matters
	err     error               // nil: must succeed
}

var decodeCases = []decodeCase{
	// Tasmota
	{"tasmota LWT online", DialectTasmota, "LWT", "Online", func(u update) bool { return u.Avail == hub.AvailOnline }, nil},
	{"tasmota LWT offline", DialectTasmota, "LWT", "Offline", func(u update) bool { return u.Avail == hub.AvailOffline }, nil},
	{"tasmota LWT garbage", DialectTasmota, "LWT", "maybe", nil, ErrBadPayload},
	{"tasmota POWER on", DialectTasmota, "POWER", "ON", func(u update) bool { return u.State.Set == hub.Fields(hub.FieldOn) && u.State.On }, nil},
	{"tasmota POWER1 off", DialectTasmota, "POWER1", "OFF", func(u update) bool { return u.State.Set == hub.Fields(hub.FieldOn) && !u.State.On }, nil},
	{"tasmota POWER2 ignored", DialectTasmota, "POWER2", "ON", nil, ErrIgnored},
	{"tasmota POWER garbage", DialectTasmota, "POWER", "\xff\x00", nil, ErrBadPayload},
	{"tasmota RESULT power", DialectTasmota, "RESULT", `{"POWER":"ON"}`, func(u update) bool { return u.State.On && u.State.Set == hub.Fields(hub.FieldOn) }, nil},
	{"tasmota RESULT dimmer", DialectTasmota, "RESULT", `{"POWER":"ON","Dimmer":40}`, func(u update) bool { return u.State.Brightness == 40 }, nil},
	{"tasmota STATE full", DialectTasmota, "STATE", `{"Time":"2024-01-01T00:00:00","POWER":"ON","Dimmer":40,"HSBColor":"322,100,40","CT":250,"Color":"FF0066000000"}`,
		func(u update) bool {
			return u.State.Color == hub.HSV{H: 322, S: 100, V: 40} && u.State.TemperatureK == 4000 && u.State.Set.Contains(hub.LightFields)
		}, nil},
	{"tasmota CT mode from channels", DialectTasmota, "RESULT", `{"HSBColor":"0,0,50","CT":500,"Color":"000000FF80"}`, func(u update) bool {
		return u.State.Mode == hub.ColorModeTemperature && u.State.TemperatureK == 2000
	}, nil},
	{"tasmota HSV mode alone", DialectTasmota, "RESULT", `{"HSBColor":"120,50,60"}`, func(u update) bool { return u.State.Mode == hub.ColorModeHSV }, nil},
	{"tasmota CT out of range", DialectTasmota, "RESULT", `{"CT":100}`, nil, ErrBadPayload},
	{"tasmota Dimmer string", DialectTasmota, "RESULT", `{"Dimmer":"40"}`, nil, ErrBadPayload},
	{"tasmota Dimmer 101", DialectTasmota, "RESULT", `{"Dimmer":101}`, nil, ErrBadPayload},
	{"tasmota HSB bad", DialectTasmota, "RESULT", `{"HSBColor":"1,2"}`, nil, ErrBadPayload},
	{"tasmota HSB range", DialectTasmota, "RESULT", `{"HSBColor":"400,2,3"}`, nil, ErrBadPayload},
	{"tasmota POWER number", DialectTasmota, "RESULT", `{"POWER":1}`, nil, ErrBadPayload},
	{"tasmota SENSOR energy", DialectTasmota, "SENSOR", `{"ENERGY":{"Total":514.153,"Power":56,"Voltage":234,"Current":0.392}}`, func(u update) bool {
		return u.State.Energy == 514.153 && u.State.Power == 56 && u.State.Voltage == 234 && u.State.Current == 0.392
	}, nil},
	{"tasmota SENSOR arrays", DialectTasmota, "SENSOR", `{"ENERGY":{"Power":[10,20],"Voltage":[230,231],"Current":[0.1,0.2]}}`, func(u update) bool {
		return u.State.Power == 30 && u.State.Voltage == 230 && u.State.Current > 0.29 && u.State.Current < 0.31
	}, nil},
	{"tasmota SENSOR empty array", DialectTasmota, "SENSOR", `{"ENERGY":{"Power":[]}}`, nil, ErrBadPayload},
	{"tasmota SENSOR wrong type", DialectTasmota, "SENSOR", `{"ENERGY":{"Power":"lots"}}`, nil, ErrBadPayload},
	{"tasmota SENSOR ENERGY not object", DialectTasmota, "SENSOR", `{"ENERGY":5}`, nil, ErrBadPayload},
	{"tasmota SENSOR no energy", DialectTasmota, "SENSOR", `{"Time":"x","AM2301":{"Temperature":20}}`, nil, ErrIgnored},
	{"tasmota STATUS8", DialectTasmota, "STATUS8", `{"StatusSNS":{"ENERGY":{"Power":12.5}}}`, func(u update) bool { return u.State.Power == 12.5 }, nil},
	{"tasmota truncated", DialectTasmota, "RESULT", `{"POWER":"O`, nil, ErrBadPayload},
	{"tasmota array", DialectTasmota, "RESULT", `[1,2]`, nil, ErrBadPayload},
	{"tasmota empty", DialectTasmota, "STATE", ``, nil, ErrBadPayload},
	{"tasmota INFO1", DialectTasmota, "INFO1", `{"Module":"x"}`, nil, ErrIgnored},
	{"tasmota huge number", DialectTasmota, "SENSOR", `{"ENERGY":{"Power":1e300}}`, nil, ErrBadPayload},
	// Zigbee2MQTT
	{"z2m state", DialectZ2M, kindZ2MState, `{"state":"ON","brightness":254,"color_temp":370,"color_mode":"color_temp","linkquality":80}`, func(u update) bool {
		return u.State.On && u.State.Brightness == 100 && u.State.TemperatureK == 2703 && u.State.Mode == hub.ColorModeTemperature
	}, nil},
	{"z2m brightness 127", DialectZ2M, kindZ2MState, `{"brightness":127}`, func(u update) bool { return u.State.Brightness == 50 }, nil},
	{"z2m brightness 255", DialectZ2M, kindZ2MState, `{"brightness":255}`, func(u update) bool { return u.State.Brightness == 100 }, nil},
	{"z2m hs color", DialectZ2M, kindZ2MState, `{"brightness":127,"color":{"hue":120,"saturation":80},"color_mode":"hs"}`, func(u update) bool {
		return u.State.Color == hub.HSV{H: 120, S: 80, V: 50} && u.State.Mode == hub.ColorModeHSV
	}, nil},
	{"z2m xy red", DialectZ2M, kindZ2MState, `{"color":{"x":0.64,"y":0.33}}`, func(u update) bool { return u.State.Color.H <= 5 || u.State.Color.H >= 355 }, nil},
	{"z2m xy bad", DialectZ2M, kindZ2MState, `{"color":{"x":0.5,"y":0}}`, nil, ErrBadPayload},
	{"z2m meter", DialectZ2M, kindZ2MState, `{"state":"OFF","power":0,"voltage":229.5,"current":0,"energy":1.25}`, func(u update) bool {
		return !u.State.On && u.State.Voltage == 229.5 && u.State.Energy == 1.25 && u.State.Set.Contains(hub.MeterFields)
	}, nil},
	{"z2m nulls skipped", DialectZ2M, kindZ2MState, `{"state":"ON","power":null}`, func(u update) bool { return u.State.Set == hub.Fields(hub.FieldOn) }, nil},
	{"z2m brightness string", DialectZ2M, kindZ2MState, `{"brightness":"high"}`, nil, ErrBadPayload},
	{"z2m state number", DialectZ2M, kindZ2MState, `{"state":1}`, nil, ErrBadPayload},
	{"z2m state word", DialectZ2M, kindZ2MState, `{"state":"MAYBE"}`, nil, ErrBadPayload},
	{"z2m only linkquality", DialectZ2M, kindZ2MState, `{"linkquality":3}`, func(u update) bool {
		return u.State.Set.Empty() && u.Link != nil && u.Link.LQI != nil && *u.Link.LQI == 3 && u.Link.RSSI == nil
	}, nil},
	{"z2m linkquality beyond 255", DialectZ2M, kindZ2MState, `{"linkquality":300}`, nil, ErrBadPayload},
	{"z2m linkquality string", DialectZ2M, kindZ2MState, `{"linkquality":"good"}`, nil, ErrBadPayload},
	{"tasmota STATE wifi signal", DialectTasmota, "STATE", `{"POWER":"ON","Wifi":{"AP":1,"SSId":"x","RSSI":84,"Signal":-58}}`, func(u update) bool {
		return u.State.On && u.Link != nil && u.Link.RSSI != nil && *u.Link.RSSI == -58 && u.Link.LQI == nil
	}, nil},
	{"tasmota STATE wifi positive dBm", DialectTasmota, "STATE", `{"Wifi":{"Signal":12}}`, nil, ErrBadPayload},
	{"tasmota STATE wifi not object", DialectTasmota, "STATE", `{"Wifi":"strong"}`, nil, ErrBadPayload},
	{"shelly2 notify wifi", DialectShelly2, kindS2Event, `{"method":"NotifyStatus","params":{"wifi":{"rssi":-71,"ssid":"x"}}}`, func(u update) bool {
		return u.State.Set.Empty() && u.Link != nil && *u.Link.RSSI == -71
	}, nil},
	{"shelly2 notify wifi garbage", DialectShelly2, kindS2Event, `{"method":"NotifyStatus","params":{"wifi":{"rssi":"low"}}}`, nil, ErrBadPayload},
	{"z2m truncated", DialectZ2M, kindZ2MState, `{"state":"ON","bri`, nil, ErrBadPayload},
	{"z2m avail 1.x", DialectZ2M, kindZ2MAvail, `online`, func(u update) bool { return u.Avail == hub.AvailOnline }, nil},
	{"z2m avail 2.x", DialectZ2M, kindZ2MAvail, `{"state":"offline"}`, func(u update) bool { return u.Avail == hub.AvailOffline }, nil},
	{"z2m avail bad json", DialectZ2M, kindZ2MAvail, `{"state":`, nil, ErrBadPayload},
	{"z2m avail wrong type", DialectZ2M, kindZ2MAvail, `{"state":true}`, nil, ErrBadPayload},
	{"z2m avail garbage", DialectZ2M, kindZ2MAvail, `yes`, nil, ErrBadPayload},
	// Shelly Gen1
	{"shelly relay on", DialectShelly1, shellyRelay, "on", func(u update) bool { return u.State.On }, nil},
	{"shelly relay overpower", DialectShelly1, shellyRelay, "overpower", func(u update) bool { return !u.State.On && u.State.Set.Has(hub.FieldOn) }, nil},
	{"shelly relay garbage", DialectShelly1, shellyRelay, "{}", nil, ErrBadPayload},
	{"shelly power", DialectShelly1, shellyPower, "42.5", func(u update) bool { return u.State.Power == 42.5 }, nil},
	{"shelly power NaN", DialectShelly1, shellyPower, "NaN", nil, ErrBadPayload},
	{"shelly energy wmin", DialectShelly1, shellyEnergy, "60000", func(u update) bool { return u.State.Energy == 1 }, nil},
	{"shelly energy negative", DialectShelly1, shellyEnergy, "-5", nil, ErrBadPayload},
	{"shelly energy text", DialectShelly1, shellyEnergy, "lots", nil, ErrBadPayload},
	{"shelly online", DialectShelly1, shellyOnline, "true", func(u update) bool { return u.Avail == hub.AvailOnline }, nil},
	{"shelly offline", DialectShelly1, shellyOnline, "false", func(u update) bool { return u.Avail == hub.AvailOffline }, nil},
	{"shelly light", DialectShelly1, shellyLight, `{"ison":true,"brightness":30}`, func(u update) bool { return u.State.On && u.State.Brightness == 30 }, nil},
	{"shelly light wrong type", DialectShelly1, shellyLight, `{"ison":"yes"}`, nil, ErrBadPayload},
	// Shelly Gen2+
	{"shelly2 status", DialectShelly2, kindS2Status, `{"id":0,"source":"init","output":true,"apower":8.9,"voltage":237.5,"current":0.05,"aenergy":{"total":1500.0}}`, func(u update) bool {
		return u.State.On && u.State.Power == 8.9 && u.State.Energy == 1.5 && u.State.Voltage == 237.5
	}, nil},
	{"shelly2 status output string", DialectShelly2, kindS2Status, `{"output":"on"}`, nil, ErrBadPayload},
	{"shelly2 status aenergy wrong", DialectShelly2, kindS2Status, `{"aenergy":[1]}`, nil, ErrBadPayload},
	{"shelly2 notify partial", DialectShelly2, kindS2Event, `{"src":"x","dst":"x/events","method":"NotifyStatus","params":{"ts":1.5,"switch:0":{"id":0,"output":false,"source":"MQTT"}}}`, func(u update) bool {
		return u.State.Set == hub.Fields(hub.FieldOn) && !u.State.On
	}, nil},
	{"shelly2 notify power", DialectShelly2, kindS2Event, `{"method":"NotifyStatus","params":{"switch:0":{"apower":12}}}`, func(u update) bool {
		return u.State.Set == hub.Fields(hub.FieldPower) && u.State.Power == 12
	}, nil},
	{"shelly2 notify other component", DialectShelly2, kindS2Event, `{"method":"NotifyStatus","params":{"sys":{"uptime":5}}}`, nil, ErrIgnored},
	{"shelly2 notify event", DialectShelly2, kindS2Event, `{"method":"NotifyEvent","params":{"events":[]}}`, nil, ErrIgnored},
	{"shelly2 notify no method", DialectShelly2, kindS2Event, `{"params":{}}`, nil, ErrBadPayload},
	{"shelly2 notify params wrong", DialectShelly2, kindS2Event, `{"method":"NotifyStatus","params":[]}`, nil, ErrBadPayload},
	{"shelly2 online", DialectShelly2, kindS2Online, `false`, func(u update) bool { return u.Avail == hub.AvailOffline }, nil},
	{"shelly2 truncated", DialectShelly2, kindS2Status, `{"output":tr`, nil, ErrBadPayload},
}

func TestDecode_Table(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := decode(testDevice(tc.dialect), tc.kind, []byte(tc.payload))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.want != nil && !tc.want(u) {
				t.Fatalf("unexpected update %+v", u)
			}
			if err := u.State.Validate(); err != nil {
				t.Fatalf("decoded state does not validate: %v", err)
			}
		})
	}
}

func TestDecodeShelly2Reply_FindsIDAndResult(t *testing.T) {
	r, err := decodeShelly2Reply([]byte(`{"id":1048577,"src":"shellyplus","dst":"hubd/x","result":{"id":0,"output":true}}`))
	if err != nil || r.ID != 1048577 {
		t.Fatalf("reply %+v, %v", r, err)
	}
	u, err := decodeShelly2Result(r.Result, shelly2Switch0)
	if err != nil || !u.State.On {
		t.Fatalf("result %+v, %v", u, err)
	}
	if _, err := decodeShelly2Result([]byte(`{"was_on":true}`), shelly2Switch0); !errors.Is(err, ErrIgnored) {
		t.Fatalf("Switch.Set result: err = %v, want ErrIgnored", err)
	}
	for _, bad := range []string{`{"src":"x"}`, `{"id":-1}`, `{"id":"7"}`, `nope`, `{"id":1,`} {
		if _, err := decodeShelly2Reply([]byte(bad)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: err = %v, want ErrBadPayload", bad, err)
		}
	}
}

// FuzzDecode feeds every decoder arbitrary payloads: never a panic, and a
// decoded state always validates.
func FuzzDecode(f *testing.F) {
	kinds := []struct{ dialect, kind string }{
		{DialectTasmota, "RESULT"}, {DialectTasmota, "STATE"}, {DialectTasmota, "SENSOR"}, {DialectTasmota, "POWER"},
		{DialectTasmota, "LWT"}, {DialectTasmota, "STATUS8"},
		{DialectZ2M, kindZ2MState}, {DialectZ2M, kindZ2MAvail},
		{DialectShelly1, shellyRelay}, {DialectShelly1, shellyPower}, {DialectShelly1, shellyEnergy},
		{DialectShelly1, shellyOnline}, {DialectShelly1, shellyLight},
		{DialectShelly2, kindS2Status}, {DialectShelly2, kindS2Event}, {DialectShelly2, kindS2Online},
		// Messages that say what a device is.
		{DialectTasmota, "INFO1"}, {DialectTasmota, "STATUS2"}, {DialectShelly1, shellyAnnounce},
	}
	for _, tc := range append(decodeCases, infoCases...) {
		for i, k := range kinds {
			if k.dialect == tc.dialect && k.kind == tc.kind {
				f.Add(uint8(i), []byte(tc.payload))
			}
		}
	}
	for _, seed := range []string{`{"id":0,"output":true,"brightness":50,"rgb":[255,128,0],"white":0}`, `{"id":0,"output":true,"brightness":5,"ct":3000}`,
		`{"method":"NotifyStatus","params":{"cct:0":{"ct":4000},"switch:1":{"output":true}}}`, `{"POWER1":"ON","POWER2":"OFF","POWER8":"ON"}`} {
		for i := range 6 {
			f.Add(uint8(len(kinds)*i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, p []byte) {
		if r, err := decodeShelly2Reply(p); err == nil {
			if u, err := decodeShelly2Result(r.Result, shelly2Switch0); err == nil {
				if err := u.State.Validate(); err != nil {
					t.Fatalf("rpc reply %q: decoded state invalid: %v", p, err)
				}
				if u.Info != nil {
					checkInfo(t, "rpc reply", *u.Info)
				}
			}
			if r.Error != "" {
				if err := rpcFailure(r.Code); !errors.Is(err, hub.ErrInvalidValue) && !errors.Is(err, hub.ErrNotSupported) && !errors.Is(err, hub.ErrUnreachable) {
					t.Fatalf("rpc error %d maps to %v", r.Code, err)
				}
			}
		}
		k := kinds[int(which)%len(kinds)]
		// Outputs other than the first: a relay, a Gen2 light component.
		dv := testDevice(k.dialect)
		n := int(which) / len(kinds)
		dv.ch = []int{0, 2, 8}[n%3]
		dv.comp = []string{shelly2Switch0, "switch:1", "light:0", "cct:0", "rgb:0", "rgbw:0"}[n%6]
		u, err := decode(dv, k.kind, p)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrIgnored) {
				t.Fatalf("%s/%s: unexpected error kind %v", k.dialect, k.kind, err)
			}
			return
		}
		if err := u.State.Validate(); err != nil {
			t.Fatalf("%s/%s %q: decoded state invalid: %v", k.dialect, k.kind, p, err)
		}
		if u.empty() {
			t.Fatalf("%s/%s %q: empty update without ErrIgnored", k.dialect, k.kind, p)
		}
		if u.Info != nil {
			checkInfo(t, k.dialect+"/"+k.kind, *u.Info)
		}
	})
}

// testDevice is a device of dialect at its first output.
func testDevice(dialect string) *device {
	return &device{dialect: dialect, comp: shelly2Switch0}
}
