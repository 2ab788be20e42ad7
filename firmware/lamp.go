package firmware

import (
	"crypto/ed25519"
	"time"

	"hubd/firmware/wire"
)

// LampConfig describes a lamp model. Zero fields take the defaults of the
// demo lamp: model "HL-100", vendor "Hubd", 2700..6500 K, firmware 1.2.0.
type LampConfig struct {
	Model, Vendor string
	MinK, MaxK    uint16
	FW            [3]uint8 // the factory firmware's version
	// VendorKey verifies firmware images (PROTOCOL.md section 12); nil:
	// the lamp refuses updates with ERROR 0x07.
	VendorKey ed25519.PublicKey
	// BootTime is how long the lamp is silent while it reboots into new
	// firmware; 0: DefaultBootTime.
	BootTime time.Duration
	// EraseTime is how long the lamp takes to erase its inactive slot when
	// an update begins; meanwhile it answers ERROR 0x05 busy (PROTOCOL.md
	// section 12). 0: at once.
	EraseTime time.Duration
	// White makes a tunable-white lamp: no HSV color, so its INFO, STATE
	// and the fields it accepts leave out FColor.
	White bool
}

// Lamp is the firmware of a dimmable color lamp: on/off, brightness, HSV
// color and color temperature. Its settings are kept in flash, so after a
// Reboot it comes back as it was (the usual "restore last state" power-on
// behavior).
type Lamp struct {
	core
	cfg LampConfig

	on     bool
	bri    uint8
	hue    uint16
	sat    uint8
	val    uint8
	kelvin uint16
	mode   uint8

	pending bool // changed by a local button since the master last saw it
}

var _ Device = (*Lamp)(nil)

// NewLamp makes a lamp at addr, in its factory state (off, 100 %, 4000 K).
func NewLamp(addr uint8, cfg LampConfig) (*Lamp, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	if cfg.Model == "" {
		cfg.Model = "HL-100"
	}
	if cfg.Vendor == "" {
		cfg.Vendor = "Hubd"
	}
	if cfg.MinK == 0 && cfg.MaxK == 0 {
		cfg.MinK, cfg.MaxK = 2700, 6500
	}
	if cfg.FW == ([3]uint8{}) {
		cfg.FW = [3]uint8{1, 2, 0}
	}
	l := &Lamp{cfg: cfg}
	l.addr, l.boots = addr, 1
	l.fw.init(cfg.Model, cfg.FW, cfg.VendorKey, cfg.BootTime, cfg.EraseTime)
	l.factory()
	l.save()
	return l, nil
}

func (l *Lamp) factory() {
	l.on, l.bri, l.hue, l.sat, l.val, l.mode = false, 100, 0, 0, 100, wire.ModeTemp
	l.kelvin = min(max(4000, l.cfg.MinK), l.cfg.MaxK)
}

// Handle implements Device.
func (l *Lamp) Handle(req wire.Frame, now time.Time) (wire.Frame, bool) {
	return l.core.handle(l, req, now)
}

func (l *Lamp) info() wire.Info {
	return wire.Info{
		Kind: wire.KindLamp, Caps: l.fields() | wire.FMode,
		MinK: l.cfg.MinK, MaxK: l.cfg.MaxK, FW: l.fw.version(), HWRev: 1, Model: l.cfg.Model, Vendor: l.cfg.Vendor,
	}
}

// fields are the values the lamp has.
func (l *Lamp) fields() wire.Fields {
	if l.cfg.White {
		return wire.FOn | wire.FBrightness | wire.FTemp
	}
	return wire.FOn | wire.FBrightness | wire.FColor | wire.FTemp
}

func (l *Lamp) settable() wire.Fields { return l.fields() }

func (l *Lamp) state(time.Time) wire.State {
	return wire.State{
		Fields: l.fields() | wire.FMode,
		On:     l.on, Brightness: l.bri, Hue: l.hue, Sat: l.sat, Val: l.val, Kelvin: l.kelvin, Mode: l.mode,
	}
}

func (l *Lamp) set(s wire.State, _ time.Time) (uint8, uint8) {
	if s.Fields.Has(wire.FTemp) && (s.Kelvin < l.cfg.MinK || s.Kelvin > l.cfg.MaxK) {
		return wire.ErrCodeRange, fieldIndex(wire.FTemp)
	}
	if s.Fields.Has(wire.FOn) {
		l.on = s.On
	}
	if s.Fields.Has(wire.FBrightness) {
		l.bri = s.Brightness
	}
	if s.Fields.Has(wire.FColor) {
		l.hue, l.sat, l.val, l.mode = s.Hue, s.Sat, s.Val, wire.ModeHSV
	}
	if s.Fields.Has(wire.FTemp) {
		l.kelvin, l.mode = s.Kelvin, wire.ModeTemp
	}
	l.save()
	return 0, 0
}

func (l *Lamp) news(time.Time) bool { return l.pending }
func (l *Lamp) reported(wire.State) { l.pending = false }
func (l *Lamp) changedUnseen()      { l.pending = true }

// Press is the lamp's wall button: it toggles the light and leaves news for
// the master's next POLL.
func (l *Lamp) Press() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = !l.on
	l.pending = true
	l.save()
}

// State returns what the lamp shows now.
func (l *Lamp) State() wire.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state(time.Time{})
}

// Reboot power-cycles the lamp: RAM is lost, settings come back from flash
// (factory settings if the flash blob is damaged).
func (l *Lamp) Reboot() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restart(time.Time{})
}

// shutdown has nothing to do: the lamp writes its settings at once.
func (l *Lamp) shutdown(time.Time) {}

func (l *Lamp) restart(time.Time) {
	l.core.reboot()
	l.pending = false
	if err := l.load(l.flash); err != nil {
		l.factory()
	}
}

// LoadFlash replaces the flash blob (e.g. one saved by Flash) and reboots
// from it.
func (l *Lamp) LoadFlash(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.load(b); err != nil {
		return err
	}
	l.flash = append([]byte(nil), b...)
	l.core.reboot()
	l.pending = false
	return nil
}

const lampFlashLen = 9

// save writes the settings to flash. A real lamp waits until a value has
// settled before writing, to spare flash cycles; the emulator writes at once.
func (l *Lamp) save() {
	on := byte(0)
	if l.on {
		on = 1
	}
	l.flash = sealFlash([]byte{on, l.bri, byte(l.hue), byte(l.hue >> 8), l.sat, l.val, byte(l.kelvin), byte(l.kelvin >> 8), l.mode})
}

func (l *Lamp) load(b []byte) error {
	body, err := openFlash(b, lampFlashLen)
	if err != nil {
		return err
	}
	s := wire.State{
		Fields: l.fields() | wire.FMode,
		On:     body[0] == 1, Brightness: body[1], Hue: uint16(body[2]) | uint16(body[3])<<8,
		Sat: body[4], Val: body[5], Kelvin: uint16(body[6]) | uint16(body[7])<<8, Mode: body[8],
	}
	if err := s.Validate(); err != nil || body[0] > 1 || s.Kelvin < l.cfg.MinK || s.Kelvin > l.cfg.MaxK {
		return ErrFlash
	}
	l.on, l.bri, l.hue, l.sat, l.val, l.kelvin, l.mode = s.On, s.Brightness, s.Hue, s.Sat, s.Val, s.Kelvin, s.Mode
	return nil
}
