package serial

import (
	"testing"

	"hubd/firmware"
	"hubd/hub"
)

// A lamp whose INFO declares no color and a 3000..6000 K range is offered
// with exactly that; a lamp whose config pins its capabilities keeps them.
func TestDriver_Identify_TakesCapabilitiesFromInfo(t *testing.T) {
	white, err := firmware.NewLamp(1, firmware.LampConfig{White: true, MinK: 3000, MaxK: 6000, Model: "HL-W"})
	if err != nil {
		t.Fatal(err)
	}
	pinned := lampDev("lamp-pinned", 2)
	pinned.Pinned = hub.PinFields | hub.PinTempRange
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-white", 1), pinned}, white, newLampK(t, 2, 2200, 4000))
	waitFor(t, "the white lamp's capabilities", func() bool {
		d, _ := r.hub.Device("lamp-white")
		return !d.Fields.Has(hub.FieldColor)
	})
	d, _ := r.hub.Device("lamp-white")
	want := hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK)
	if d.Fields != want || d.TempMinK != 3000 || d.TempMaxK != 6000 {
		t.Fatalf("lamp-white: %s %d..%d K, want %s 3000..6000 K", d.Fields, d.TempMinK, d.TempMaxK, want)
	}
	// The pinned lamp keeps its configuration and a warning names the clash.
	waitFor(t, "the clash warning", func() bool {
		for _, ev := range r.hub.Events() {
			if ev.Device == "lamp-pinned" && ev.Level == "warn" && containsAll(ev.Text, "2700..6500", "2200..4000") {
				return true
			}
		}
		return false
	})
	p, _ := r.hub.Device("lamp-pinned")
	if p.TempMinK != 2700 || p.TempMaxK != 6500 || !p.Fields.Has(hub.FieldColor) {
		t.Fatalf("pinned lamp changed: %s %d..%d", p.Fields, p.TempMinK, p.TempMaxK)
	}
	if c, ok := r.hub.Reported("lamp-pinned"); !ok || c.TempMinK != 2200 {
		t.Fatalf("reported caps of lamp-pinned: %v %v", c, ok)
	}
}

func newLampK(t *testing.T, addr uint8, minK, maxK uint16) *firmware.Lamp {
	t.Helper()
	l, err := firmware.NewLamp(addr, firmware.LampConfig{MinK: minK, MaxK: maxK})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
