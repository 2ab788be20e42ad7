package main

import (
	"context"

	"hubd/firmware"
)

// The demo runs one device of each family that its config does not name,
// so a newcomer can adopt one: a tunable-white serial lamp at address 3
// (found by a scan of the demo bus at start) and mqttsim.DemoNew.
const demoNewLampAddr = 3

func demoNewLamp() (*firmware.Lamp, error) {
	return firmware.NewLamp(demoNewLampAddr, firmware.LampConfig{Model: "HL-W demo white lamp", Vendor: "hubd", MinK: 3000, MaxK: 6000, White: true})
}

// demoWithAdopted returns the demo's config with the devices adopted in
// earlier runs (the data directory keeps them), and sets m.Base so new
// adoptions apply to the fixed demo config.
func demoWithAdopted(m *Main, base *Config) (*Config, error) {
	m.Base = func() (*Config, error) { return base, nil }
	ad, err := readAdopted(base.DataDir)
	if err != nil {
		return nil, err
	}
	return withAdopted(base, ad)
}

// scanDemoBus looks for the demo bus's unconfigured lamp in the
// background (the bus has configured devices, so the scan at start skips
// it); the goroutine belongs to m.Run.
func (m *Main) scanDemoBus(ctx context.Context, bus string) {
	if m.Adoption == nil {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if _, err := m.Adoption.Scan(ctx, bus, 1, 8); err != nil && ctx.Err() == nil {
			m.Log.Warn("demo bus scan failed", "err", err)
		}
	}()
}
