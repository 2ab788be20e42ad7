package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hubd/hub"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "discovery", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// byAddr indexes found devices by address.
func byAddr(fs []hub.Found) map[string]hub.Found {
	m := map[string]hub.Found{}
	for _, f := range fs {
		m[f.Address] = f
	}
	return m
}

func TestTasmotaDiscovery_BulbAndFourRelays(t *testing.T) {
	bulb, err := decodeTasmotaDiscovery(golden(t, "tasmota-bulb.json"))
	if err != nil {
		t.Fatal(err)
	}
	fs := bulb.found(0, DefaultTasmotaFullTopic)
	if len(fs) != 1 || fs[0].Address != "tasmota:bulb-3F21" || fs[0].Kind != hub.KindLight ||
		fs[0].Caps.Fields != hub.LightFields || fs[0].Caps.TempMinK != 2000 || fs[0].Caps.TempMaxK != 6536 ||
		fs[0].Name != "Hall Bulb" || fs[0].Info.Model != "Sonoff B1" || fs[0].Unsupported != "" {
		t.Fatalf("bulb: %+v", fs)
	}
	four, err := decodeTasmotaDiscovery(golden(t, "tasmota-4ch.json"))
	if err != nil {
		t.Fatal(err)
	}
	meters, err := tasmotaMeters(golden(t, "tasmota-plug-sensors.json"))
	if err != nil || meters != hub.MeterFields {
		t.Fatalf("meters %s, %v", meters, err)
	}
	m := byAddr(four.found(meters, DefaultTasmotaFullTopic))
	if len(m) != 4 {
		t.Fatalf("4ch: %d devices: %v", len(m), m)
	}
	if f := m["tasmota:relay4-0A1B"]; f.Name != "Fan" || f.Unsupported != "" || f.Caps.Fields != hub.MeterFields.With(hub.FieldOn) {
		t.Fatalf("POWER1: %+v", f)
	}
	if f := m["tasmota:relay4-0A1B:4"]; f.Name != "Spare" || f.Unsupported != "" || f.Caps.Fields != hub.Fields(hub.FieldOn) {
		t.Fatalf("POWER4: %+v", f)
	}
	// Another FullTopic than the hub's: seen, but not drivable.
	if fs := four.found(0, "tasmota/%topic%/%prefix%/"); !strings.Contains(fs[0].Unsupported, "FullTopic") {
		t.Fatalf("foreign FullTopic: %+v", fs[0])
	}
}

func TestTasmotaDiscovery_RefusesBadTopicsAndShapes(t *testing.T) {
	for _, p := range []string{
		`{"mac":"A","t":"a+b","ft":"%prefix%/%topic%/"}`,
		`{"mac":"A","t":"a/b","ft":"%prefix%/%topic%/"}`,
		`{"mac":"A","t":"","ft":"%prefix%/%topic%/"}`,
		`{"mac":"A","ft":"%prefix%/%topic%/"}`,
		`{"mac":"A","t":"x","ft":"f","rl":"1"}`,
		`{"mac":"A","t":"x","ft":"f","lt_st":99}`,
		`{"mac":"A","t":"x","ft":"f","fn":[1]}`,
		`[1]`, `{"mac":`,
	} {
		if _, err := decodeTasmotaDiscovery([]byte(p)); err == nil {
			t.Errorf("%s: accepted", p)
		}
	}
	if c, err := decodeTasmotaDiscovery(nil); err != nil || c.topic != "" {
		t.Fatalf("empty payload: %+v %v", c, err)
	}
}

func TestZ2MDiscovery_BulbCTBulbPlugAndGroup(t *testing.T) {
	devs, skipped, err := decodeZ2MDiscovery(golden(t, "z2m-devices.json"))
	if err != nil || skipped != 0 {
		t.Fatalf("%v, %d skipped", err, skipped)
	}
	byIEEE := map[string]hub.Found{}
	var fs []hub.Found
	for _, d := range devs {
		byIEEE[d.ieee] = d.f
		fs = append(fs, d.f)
	}
	m := byAddr(fs)
	if len(m) != 3 {
		t.Fatalf("want bulb, CT bulb and plug, got %v", m)
	}
	if f := m["z2m:hall/bulb"]; f.Kind != hub.KindLight || f.Caps.Fields != hub.LightFields || f.Caps.TempMinK != 2000 || f.Caps.TempMaxK != 6536 || f.Info.Manufacturer != "Philips" {
		t.Fatalf("bulb: %+v", f)
	}
	ct := hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK)
	if f := m["z2m:hall/ct"]; f.Caps.Fields != ct || f.Caps.TempMinK != 2203 || f.Caps.TempMaxK != 4000 {
		t.Fatalf("CT bulb: %+v", f)
	}
	if f := m["z2m:kitchen/plug"]; f.Kind != hub.KindSocket || f.Caps.Fields != hub.MeterFields.With(hub.FieldOn) {
		t.Fatalf("plug: %+v", f)
	}
	gs, err := decodeZ2MGroups(golden(t, "z2m-groups.json"), byIEEE)
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups: %+v %v", gs, err)
	}
	if g := gs[0]; g.Address != "z2m:hall/lights" || g.Caps.Fields != ct || g.Caps.TempMinK != 2203 || g.Caps.TempMaxK != 4000 {
		t.Fatalf("group: %+v", g)
	}
}

func TestShellyDiscovery_Gen1AnnounceAndGen2Components(t *testing.T) {
	fs, err := decodeShelly1Discovery(golden(t, "shelly1-announce.json"))
	if err != nil || len(fs) != 1 {
		t.Fatalf("%+v %v", fs, err)
	}
	if f := fs[0]; f.Address != "shelly:shellyplug-s-7C87CEB4A1B2" || f.Kind != hub.KindSocket || f.Caps.Fields != hub.Fields(hub.FieldOn, hub.FieldPower, hub.FieldEnergy) {
		t.Fatalf("gen1: %+v", f)
	}
	in, err := shelly2DeviceInfo(golden(t, "shelly2-info-plug.json"))
	if err != nil || in.Model != "SNPL-00112EU" || in.Firmware != "1.0.8" {
		t.Fatalf("info %+v %v", in, err)
	}
	fs, err = shelly2Found("shellyplusplugs-e86beae4a1b2", in, golden(t, "shelly2-status-plug.json"), []byte("{}"))
	if err != nil || len(fs) != 1 || fs[0].Address != "shelly2:shellyplusplugs-e86beae4a1b2" || fs[0].Unsupported != "" ||
		fs[0].Caps.Fields != hub.MeterFields.With(hub.FieldOn) {
		t.Fatalf("gen2 plug: %+v %v", fs, err)
	}
	fs, err = shelly2Found("rgbw-1", in, golden(t, "shelly2-status-rgbw.json"), []byte("{}"))
	if err != nil || len(fs) != 1 || fs[0].Kind != hub.KindLight || !fs[0].Caps.Fields.Has(hub.FieldColor) || fs[0].Unsupported != "" ||
		fs[0].Address != "shelly2:rgbw-1:rgbw:0" {
		t.Fatalf("gen2 rgbw: %+v %v", fs, err)
	}
}

// A Gen2 cct component's range is the one its config declares.
func TestShellyDiscovery_Gen2CCTRangeFromConfig(t *testing.T) {
	status := []byte(`{"cct:0":{"id":0,"output":false,"brightness":50,"ct":4000},"cct:1":{"id":1,"output":true},"switch:1":{"id":1,"output":false}}`)
	fs, err := shelly2Found("pro", hub.Info{}, status, []byte(`{"cct:0":{"id":0,"ct_range":[3000,5700]},"cct:1":{"id":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := byAddr(fs)
	if f := m["shelly2:pro:cct:0"]; f.Caps.TempMinK != 3000 || f.Caps.TempMaxK != 5700 || f.Unsupported != "" || f.Kind != hub.KindLight {
		t.Fatalf("cct:0: %+v", f)
	}
	if f := m["shelly2:pro:cct:1"]; f.Caps.TempMinK != shelly2DefaultMinK || f.Caps.TempMaxK != shelly2DefaultMaxK {
		t.Fatalf("cct:1 without ct_range: %+v", f)
	}
	if f := m["shelly2:pro:switch:1"]; f.Kind != hub.KindSocket || f.Unsupported != "" {
		t.Fatalf("switch:1: %+v", f)
	}
	for _, bad := range []string{`{"cct:0":{"ct_range":[6000,3000]}}`, `{"cct:0":{"ct_range":[3000]}}`, `{"cct:0":{"ct_range":"wide"}}`, `{"cct:0":{"ct_range":[10,20]}}`, `[]`} {
		if _, err := shelly2Found("pro", hub.Info{}, status, []byte(bad)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// Every discovery parser survives garbage with an error or nothing, never
// a panic, and what it accepts is usable: addresses that parse, kinds the
// hub knows, capability sets that are valid.
func FuzzDiscoveryParsers(f *testing.F) {
	for _, n := range []string{"tasmota-bulb.json", "tasmota-4ch.json", "tasmota-plug-sensors.json", "z2m-devices.json",
		"z2m-groups.json", "shelly1-announce.json", "shelly2-info-plug.json", "shelly2-status-plug.json", "shelly2-status-rgbw.json"} {
		f.Add(golden(f, n))
	}
	f.Add([]byte(`{"mac":"A","t":"x","ft":"f","rl":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		var fs []hub.Found
		if c, err := decodeTasmotaDiscovery(p); err == nil && c.topic != "" {
			fs = append(fs, c.found(hub.MeterFields, DefaultTasmotaFullTopic)...)
		}
		tasmotaMeters(p)
		devs, _, _ := decodeZ2MDiscovery(p)
		byIEEE := map[string]hub.Found{}
		for _, d := range devs {
			fs = append(fs, d.f)
			byIEEE[d.ieee] = d.f
		}
		gs, _ := decodeZ2MGroups(p, byIEEE)
		fs = append(fs, gs...)
		s1, _ := decodeShelly1Discovery(p)
		fs = append(fs, s1...)
		shelly2DeviceInfo(p)
		s2, _ := shelly2Found("p", hub.Info{}, p, p)
		fs = append(fs, s2...)
		for _, f := range fs {
			if f.Unsupported == "" {
				if _, _, err := ParseAddress(f.Address); err != nil {
					t.Fatalf("%+v: %v", f, err)
				}
			}
			if (f.Kind != hub.KindLight && f.Kind != hub.KindSocket) || !f.Caps.Valid() {
				t.Fatalf("unusable: %+v", f)
			}
		}
	})
}
