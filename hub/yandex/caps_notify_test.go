package yandex

import (
	"testing"
	"time"

	"hubd/hub"
)

// A device that declares other capabilities than it was offered with is
// a device-set change: the platform gets a discovery callback.
func TestNotifier_DeviceCapabilitiesChange_SendsDiscovery(t *testing.T) {
	f := newFixture(t, Options{})
	p := newPlatform(t)
	startNotifier(t, f.hub, p, NotifierOptions{Batch: 20 * time.Millisecond, Settle: 50 * time.Millisecond})
	white := &hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 3000, TempMaxK: 6000}
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", Caps: white}); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.hub.Device("lamp-1"); d.TempMinK != 3000 || d.Fields.Has(hub.FieldColor) {
		t.Fatalf("lamp-1 %s %d..%d", d.Fields, d.TempMinK, d.TempMaxK)
	}
	// The hub's clock is fixed: move it on until the notifier, which
	// takes the change in its own time, finds the set settled.
	eventually(t, "discovery callback", func() bool {
		f.clock.Add(time.Second)
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.discos) > 0
	})
}
