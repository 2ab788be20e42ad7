package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"hubd/drivers/mqtt"
	"hubd/drivers/serial"
	"hubd/hub"
	"hubd/hub/web"
)

// DiscoveryConfig is the discovery: section. Discovery is on unless off
// is set; it costs a few MQTT subscriptions when idle.
type DiscoveryConfig struct {
	Off bool `yaml:"off"`
	// MaxFound bounds the table of found devices (configured or not).
	// Zero: 1024. When full, newcomers are counted and left out.
	MaxFound int `yaml:"max_found"`
	// MaxProbes bounds MQTT discovery's notes per family (Tasmota MACs,
	// Shelly Gen2 prefixes, RPC calls in flight). Zero: 1024.
	MaxProbes int `yaml:"max_probes"`
	// ScanAtStart scans serial buses with no configured device when hubd
	// starts. Default true.
	ScanAtStart *bool `yaml:"scan_at_start"`
	// ScanFrom and ScanTo are the addresses a scan visits. Zero: 1..247.
	ScanFrom int `yaml:"scan_from"`
	ScanTo   int `yaml:"scan_to"`
}

func (d *DiscoveryConfig) validate(add func(line int, format string, args ...any), line func(path ...any) int) {
	if d.MaxFound < 0 {
		add(line("discovery", "max_found"), "discovery.max_found %d is negative", d.MaxFound)
	}
	if d.MaxProbes < 0 {
		add(line("discovery", "max_probes"), "discovery.max_probes %d is negative", d.MaxProbes)
	}
	from, to := d.scanRange()
	if from < 1 || to > maxBusAddress || from > to {
		add(line("discovery", "scan_from"), "discovery.scan_from..scan_to %d..%d is not within 1..%d", from, to, maxBusAddress)
	}
}

func (d *DiscoveryConfig) scanRange() (int, int) {
	from, to := d.ScanFrom, d.ScanTo
	if from == 0 {
		from = 1
	}
	if to == 0 {
		to = maxBusAddress
	}
	return from, to
}

// dialectDriver maps an MQTT address dialect to the config's driver name.
var dialectDriver = map[string]string{
	mqtt.DialectTasmota: "tasmota", mqtt.DialectZ2M: "zigbee2mqtt",
	mqtt.DialectShelly1: "shelly", mqtt.DialectShelly2: "shelly2",
}

// Adoption runs discovery for the daemon and adopts what it finds: a
// found device becomes an entry of the adopted file and is applied like a
// config reload, so it is live at once and after a restart.
type Adoption struct {
	m     *Main
	finds *hub.Finds
	mqtt  *mqtt.Discovery

	mu sync.Mutex // one adoption or forget at a time

	fullSaid atomic.Bool // the table-full warning was logged
}

var _ web.Adoption = (*Adoption)(nil)

// openAdoption sets up discovery after the drivers are built; it does
// nothing when discovery is off or nothing says what the config file
// holds without the adopted devices (Main.Base).
func (m *Main) openAdoption() error {
	dc := m.Config.Discovery
	if dc.Off || m.Base == nil {
		return nil
	}
	a := &Adoption{m: m, finds: hub.NewFinds(dc.MaxFound)}
	if m.MQTT != nil {
		x, err := mqtt.NewDiscovery(m.MQTT, mqtt.DiscoverOptions{Found: a.found, Lost: a.finds.Remove,
			MaxProbes: dc.MaxProbes, Logger: m.Log.With("component", "discovery")})
		if err != nil {
			return err
		}
		a.mqtt = x
	}
	m.Adoption = a
	return nil
}

// Run listens for MQTT devices and scans the serial buses that have no
// configured device, until ctx ends. The CLI reaches it through the
// daemon's admin socket (admin_discovery.go).
func (a *Adoption) Run(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.mqtt != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.mqtt.Run(ctx) }()
	}
	dc := a.m.config().Discovery
	if a.m.Serial != nil && (dc.ScanAtStart == nil || *dc.ScanAtStart) {
		from, to := dc.scanRange()
		for bus, configured := range a.m.Serial.Buses() {
			if configured {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.Scan(ctx, bus, from, to); err != nil && ctx.Err() == nil {
					a.m.Log.Warn("serial scan failed", "bus", bus, "err", err)
				}
			}()
		}
	}
	<-ctx.Done()
	return nil
}

// found records a discovered device. One the config names learns the
// capabilities it declared (where the config does not pin them, see
// hub.Device.Learn), and the MQTT driver is given the new set when they
// change.
func (a *Adoption) found(f hub.Found) bool {
	ok := a.put(f)
	if f.Unsupported != "" {
		return ok
	}
	d, configured := a.m.Hub.DeviceAt(f.Driver, f.Address)
	if !configured {
		return ok
	}
	if err := a.m.Hub.Apply(hub.Report{Device: d.ID, Caps: &f.Caps}); err != nil {
		return ok
	}
	now, _ := a.m.Hub.Device(d.ID)
	if now.Fields != d.Fields && f.Driver == mqtt.DriverName && a.m.MQTT != nil {
		if err := a.m.MQTT.SetDevices(devicesOf(a.m.Hub.Devices(), mqtt.DriverName)); err != nil {
			a.m.Log.Warn("discovery: capabilities not passed to the mqtt driver", "device", d.ID, "err", err)
		}
	}
	return ok
}

// Scan scans a serial bus on demand; what answers goes to the table.
func (a *Adoption) Scan(ctx context.Context, bus string, from, to int) ([]hub.Found, error) {
	if a.m.Serial == nil {
		return nil, fmt.Errorf("%w: no serial section", hub.ErrNotFound)
	}
	return a.m.Serial.Scan(ctx, bus, from, to, func(f hub.Found) { a.put(f) })
}

// put records f; the first time the table turns one away, a warning
// event says so (the count is in Finds.Dropped).
func (a *Adoption) put(f hub.Found) bool {
	if a.finds.Put(f) {
		return true
	}
	if !a.fullSaid.Swap(true) {
		a.m.Hub.Log("warn", "discovery", "", fmt.Sprintf("the table of found devices is full (discovery.max_found %d): %s %s and later newcomers are left out", a.finds.Cap(), f.Driver, f.Address))
	}
	return false
}

// Stats are discovery's figures for /metrics.
func (a *Adoption) Stats() web.DiscoveryStats {
	return web.DiscoveryStats{Found: a.finds.Len(), New: len(a.New()), Max: a.finds.Cap(), Dropped: a.finds.Dropped()}
}

// New lists found devices that no configured or adopted device is at.
// It asks the hub's index for each found device (the table holds at most
// a few thousand) instead of copying every device: /metrics asks on each
// scrape, and a copy of 10,000 devices was 5 MB of garbage each time.
func (a *Adoption) New() []hub.Found {
	var out []hub.Found
	for _, f := range a.finds.List() {
		if _, taken := a.m.Hub.DeviceAt(f.Driver, f.Address); !taken {
			out = append(out, f)
		}
	}
	return out
}

// Adopt makes a found device a configured one.
func (a *Adoption) Adopt(ctx context.Context, r web.AdoptRequest) (web.Adopted, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.finds.Get(r.Driver, r.Address)
	if !ok {
		return web.Adopted{}, fmt.Errorf("%w: nothing was found at %s %s", hub.ErrNotFound, r.Driver, r.Address)
	}
	if f.Unsupported != "" {
		return web.Adopted{}, fmt.Errorf("%w: %s %s: %s", hub.ErrNotSupported, r.Driver, r.Address, f.Unsupported)
	}
	if d, ok := a.m.Hub.DeviceAt(f.Driver, f.Address); ok {
		return web.Adopted{}, fmt.Errorf("%w: %s %s is configured already as %s", hub.ErrInvalidDevice, r.Driver, r.Address, d.ID)
	}
	entry, err := adoptedEntry(f, r)
	if err != nil {
		return web.Adopted{}, err
	}
	err = a.change(func(ad []AdoptedDevice) ([]AdoptedDevice, error) { return append(ad, entry), nil })
	if err != nil {
		return web.Adopted{}, err
	}
	d, _ := a.m.Hub.Device(r.ID)
	out := web.Adopted{Device: d}
	if entry.Driver != "serial" {
		out.MQTT, out.Next = a.m.adoptedAccount(d, entry.Driver)
	}
	return out, nil
}

// Forget removes an adopted device; a device of the config file must be
// removed there.
func (a *Adoption) Forget(ctx context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.change(func(ad []AdoptedDevice) ([]AdoptedDevice, error) {
		for i, d := range ad {
			if d.ID == id {
				return append(ad[:i:i], ad[i+1:]...), nil
			}
		}
		if _, ok := a.m.Hub.Device(id); ok {
			return nil, fmt.Errorf("%w: %s is in the config file, not adopted: remove it there", hub.ErrInvalidDevice, id)
		}
		return nil, fmt.Errorf("%w: no adopted device %q", hub.ErrNotFound, id)
	})
}

// change edits the adopted list, checks the result as a whole config,
// applies it to the running daemon and only then keeps the file; if the
// daemon refuses, the old file is put back.
func (a *Adoption) change(edit func([]AdoptedDevice) ([]AdoptedDevice, error)) error {
	a.m.applyMu.Lock()
	defer a.m.applyMu.Unlock()
	base, err := a.m.Base()
	if err != nil {
		return fmt.Errorf("%w: the config file does not load: %v", hub.ErrInvalidDevice, err)
	}
	old, err := readAdopted(base.DataDir)
	if err != nil {
		return err
	}
	ad, err := edit(append([]AdoptedDevice(nil), old...))
	if err != nil {
		return err
	}
	c, err := withAdopted(base, ad)
	if err != nil {
		return fmt.Errorf("%w: %v", hub.ErrInvalidDevice, err)
	}
	if err := writeAdopted(base.DataDir, ad); err != nil {
		return err
	}
	if err := a.m.Apply(c); err != nil {
		if rerr := writeAdopted(base.DataDir, old); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("%w: %v", hub.ErrInvalidDevice, err)
	}
	return nil
}

// adoptedEntry is the config entry for found device f named by r, with
// the capabilities the device declared.
func adoptedEntry(f hub.Found, r web.AdoptRequest) (AdoptedDevice, error) {
	d := DeviceConfig{ID: r.ID, Name: r.Name, Kind: string(f.Kind)}
	switch f.Driver {
	case serial.Name:
		bus, addr, err := serial.ParseAddress(f.Address)
		if err != nil {
			return AdoptedDevice{}, fmt.Errorf("%w: %v", hub.ErrInvalidDevice, err)
		}
		d.Driver, d.Bus, d.Address = "serial", bus, int(addr)
	case mqtt.DriverName:
		a, err := mqtt.SplitAddress(f.Address)
		if err != nil {
			return AdoptedDevice{}, fmt.Errorf("%w: %v", hub.ErrInvalidDevice, err)
		}
		setMQTTOutput(&d, a)
	default:
		return AdoptedDevice{}, fmt.Errorf("%w: driver %s", hub.ErrNotSupported, strconv.Quote(f.Driver))
	}
	for _, fl := range f.Caps.Fields.List() {
		d.Capabilities = append(d.Capabilities, fl.String())
	}
	if f.Caps.Fields.Has(hub.FieldTemperatureK) {
		d.TemperatureK = &RangeConfig{Min: f.Caps.TempMinK, Max: f.Caps.TempMaxK}
	}
	return AdoptedDevice{DeviceConfig: d, Room: r.Room}, nil
}
