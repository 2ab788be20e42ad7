package firmware

import (
	"crypto/ed25519"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"

	"hubd/firmware/wire"
)

// SocketConfig describes a metering socket. Zero fields take defaults:
// model "HS-16", vendor "Hubd", firmware 2.0.7, a 60 W load plugged in.
type SocketConfig struct {
	Model, Vendor string
	FW            [3]uint8 // the factory firmware's version
	LoadW         float64  // what the plugged-in appliance draws when the relay is on
	// VendorKey verifies firmware images (PROTOCOL.md section 12); nil:
	// the socket refuses updates with ERROR 0x07.
	VendorKey ed25519.PublicKey
	// BootTime is how long the socket is silent while it reboots into new
	// firmware; 0: DefaultBootTime.
	BootTime time.Duration
	// EraseTime is how long the socket takes to erase its inactive slot when
	// an update begins; meanwhile it answers ERROR 0x05 busy (PROTOCOL.md
	// section 12). 0: at once.
	EraseTime time.Duration
}

// Socket is the firmware of a relay socket with an energy meter. The meter
// samples once a second: power follows the simulated load with a little
// ripple, mains voltage wanders around 230 V, current is P/V, and energy
// integrates power over time. The relay state and the energy counter are
// kept in flash (the counter every 10 Wh, as real meters do to spare flash),
// so they survive a Reboot.
type Socket struct {
	core
	cfg SocketConfig
	rng *rand.Rand

	on       bool
	loadW    float64
	powerW   float64
	voltageV float64
	energyWh float64
	lastTick time.Time
	sampled  time.Time
	savedWh  float64

	// What the master saw last, to decide whether a POLL has news.
	repOn     bool
	repPower  float64
	repEnergy uint32
	relayNews bool
}

var _ Device = (*Socket)(nil)

// NewSocket makes a socket at addr, relay off, energy counter at zero.
func NewSocket(addr uint8, cfg SocketConfig) (*Socket, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	if cfg.Model == "" {
		cfg.Model = "HS-16"
	}
	if cfg.Vendor == "" {
		cfg.Vendor = "Hubd"
	}
	if cfg.FW == ([3]uint8{}) {
		cfg.FW = [3]uint8{2, 0, 7}
	}
	if cfg.LoadW == 0 {
		cfg.LoadW = 60
	}
	s := &Socket{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(addr), 0x50c4e7)), loadW: cfg.LoadW, voltageV: 230}
	s.addr, s.boots = addr, 1
	s.fw.init(cfg.Model, cfg.FW, cfg.VendorKey, cfg.BootTime, cfg.EraseTime)
	s.save()
	return s, nil
}

// Handle implements Device.
func (s *Socket) Handle(req wire.Frame, now time.Time) (wire.Frame, bool) {
	return s.core.handle(s, req, now)
}

func (s *Socket) info() wire.Info {
	return wire.Info{
		Kind: wire.KindSocket, Caps: wire.FOn | wire.FPower | wire.FVoltage | wire.FCurrent | wire.FEnergy,
		FW: s.fw.version(), HWRev: 3, Model: s.cfg.Model, Vendor: s.cfg.Vendor,
	}
}

func (s *Socket) settable() wire.Fields { return wire.FOn }

// tick advances the meter to now. Called with s.mu held.
func (s *Socket) tick(now time.Time) {
	if s.lastTick.IsZero() || now.Before(s.lastTick) {
		s.lastTick = now
	}
	if dt := now.Sub(s.lastTick); dt > 0 {
		s.energyWh += s.powerW * dt.Hours()
		s.lastTick = now
	}
	if s.sampled.IsZero() || now.Sub(s.sampled) >= time.Second {
		s.sampled = now
		s.voltageV = min(max(s.voltageV+s.rng.NormFloat64()*0.8, 221), 239)
		// Pull back towards 230 V so the walk stays plausible.
		s.voltageV += (230 - s.voltageV) * 0.1
		s.sample()
	}
	if s.energyWh-s.savedWh >= 10 {
		s.save()
	}
}

// sample recomputes power from the load. Called with s.mu held.
func (s *Socket) sample() {
	if !s.on || s.loadW <= 0 {
		s.powerW = 0
		return
	}
	s.powerW = max(0, s.loadW*(1+s.rng.NormFloat64()*0.01))
}

func (s *Socket) state(now time.Time) wire.State {
	s.tick(now)
	cur := 0.0
	if s.voltageV > 0 {
		cur = s.powerW / s.voltageV
	}
	return wire.State{
		Fields:    wire.FOn | wire.FPower | wire.FVoltage | wire.FCurrent | wire.FEnergy,
		On:        s.on,
		PowerCW:   uint32(math.Round(s.powerW * 100)),
		VoltageCV: uint16(math.Round(s.voltageV * 100)),
		CurrentMA: uint32(math.Round(cur * 1000)),
		EnergyWh:  uint32(s.energyWh),
	}
}

func (s *Socket) set(st wire.State, now time.Time) (uint8, uint8) {
	s.tick(now)
	if st.Fields.Has(wire.FOn) && st.On != s.on {
		s.on = st.On
		s.sample()
		s.save()
	}
	return 0, 0
}

func (s *Socket) news(now time.Time) bool {
	s.tick(now)
	if s.relayNews || s.on != s.repOn || uint32(s.energyWh) != s.repEnergy {
		return true
	}
	return math.Abs(s.powerW-s.repPower) >= max(1, 0.05*s.repPower)
}

func (s *Socket) reported(st wire.State) {
	s.repOn, s.repPower, s.repEnergy, s.relayNews = st.On, float64(st.PowerCW)/100, st.EnergyWh, false
}

func (s *Socket) changedUnseen() { s.relayNews = true }

// Press is the socket's own button: it toggles the relay and leaves news
// for the master's next POLL.
func (s *Socket) Press(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(now)
	s.on = !s.on
	s.relayNews = true
	s.sample()
	s.save()
}

// SetLoad changes what the plugged-in appliance draws, in watts.
func (s *Socket) SetLoad(w float64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(now)
	s.loadW = max(0, w)
	s.sample()
}

// State returns the meter's reading at now.
func (s *Socket) State(now time.Time) wire.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(now)
}

// EnergyWh is the meter's counter with its fraction.
func (s *Socket) EnergyWh(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(now)
	return s.energyWh
}

// Reboot power-cycles the socket: the relay and the energy counter come
// back from flash (up to 10 Wh of counting since the last save is lost).
func (s *Socket) Reboot(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restart(now)
}

// shutdown brings the meter up to date and saves the counter, so that a
// planned reboot (new firmware) loses no energy.
func (s *Socket) shutdown(now time.Time) {
	s.tick(now)
	s.save()
}

func (s *Socket) restart(now time.Time) {
	s.core.reboot()
	on, wh, err := s.loadFlash(s.flash)
	if err != nil {
		on, wh = false, 0
	}
	s.on, s.energyWh, s.savedWh = on, wh, wh
	s.lastTick, s.sampled = now, time.Time{}
	s.repOn, s.repPower, s.repEnergy, s.relayNews = false, 0, 0, false
	s.tick(now)
}

const socketFlashLen = 5

func (s *Socket) save() {
	on := byte(0)
	if s.on {
		on = 1
	}
	s.flash = sealFlash(binary.LittleEndian.AppendUint32([]byte{on}, uint32(s.energyWh)))
	s.savedWh = math.Floor(s.energyWh)
}

func (s *Socket) loadFlash(b []byte) (bool, float64, error) {
	body, err := openFlash(b, socketFlashLen)
	if err != nil {
		return false, 0, err
	}
	if body[0] > 1 {
		return false, 0, ErrFlash
	}
	return body[0] == 1, float64(binary.LittleEndian.Uint32(body[1:])), nil
}
