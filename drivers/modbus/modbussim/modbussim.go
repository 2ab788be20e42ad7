// Package modbussim emulates Modbus RTU slaves for devsim, the demo and
// benchmarks: relay modules (coils), dimmers (holding registers) and
// Eastron SDM120 energy meters (float32 input registers), whose load can
// follow a relay channel. A Bus serves its slaves on any io.ReadWriter,
// usually a PTY (firmware.StartServer), and can pace its replies to the
// time they would take on a real line at a given baud rate.
//
// It speaks through drivers/modbus/rtu, the driver's own codec: it is an
// emulator for demos and load, not an independent check. The tests that
// check the driver run it against pymodbus (drivers/modbus/pymodbustest).
package modbussim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"hubd/drivers/modbus/rtu"
)

// Slave is one emulated device: its four tables. Methods are safe to call
// while a Bus serves it.
type Slave struct {
	Unit uint8

	mu       sync.Mutex
	coils    []bool
	holding  []uint16
	input    []uint16
	onRead   func(s *Slave) // refreshes input registers before a read (meters)
	requests uint64
}

// NewRelay is a relay module with channels coils at 0.
func NewRelay(unit uint8, channels int) *Slave {
	return &Slave{Unit: unit, coils: make([]bool, channels)}
}

// NewDimmer is a dimmer with channels levels (0..100) in holding registers
// at 0.
func NewDimmer(unit uint8, channels int) *Slave {
	return &Slave{Unit: unit, holding: make([]uint16, channels)}
}

// SDM120 register addresses (float32, high word first).
const (
	SDM120Voltage = 0x0000
	SDM120Current = 0x0006
	SDM120Power   = 0x000C
	SDM120Energy  = 0x0156
)

// NewSDM120 is an Eastron SDM120 measuring a load of loadW watts at 230 V
// while on() holds (on nil: always), counting energy as time passes.
func NewSDM120(unit uint8, loadW float64, on func() bool) *Slave {
	s := &Slave{Unit: unit, input: make([]uint16, SDM120Energy+2)}
	last := time.Now()
	energy := 0.0
	s.onRead = func(s *Slave) {
		now := time.Now()
		p := 0.0
		if on == nil || on() {
			p = loadW
		}
		energy += p * now.Sub(last).Hours() / 1000
		last = now
		s.setFloat(SDM120Voltage, 230)
		s.setFloat(SDM120Current, p/230)
		s.setFloat(SDM120Power, p)
		s.setFloat(SDM120Energy, energy)
	}
	return s
}

func (s *Slave) setFloat(addr int, v float64) {
	u := math.Float32bits(float32(v))
	s.input[addr], s.input[addr+1] = uint16(u>>16), uint16(u)
}

// Coil reports coil i.
func (s *Slave) Coil(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return i < len(s.coils) && s.coils[i]
}

// SetCoil changes coil i, as a person at the panel would.
func (s *Slave) SetCoil(i int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.coils) {
		s.coils[i] = on
	}
}

// Holding reports holding register i.
func (s *Slave) Holding(i int) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.holding) {
		return s.holding[i]
	}
	return 0
}

// Requests is how many requests the slave answered.
func (s *Slave) Requests() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Describe is a line about the slave for devsim.
func (s *Slave) Describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.onRead != nil:
		return fmt.Sprintf("unit %d: SDM120 energy meter (profile sdm120)", s.Unit)
	case len(s.coils) > 0:
		return fmt.Sprintf("unit %d: %d-channel relay (profile relay, coils 0..%d)", s.Unit, len(s.coils), len(s.coils)-1)
	}
	return fmt.Sprintf("unit %d: %d-channel dimmer (profile dimmer, holding registers 0..%d)", s.Unit, len(s.holding), len(s.holding)-1)
}

// handle executes req and returns the response PDU appended to dst.
func (s *Slave) handle(dst []byte, req rtu.Request) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.onRead != nil && req.Func == rtu.ReadInput {
		s.onRead(s)
	}
	data, code := s.execute(req)
	if code != 0 {
		return rtu.AppendException(dst, req.Func, code)
	}
	out, err := rtu.AppendResponse(dst, req, data)
	if err != nil {
		return rtu.AppendException(dst, req.Func, rtu.ExDeviceFailure)
	}
	return out
}

// execute runs req on the tables; code is an exception code or 0.
func (s *Slave) execute(req rtu.Request) (data []byte, code byte) {
	end := int(req.Addr) + int(req.Value)
	switch req.Func {
	case rtu.ReadCoils:
		if end > len(s.coils) {
			return nil, rtu.ExIllegalAddress
		}
		data = make([]byte, rtu.DataLen(req))
		for i := range int(req.Value) {
			if s.coils[int(req.Addr)+i] {
				data[i/8] |= 1 << (i % 8)
			}
		}
		return data, 0
	case rtu.ReadHolding, rtu.ReadInput:
		regs := s.holding
		if req.Func == rtu.ReadInput {
			regs = s.input
		}
		if end > len(regs) {
			return nil, rtu.ExIllegalAddress
		}
		for _, r := range regs[req.Addr:end] {
			data = binary.BigEndian.AppendUint16(data, r)
		}
		return data, 0
	case rtu.WriteCoil:
		if int(req.Addr) >= len(s.coils) {
			return nil, rtu.ExIllegalAddress
		}
		s.coils[req.Addr] = req.Value == rtu.CoilOn
		return nil, 0
	case rtu.WriteRegister:
		if int(req.Addr) >= len(s.holding) {
			return nil, rtu.ExIllegalAddress
		}
		if req.Value > 100 && s.onRead == nil {
			return nil, rtu.ExIllegalValue // a dimmer's level is a percentage
		}
		s.holding[req.Addr] = req.Value
		return nil, 0
	}
	return nil, rtu.ExIllegalFunction
}

// Bus is slaves sharing one line.
type Bus struct {
	slaves map[uint8]*Slave
	// Baud, when set, paces each reply to the time the request and the
	// reply would take on a real line at that speed (8N1, 3.5-character
	// turnaround), so a PTY behaves like a cable for benchmarks.
	Baud int
}

// NewBus puts slaves on one line; their units must differ.
func NewBus(slaves ...*Slave) (*Bus, error) {
	b := &Bus{slaves: map[uint8]*Slave{}}
	for _, s := range slaves {
		if s.Unit < 1 || s.Unit > 247 {
			return nil, fmt.Errorf("modbussim: unit %d is outside 1..247", s.Unit)
		}
		if b.slaves[s.Unit] != nil {
			return nil, fmt.Errorf("modbussim: unit %d used twice", s.Unit)
		}
		b.slaves[s.Unit] = s
	}
	return b, nil
}

// Serve answers requests on rw until it fails or ctx ends. Requests for
// other units are ignored, as on a shared line; bytes that do not make a
// frame are skipped one at a time until one does.
func (b *Bus) Serve(ctx context.Context, rw io.ReadWriter) error {
	store := make([]byte, 4*rtu.MaxADU)
	buf := store[:0]
	rd := make([]byte, rtu.MaxADU)
	out := make([]byte, 0, rtu.MaxADU)
	pdu := make([]byte, 0, rtu.MaxADU)
	for ctx.Err() == nil {
		n, err := rw.Read(rd)
		buf = append(buf, rd[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for len(buf) >= 2 {
			need := rtu.RequestLen(buf)
			if need < 0 {
				buf = buf[1:]
				continue
			}
			if len(buf) < need {
				break
			}
			unit, p, ferr := rtu.ParseFrame(buf[:need])
			if ferr != nil {
				buf = buf[1:]
				continue
			}
			buf = buf[need:]
			s := b.slaves[unit]
			req, rerr := rtu.ParseRequest(p)
			if s == nil || rerr != nil {
				continue
			}
			pdu = s.handle(pdu[:0], req)
			out, _ = rtu.AppendFrame(out[:0], unit, pdu)
			b.pace(need + len(out))
			if _, err := rw.Write(out); err != nil {
				return err
			}
		}
		buf = store[:copy(store, buf)] // what is left is shorter than one request
	}
	return ctx.Err()
}

// pace sleeps for the line time of chars characters and a turnaround.
func (b *Bus) pace(chars int) {
	if b.Baud <= 0 {
		return
	}
	bits := rtu.CharBits(false, 1)
	time.Sleep(time.Duration(chars)*rtu.CharTime(b.Baud, bits) + rtu.FrameGap(b.Baud, bits))
}

// Demo is the demo's Modbus devices: unit 1 a 4-channel relay, unit 2 a
// dimmer, unit 3 an SDM120 metering a 120 W load on relay channel 1.
func Demo() []*Slave {
	relay := NewRelay(1, 4)
	return []*Slave{relay, NewDimmer(2, 1), NewSDM120(3, 120, func() bool { return relay.Coil(0) })}
}
