package firmware

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"hubd/firmware/wire"
)

// Device is one emulated device on a bus.
type Device interface {
	// Addr is the device's bus address, 1..247.
	Addr() uint8
	// Handle acts on a request addressed to the device (or broadcast) and
	// returns the reply; reply is false when the device must stay silent.
	Handle(req wire.Frame, now time.Time) (resp wire.Frame, reply bool)
	// Faults returns the device's fault injection settings.
	Faults() *Faults
}

// Faults make a device misbehave for tests. The zero value is a healthy
// device. Safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	delay time.Duration
	mute  bool

	dropNext  int // replies still to swallow
	dropEvery int // swallow every n-th reply; 0: none
	replies   int
	dropped   int

	corruptEvery int // send every n-th reply with a bad CRC; 0: none
	sent         int // replies counted for corruptEvery
}

// SetDelay makes the device answer d late (a slow device).
func (f *Faults) SetDelay(d time.Duration) { f.mu.Lock(); f.delay = d; f.mu.Unlock() }

// SetMute makes the device ignore every frame (a dead or unplugged device).
func (f *Faults) SetMute(m bool) { f.mu.Lock(); f.mute = m; f.mu.Unlock() }

// DropReplies makes the device act on the next n requests but swallow
// their replies, as if line noise destroyed them.
func (f *Faults) DropReplies(n int) { f.mu.Lock(); f.dropNext = n; f.mu.Unlock() }

// DropEvery makes the device swallow every n-th reply after acting on its
// request; 0 stops it.
func (f *Faults) DropEvery(n int) { f.mu.Lock(); f.dropEvery, f.replies = n, 0; f.mu.Unlock() }

// CorruptEvery makes every n-th reply of the device go out with a bad CRC
// (a noisy line at this device); 0 stops it.
func (f *Faults) CorruptEvery(n int) { f.mu.Lock(); f.corruptEvery, f.sent = n, 0; f.mu.Unlock() }

// corruptReply reports whether the reply about to go out is to be damaged.
func (f *Faults) corruptReply() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.corruptEvery <= 0 {
		return false
	}
	f.sent++
	return f.sent%f.corruptEvery == 0
}

// Dropped counts replies swallowed by DropReplies and DropEvery.
func (f *Faults) Dropped() int { f.mu.Lock(); defer f.mu.Unlock(); return f.dropped }

// dropReply reports whether the reply about to go out is to be swallowed.
func (f *Faults) dropReply() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies++
	drop := false
	switch {
	case f.dropNext > 0:
		f.dropNext--
		drop = true
	case f.dropEvery > 0 && f.replies%f.dropEvery == 0:
		drop = true
	}
	if drop {
		f.dropped++
	}
	return drop
}

func (f *Faults) get() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay, f.mute
}

// core is what every device firmware shares: the address, duplicate
// detection by sequence number, identify-blink, and the flash blob.
type core struct {
	mu     sync.Mutex
	addr   uint8
	faults Faults

	// The last request answered and its reply, so that a master's retry
	// (same SEQ, same command and payload) gets the same reply without the
	// command being executed twice.
	haveLast  bool
	lastSeq   uint8
	lastCmd   wire.Cmd
	lastReq   []byte
	lastReply wire.Frame

	blinkUntil time.Time
	identifies int
	executed   int
	boots      int

	flash []byte // survives Reboot, as do the firmware slots in fw

	fw updater
}

func checkAddr(addr uint8) error {
	if !wire.ValidAddr(addr) {
		return fmt.Errorf("%w: %d is outside %d..%d", ErrBadAddress, addr, wire.AddrMin, wire.AddrMax)
	}
	return nil
}

func (c *core) Addr() uint8     { return c.addr }
func (c *core) Faults() *Faults { return &c.faults }

// duplicate returns the cached reply when req repeats the last request.
// Called with c.mu held.
func (c *core) duplicate(req wire.Frame) (wire.Frame, bool) {
	if c.haveLast && req.Seq == c.lastSeq && req.Cmd == c.lastCmd && bytes.Equal(req.Payload, c.lastReq) {
		return c.lastReply, true
	}
	return wire.Frame{}, false
}

// remember caches the reply to req. Called with c.mu held.
func (c *core) remember(req, resp wire.Frame) {
	c.haveLast, c.lastSeq, c.lastCmd = true, req.Seq, req.Cmd
	c.lastReq = append(c.lastReq[:0], req.Payload...)
	c.lastReply = resp
	c.executed++
}

// blink starts identify-blink. Called with c.mu held.
func (c *core) blink(seconds int, now time.Time) {
	c.blinkUntil = now.Add(time.Duration(seconds) * time.Second)
	c.identifies++
}

// Blinking reports whether the device is blinking (lamp) or clicking its
// relay (socket) so a person can find it.
func (c *core) Blinking(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.blinkUntil)
}

// Identifies counts identify-blink requests acted on.
func (c *core) Identifies() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.identifies
}

// Executed counts requests acted on (retries answered from the duplicate
// cache are not counted).
func (c *core) Executed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.executed
}

// Boots counts power-ups, the first included.
func (c *core) Boots() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boots
}

// Flash returns a copy of the device's flash blob.
func (c *core) Flash() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.flash...)
}

// reboot clears what RAM holds. Called with c.mu held.
func (c *core) reboot() {
	c.haveLast = false
	c.lastReq = nil
	c.blinkUntil = time.Time{}
	c.boots++
	c.fw.boot(c)
}

// Flash layout: magic 'H', version 1, body, CRC-16/MODBUS of magic..body.
const (
	flashMagic   = 'H'
	flashVersion = 1
)

func sealFlash(body []byte) []byte {
	b := append([]byte{flashMagic, flashVersion}, body...)
	crc := wire.CRC16(b)
	return binary.LittleEndian.AppendUint16(b, crc)
}

func openFlash(b []byte, bodyLen int) ([]byte, error) {
	if len(b) != 2+bodyLen+2 {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrFlash, len(b), 2+bodyLen+2)
	}
	if b[0] != flashMagic || b[1] != flashVersion {
		return nil, fmt.Errorf("%w: header % X", ErrFlash, b[:2])
	}
	if wire.CRC16(b[:len(b)-2]) != binary.LittleEndian.Uint16(b[len(b)-2:]) {
		return nil, fmt.Errorf("%w: CRC mismatch", ErrFlash)
	}
	return b[2 : len(b)-2], nil
}

func errorReply(req wire.Frame, addr uint8, code, detail uint8) wire.Frame {
	return wire.Frame{Addr: addr, Seq: req.Seq, Cmd: wire.ReplyError, Payload: wire.ErrorReply{Code: code, Detail: detail}.Payload()}
}

// fieldIndex is the bit index of the lowest bit of f, for ERROR details.
func fieldIndex(f wire.Fields) uint8 {
	for i := uint8(0); i < 16; i++ {
		if f&(1<<i) != 0 {
			return i
		}
	}
	return 0
}
