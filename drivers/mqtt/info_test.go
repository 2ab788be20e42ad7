package mqtt

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unsafe"

	"hubd/hub"
)

// infoCases are decoder table cases for messages that say what a device is.
var infoCases = []decodeCase{
	{"tasmota STATUS2", DialectTasmota, "STATUS2", `{"StatusFWR":{"Version":"13.2.0(tasmota)","BuildDateTime":"2023-10-13T10:06:02","Boot":31,"Core":"2_7_4_9","SDK":"2.2.2-dev(38a443e)","CpuFrequency":80,"Hardware":"ESP8266EX","CR":"375/699"}}`,
		wantInfo(hub.Info{Firmware: "13.2.0(tasmota)", Hardware: "ESP8266EX"}), nil},
	{"tasmota STATUS2 version only", DialectTasmota, "STATUS2", `{"StatusFWR":{"Version":"9.5.0(tasmota)"}}`, wantInfo(hub.Info{Firmware: "9.5.0(tasmota)"}), nil},
	{"tasmota STATUS2 version number", DialectTasmota, "STATUS2", `{"StatusFWR":{"Version":13}}`, nil, ErrBadPayload},
	{"tasmota STATUS2 not object", DialectTasmota, "STATUS2", `{"StatusFWR":"13.2.0"}`, nil, ErrBadPayload},
	{"tasmota STATUS2 control chars", DialectTasmota, "STATUS2", `{"StatusFWR":{"Version":"13\u0007"}}`, nil, ErrBadPayload},
	{"tasmota STATUS2 too long", DialectTasmota, "STATUS2", `{"StatusFWR":{"Hardware":"` + strings.Repeat("x", maxInfoText+1) + `"}}`, nil, ErrBadPayload},
	{"tasmota STATUS2 empty", DialectTasmota, "STATUS2", `{"StatusFWR":{}}`, nil, ErrIgnored},
	{"tasmota INFO1", DialectTasmota, "INFO1", `{"Info1":{"Module":"Sonoff Basic","Version":"13.2.0(tasmota)","FallbackTopic":"cmnd/DVES_ABC123_fb/","GroupTopic":"cmnd/tasmotas/"}}`,
		wantInfo(hub.Info{Model: "Sonoff Basic", Firmware: "13.2.0(tasmota)"}), nil},
	{"tasmota INFO1 unwrapped", DialectTasmota, "INFO1", `{"Module":"Generic","Version":"8.1.0(tasmota)","FallbackTopic":"cmnd/x_fb/"}`,
		wantInfo(hub.Info{Model: "Generic", Firmware: "8.1.0(tasmota)"}), nil},
	{"tasmota INFO1 null module", DialectTasmota, "INFO1", `{"Info1":{"Module":null,"Version":"13.2.0"}}`, wantInfo(hub.Info{Firmware: "13.2.0"}), nil},
	{"tasmota INFO1 wrapped wrong", DialectTasmota, "INFO1", `{"Info1":"Sonoff"}`, nil, ErrBadPayload},
	{"tasmota INFO1 module number", DialectTasmota, "INFO1", `{"Info1":{"Module":1,"Version":"13.2.0"}}`, nil, ErrBadPayload},
	{"tasmota INFO1 nothing", DialectTasmota, "INFO1", `{"Info1":{"GroupTopic":"cmnd/tasmotas/"}}`, nil, ErrIgnored},
	{"tasmota INFO1 garbage", DialectTasmota, "INFO1", "\x00\xff", nil, ErrBadPayload},
	{"tasmota INFO1 truncated", DialectTasmota, "INFO1", `{"Info1":{"Module":"Son`, nil, ErrBadPayload},
	{"shelly announce", DialectShelly1, shellyAnnounce, `{"id":"shellyplug-s-C45BBE","model":"SHPLG-S","mac":"C45BBE78A8A4","ip":"192.0.2.10","new_fw":false,"fw_ver":"20230913-112234/v1.14.0-gcb84623"}`,
		wantInfo(hub.Info{Manufacturer: "Shelly", Model: "SHPLG-S", Firmware: "20230913-112234/v1.14.0-gcb84623"}), nil},
	{"shelly announce model only", DialectShelly1, shellyAnnounce, `{"model":"SHSW-1"}`, wantInfo(hub.Info{Manufacturer: "Shelly", Model: "SHSW-1"}), nil},
	{"shelly announce nothing", DialectShelly1, shellyAnnounce, `{"id":"x","mac":"y"}`, nil, ErrIgnored},
	{"shelly announce wrong type", DialectShelly1, shellyAnnounce, `{"model":["SHSW-1"]}`, nil, ErrBadPayload},
	{"shelly announce garbage", DialectShelly1, shellyAnnounce, `true`, nil, ErrBadPayload},
}

func wantInfo(want hub.Info) func(update) bool {
	return func(u update) bool { return u.Info != nil && *u.Info == want && u.State.Set.Empty() }
}

func TestDecode_InfoTable(t *testing.T) {
	for _, tc := range infoCases {
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
			if !tc.want(u) {
				t.Fatalf("unexpected update %+v info %+v", u, u.Info)
			}
		})
	}
}

var bridgeCases = []struct {
	name    string
	payload string
	want    map[string]hub.Info
	skipped int
	err     error
}{
	{"coordinator and two devices", `[
		{"ieee_address":"0x00124b0000000000","type":"Coordinator","friendly_name":"Coordinator","definition":null,"supported":false},
		{"ieee_address":"0x00158d0001","type":"Router","friendly_name":"demo-lamp-3","manufacturer":"IKEA of Sweden","model_id":"TRADFRI bulb E27 CWS opal 600lm","software_build_id":"2.3.086","definition":{"vendor":"IKEA","model":"LED1624G9","description":"bulb","exposes":[{"type":"light","features":[]}]}},
		{"ieee_address":"0x00158d0002","type":"Router","friendly_name":"floor1/plug","software_build_id":null,"definition":{"vendor":"Innr","model":"SP 120"}}]`,
		map[string]hub.Info{
			"demo-lamp-3": {Manufacturer: "IKEA", Model: "LED1624G9", Firmware: "2.3.086"},
			"floor1/plug": {Manufacturer: "Innr", Model: "SP 120"},
		}, 0, nil},
	{"unsupported device falls back on its own words", `[{"friendly_name":"odd","manufacturer":"_TZ3000_abc","model_id":"TS011F","definition":null}]`,
		map[string]hub.Info{"odd": {Manufacturer: "_TZ3000_abc", Model: "TS011F"}}, 0, nil},
	{"bad entries skipped, good kept", `[1,"x",{"friendly_name":7},{"friendly_name":"a","definition":"IKEA"},{"friendly_name":"b","software_build_id":3},{"friendly_name":"c","definition":{"vendor":"Hue","model":"9290022166"}}]`,
		map[string]hub.Info{"c": {Manufacturer: "Hue", Model: "9290022166"}}, 5, nil},
	{"entry without name", `[{"definition":{"vendor":"IKEA","model":"x"}}]`, map[string]hub.Info{}, 0, nil},
	{"empty list", `[]`, map[string]hub.Info{}, 0, nil},
	{"not a list", `{"friendly_name":"a"}`, nil, 0, ErrBadPayload},
	{"truncated", `[{"friendly_name":"a","definition":{"vendor":"IK`, nil, 0, ErrBadPayload},
	{"garbage", "\xff\xfe", nil, 0, ErrBadPayload},
	{"empty", ``, nil, 0, ErrBadPayload},
}

func TestDecodeZ2MBridgeDevices_Table(t *testing.T) {
	for _, tc := range bridgeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := decodeZ2MBridgeDevices([]byte(tc.payload))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if skipped != tc.skipped {
				t.Errorf("skipped %d, want %d", skipped, tc.skipped)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d devices %+v, want %d", len(got), got, len(tc.want))
			}
			for name, w := range tc.want {
				if got[name] != w {
					t.Errorf("%s: %+v, want %+v", name, got[name], w)
				}
			}
		})
	}
}

func TestDecodeShelly2Result_DeviceInfo(t *testing.T) {
	u, err := decodeShelly2Result([]byte(`{"name":null,"id":"shellyplusplugs-abc","mac":"C45BBE000001","slot":0,"model":"SNPL-00112EU","gen":2,"fw_id":"20231107-164738/1.0.8-g8c7bb8d","ver":"1.0.8","app":"PlusPlugS","auth_en":false,"auth_domain":null}`), shelly2Switch0)
	if err != nil || u.Info == nil || *u.Info != (hub.Info{Manufacturer: "Shelly", Model: "SNPL-00112EU", Firmware: "1.0.8"}) || !u.State.Set.Empty() {
		t.Fatalf("GetDeviceInfo: %+v %+v, %v", u, u.Info, err)
	}
	// Older firmware without ver: fw_id stands in.
	u, err = decodeShelly2Result([]byte(`{"model":"SNSW-001P16EU","fw_id":"20220209-092750/0.9.3-beta2"}`), shelly2Switch0)
	if err != nil || u.Info == nil || u.Info.Firmware != "20220209-092750/0.9.3-beta2" {
		t.Fatalf("fw_id fallback: %+v, %v", u.Info, err)
	}
	if _, err := decodeShelly2Result([]byte(`{"model":5}`), shelly2Switch0); !errors.Is(err, ErrBadPayload) {
		t.Errorf("model number: err = %v, want ErrBadPayload", err)
	}
}

func TestDecodeShelly2Reply_ErrorCodeMapsToHubError(t *testing.T) {
	cases := []struct {
		payload string
		code    int
		msg     string
		is      error
	}{
		{`{"id":5,"src":"x","error":{"code":-103,"message":"Invalid argument 'on': bool expected!"}}`, -103, "Invalid argument 'on': bool expected!", hub.ErrInvalidValue},
		{`{"id":5,"error":{"code":-105,"message":"Argument 'id', value 1 not found!"}}`, -105, "Argument 'id', value 1 not found!", hub.ErrNotSupported},
		{`{"id":5,"error":{"code":404,"message":"No handler for Switch.Flip"}}`, 404, "No handler for Switch.Flip", hub.ErrNotSupported},
		{`{"id":5,"error":{"code":-114,"message":"Resource unavailable"}}`, -114, "Resource unavailable", hub.ErrUnreachable},
		{`{"id":5,"error":{"code":"x","message":7}}`, 0, `{"code":"x","message":7}`, hub.ErrUnreachable},
		{`{"id":5,"error":"broken"}`, 0, `"broken"`, hub.ErrUnreachable},
	}
	for _, tc := range cases {
		r, err := decodeShelly2Reply([]byte(tc.payload))
		if err != nil {
			t.Fatalf("%s: %v", tc.payload, err)
		}
		if r.Code != tc.code || r.Error != tc.msg {
			t.Errorf("%s: code %d %q, want %d %q", tc.payload, r.Code, r.Error, tc.code, tc.msg)
		}
		if got := rpcFailure(r.Code); !errors.Is(got, tc.is) {
			t.Errorf("%s: %v, want %v", tc.payload, got, tc.is)
		}
	}
	if r, err := decodeShelly2Reply([]byte(`{"id":5,"result":{"was_on":true},"error":null}`)); err != nil || r.Error != "" {
		t.Errorf("null error: %+v, %v", r, err)
	}
}

func TestDeviceTakeInfo_ReportsOnlyNews(t *testing.T) {
	dv := &device{}
	dv.info = infoHandle(hub.Info{Manufacturer: "configured", Model: "configured"})
	dv.infoSent = dv.info
	if got := dv.takeInfo(nil); got != nil {
		t.Fatalf("nothing new: %+v", got)
	}
	got := dv.takeInfo(&hub.Info{Model: "SHPLG-S", Firmware: "1.14"})
	if got == nil || *got != (hub.Info{Manufacturer: "configured", Model: "SHPLG-S", Firmware: "1.14"}) {
		t.Fatalf("merged: %+v", got)
	}
	if got := dv.takeInfo(&hub.Info{Firmware: "1.14"}); got != nil {
		t.Errorf("repeat reported again: %+v", got)
	}
	dv.learnInfo(hub.Info{Hardware: "ESP32"})
	if got := dv.takeInfo(nil); got == nil || got.Hardware != "ESP32" || got.Model != "SHPLG-S" {
		t.Errorf("learned info not reported with the next report: %+v", got)
	}
}

// Devices that say the same about themselves hold one Info, and a device
// that said nothing holds the empty one without reporting it.
func TestDeviceInfo_SharedAndEmptyIsNothingNew(t *testing.T) {
	a, b := &device{}, &device{}
	if got := a.takeInfo(&hub.Info{}); got != nil {
		t.Errorf("an empty Info was reported as news: %+v", got)
	}
	model := []byte("SHPLG-S") // two copies of the bytes, as two payloads give them
	a.learnInfo(hub.Info{Model: string(model), Firmware: "1.14"})
	b.learnInfo(hub.Info{Model: string(model), Firmware: "1.14"})
	if a.info != b.info {
		t.Fatal("equal Infos of two devices are held twice")
	}
	if ia, ib := infoOf(a.info), infoOf(b.info); unsafe.StringData(ia.Model) != unsafe.StringData(ib.Model) {
		t.Error("the two devices' model strings are two copies")
	}
}

func TestRefreshStep_SpreadsDevicesOverInterval(t *testing.T) {
	cases := []struct {
		every     time.Duration
		n         int
		wantBatch int
	}{
		{time.Minute, 0, 0},
		{time.Minute, 1, 1},
		{200 * time.Millisecond, 6, 1},
		{time.Minute, 1000, 1},
		{time.Minute, 10000, 4},
		{100 * time.Millisecond, 1000, 200},
	}
	for _, tc := range cases {
		step, batch := refreshStep(tc.every, tc.n)
		if batch != tc.wantBatch {
			t.Errorf("%v/%d: batch %d, want %d", tc.every, tc.n, batch, tc.wantBatch)
		}
		if tc.n == 0 {
			continue
		}
		if step < minRefreshStep && step < tc.every {
			t.Errorf("%v/%d: step %v below %v", tc.every, tc.n, step, minRefreshStep)
		}
		// One round asks every device once, within a step of the interval.
		round := step * time.Duration((tc.n+batch-1)/batch)
		if round > tc.every+step || round < tc.every-step {
			t.Errorf("%v/%d: a round takes %v (step %v, batch %d)", tc.every, tc.n, round, step, batch)
		}
	}
}

// checkInfo fails unless every field of in is short printable text.
func checkInfo(t *testing.T, what string, in hub.Info) {
	t.Helper()
	for _, s := range []string{in.Manufacturer, in.Model, in.Hardware, in.Firmware} {
		if len(s) > maxInfoText || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			t.Fatalf("%s: info field %q not short printable text", what, s)
		}
	}
}

// FuzzDecodeZ2MBridgeDevices: never a panic, only ErrBadPayload, and only
// short printable info.
func FuzzDecodeZ2MBridgeDevices(f *testing.F) {
	for _, tc := range bridgeCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		infos, skipped, err := decodeZ2MBridgeDevices(p)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if skipped < 0 {
			t.Fatalf("skipped %d", skipped)
		}
		for name, in := range infos {
			if name == "" || in == (hub.Info{}) {
				t.Fatalf("empty entry %q: %+v", name, in)
			}
			checkInfo(t, name, in)
		}
	})
}

// A Zigbee2MQTT device added after the bridge's list came learns what it
// is from the list kept.
func TestDriver_DeviceAddedLaterLearnsFromTheBridgeList(t *testing.T) {
	var rep reports
	lamp := func(id, name string) hub.Device {
		return hub.Device{ID: id, Kind: hub.KindLight, Driver: DriverName, Address: DialectZ2M + ":" + name, Fields: hub.Fields(hub.FieldOn)}
	}
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: []hub.Device{lamp("l1", "hall/one")}})
	if err != nil {
		t.Fatal(err)
	}
	d.handleBridge([]byte(`[{"friendly_name":"hall/one","definition":{"vendor":"IKEA","model":"LED1"}},` +
		`{"friendly_name":"hall/two","software_build_id":"2.3","definition":{"vendor":"Innr","model":"SP 120"}}]`))
	if err := d.SetDevices([]hub.Device{lamp("l1", "hall/one"), lamp("l2", "hall/two")}); err != nil {
		t.Fatal(err)
	}
	got := infoOf(d.tab.Load().byID["l2"].info)
	if got.Manufacturer != "Innr" || got.Model != "SP 120" || got.Firmware != "2.3" {
		t.Errorf("the device added later knows %+v", got)
	}
}
