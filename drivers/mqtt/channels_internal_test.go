package mqtt

import (
	"errors"
	"strings"
	"testing"

	"hubd/hub"
)

func TestSplitAddress_Outputs(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want Address
	}{
		{"tasmota:relay4", Address{Dialect: DialectTasmota, Topic: "relay4"}},
		{"tasmota:relay4:2", Address{Dialect: DialectTasmota, Topic: "relay4", Channel: 2}},
		{"tasmota:relay4:8", Address{Dialect: DialectTasmota, Topic: "relay4", Channel: 8}},
		{"tasmota:odd:name", Address{Dialect: DialectTasmota, Topic: "odd:name"}},
		{"shelly:shellyswitch25-AB", Address{Dialect: DialectShelly1, Topic: "shellyswitch25-AB"}},
		{"shelly:shellyswitch25-AB:1", Address{Dialect: DialectShelly1, Topic: "shellyswitch25-AB", Channel: 1}},
		{"shelly2:plus2pm", Address{Dialect: DialectShelly2, Topic: "plus2pm", Component: "switch:0"}},
		{"shelly2:plus2pm:switch:1", Address{Dialect: DialectShelly2, Topic: "plus2pm", Component: "switch:1"}},
		{"shelly2:rgbw:cct:0", Address{Dialect: DialectShelly2, Topic: "rgbw", Component: "cct:0"}},
		{"z2m:hall/x:2", Address{Dialect: DialectZ2M, Topic: "hall/x:2"}},
	} {
		a, err := SplitAddress(tc.addr)
		if err != nil || a != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.addr, a, err, tc.want)
			continue
		}
		if a.String() != tc.addr {
			t.Errorf("%s: spelled back %s", tc.addr, a)
		}
	}
	for _, bad := range []string{"tasmota:relay4:1", "tasmota:relay4:9", "tasmota:relay4:0", "tasmota::2", "shelly:x:0", "shelly:x:4",
		"shelly2:x:switch:0", "shelly2:x:dimmer:0", "shelly2:x:light:16", "shelly2:x:light:01", "shelly2:x:light", "shelly2:x:cct:-1", "tasmota:a/b:2",
		// '%' would expand in the device account's rules (%c: the client's id).
		"tasmota:b%c", "shelly:b%u", "shelly2:p%c:switch:0", "z2m:hall/b%c"} {
		if _, err := SplitAddress(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%s: accepted (%v)", bad, err)
		}
	}
}

// A multi-relay Tasmota reports POWER1..POWERn; each hub device reads its
// own, in every message that carries it.
func TestDecodeTasmota_Channels(t *testing.T) {
	state := `{"POWER1":"ON","POWER2":"OFF","POWER3":"ON","ENERGY":{"Power":12}}`
	for _, tc := range []struct {
		name, payload string
		ch            int
		on            bool
		ignored       bool
	}{
		{"POWER2", "ON", 2, true, false},
		{"POWER2", "ON", 0, false, true},
		{"POWER", "ON", 2, false, true},
		{"POWER1", "OFF", 0, false, false},
		{"RESULT", `{"POWER2":"ON"}`, 2, true, false},
		{"RESULT", `{"POWER2":"ON"}`, 3, false, true},
		{"STATE", state, 0, true, false},
		{"STATE", state, 2, false, false},
		{"STATE", state, 3, true, false},
	} {
		u, err := decodeTasmota(tc.name, []byte(tc.payload), tc.ch)
		if tc.ignored {
			if !errors.Is(err, ErrIgnored) && (err != nil || u.State.Set.Has(hub.FieldOn)) {
				t.Errorf("%s %s ch %d: %+v %v, want nothing", tc.name, tc.payload, tc.ch, u.State, err)
			}
			continue
		}
		if err != nil || !u.State.Set.Has(hub.FieldOn) || u.State.On != tc.on {
			t.Errorf("%s %s ch %d: %+v %v, want on=%v", tc.name, tc.payload, tc.ch, u.State, err, tc.on)
		}
		// The meter is the first relay's.
		if got := u.State.Set.Has(hub.FieldPower); got != (tc.name == "STATE" && tc.ch == 0) {
			t.Errorf("%s ch %d: power read = %v", tc.name, tc.ch, got)
		}
	}
}

func TestDecodeShelly2_Components(t *testing.T) {
	ev := `{"method":"NotifyStatus","params":{"switch:1":{"id":1,"output":true},"cct:0":{"id":0,"ct":3100,"brightness":20}}}`
	u, err := decodeShelly2Event([]byte(ev), "switch:1")
	if err != nil || !u.State.On || u.State.Set != hub.Fields(hub.FieldOn) {
		t.Fatalf("switch:1: %+v %v", u.State, err)
	}
	u, err = decodeShelly2Event([]byte(ev), "cct:0")
	if err != nil || u.State.TemperatureK != 3100 || u.State.Brightness != 20 || u.State.Set.Has(hub.FieldOn) {
		t.Fatalf("cct:0: %+v %v", u.State, err)
	}
	if _, err := decodeShelly2Event([]byte(ev), "switch:0"); !errors.Is(err, ErrIgnored) {
		t.Fatalf("switch:0 took another component's news: %v", err)
	}
	u, err = decodeShelly2Status([]byte(`{"id":0,"output":true,"brightness":50,"rgb":[255,128,0],"white":0}`), "rgbw:0")
	if err != nil || u.State.Color != (hub.HSV{H: 30, S: 100, V: 50}) || u.State.Mode != hub.ColorModeHSV {
		t.Fatalf("rgbw: %+v %v", u.State, err)
	}
	for _, bad := range []string{`{"rgb":[1,2]}`, `{"rgb":[1,2,300]}`, `{"rgb":"red"}`, `{"brightness":101}`, `{"output":1}`} {
		if _, err := decodeShelly2Status([]byte(bad), "rgb:0"); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := decodeShelly2Status([]byte(`{"ct":90000}`), "cct:0"); !errors.Is(err, ErrBadPayload) {
		t.Errorf("ct out of range: %v", err)
	}
}

func TestShelly2SetParams(t *testing.T) {
	s := hub.State{Set: hub.Fields(hub.FieldColor), Color: hub.HSV{H: 240, S: 100, V: 30}}
	p := shelly2SetParams("rgbw", &s)
	if rgb, _ := p["rgb"].([]int); len(rgb) != 3 || rgb[0] != 0 || rgb[1] != 0 || rgb[2] != 255 || p["brightness"] != 30 {
		t.Fatalf("rgbw color: %v", p)
	}
	s = hub.State{Set: hub.Fields(hub.FieldTemperatureK, hub.FieldOn), TemperatureK: 4000, On: true}
	if p := shelly2SetParams("cct", &s); p["ct"] != 4000 || p["on"] != true {
		t.Fatalf("cct: %v", p)
	}
	if p := shelly2SetParams("switch", &s); len(p) != 1 || p["on"] != true {
		t.Fatalf("switch: %v", p)
	}
}

// The outputs of one device share one account, the first one's (or the
// one it names); another device's account is its own.
func TestAccounts_OutputsOfOneDeviceShareAnAccount(t *testing.T) {
	dev := func(id, addr string) hub.Device { return hub.Device{ID: id, Driver: DriverName, Address: addr} }
	accts, err := Accounts(Options{Devices: []hub.Device{
		dev("hall-2", "tasmota:hall:2"), dev("hall-1", "tasmota:hall"), dev("porch", "tasmota:porch"),
		dev("sw-b", "shelly:sw25-ab:1"), dev("sw-a", "shelly:sw25-ab"),
		dev("rgb", "shelly2:pro:rgb:0"), dev("cct", "shelly2:pro:cct:0"),
	}, DeviceAccounts: map[string]string{"rgb": "pro-login"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range accts {
		got[a.Name] = strings.Join(a.Devices, ",")
	}
	want := map[string]string{"hall-2": "hall-2,hall-1", "porch": "porch", "sw-b": "sw-b,sw-a", "pro-login": "rgb,cct"}
	if len(got) != len(want) {
		t.Fatalf("accounts %v, want %v", got, want)
	}
	for a, d := range want {
		if got[a] != d {
			t.Errorf("account %s: %q, want %q", a, got[a], d)
		}
	}
}

// Any address either fails with ErrBadAddress or parses to one that is
// spelled back the same way.
func FuzzSplitAddress(f *testing.F) {
	for _, a := range []string{"tasmota:t:2", "shelly:i:1", "shelly2:p:cct:0", "shelly2:p", "z2m:a/b", "tasmota:a:b:3", "shelly2:p:x:y"} {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		a, err := SplitAddress(addr)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("%q: %v", addr, err)
			}
			return
		}
		b, err := SplitAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q -> %+v -> %q -> %+v %v", addr, a, a.String(), b, err)
		}
	})
}
