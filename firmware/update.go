package firmware

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"hash/crc32"
	"time"

	"hubd/firmware/wire"
)

// Defaults of the update logic.
const (
	// DefaultBootTime is how long an emulated device stays silent while it
	// reboots into new firmware.
	DefaultBootTime = 300 * time.Millisecond
	// transferIdle is how long a transfer may sit without an UPDATE request
	// before another image may replace it.
	transferIdle = time.Minute
)

// fwSlot is one of the two program flash slots.
type fwSlot struct {
	image   []byte // the image container as written; nil for the factory image
	version [3]uint8
	crash   bool // emulator only: the payload starts with CrashMarker
	valid   bool
}

// transfer is an image on its way into the inactive slot. It lives in RAM:
// a reboot ends it.
type transfer struct {
	begin wire.UpdateBegin
	buf   []byte
	last  time.Time
}

// updater is the bootloader and update logic every device shares: two
// flash slots (A/B), the image being received, and the vendor key images
// must be signed with.
type updater struct {
	key      ed25519.PublicKey
	model    string
	bootTime time.Duration
	// eraseTime is how long erasing the inactive slot takes; until
	// eraseUntil, update requests but ABORT get ERROR 0x05 busy.
	eraseTime  time.Duration
	eraseUntil time.Time

	slots   [2]fwSlot // survive reboots: they are flash
	active  int
	pending bool // the inactive slot holds a committed image: boot it next

	xfer      *transfer
	rebootNow bool      // set by a COMMIT: reboot once the reply is out
	bootUntil time.Time // silent while rebooting

	updates   int // images committed
	rollbacks int // images that failed to boot
}

func (u *updater) init(model string, fw [3]uint8, key ed25519.PublicKey, bootTime, eraseTime time.Duration) {
	if bootTime <= 0 {
		bootTime = DefaultBootTime
	}
	u.model, u.bootTime, u.eraseTime = model, bootTime, eraseTime
	if len(key) == ed25519.PublicKeySize {
		u.key = append(ed25519.PublicKey(nil), key...)
	}
	u.slots[0] = fwSlot{version: fw, valid: true}
}

func (u *updater) version() [3]uint8 { return u.slots[u.active].version }

// boot is the bootloader, run at every power-up. A committed image is
// started; if it crashes before it confirms itself, the watchdog resets the
// device and the bootloader, finding the trial unconfirmed, goes back to
// the previous slot and marks the new one invalid.
func (u *updater) boot(c *core) {
	u.xfer = nil
	u.rebootNow = false
	u.eraseUntil = time.Time{}
	if !u.pending {
		return
	}
	u.pending = false
	prev := u.active
	u.active = 1 - u.active
	if u.slots[u.active].crash {
		u.slots[u.active].valid = false
		u.active = prev
		u.rollbacks++
		c.boots++ // the watchdog reset
	}
}

// handleUpdate runs an UPDATE_* request. Called with c.mu held.
func (c *core) handleUpdate(req wire.Frame, now time.Time) wire.Frame {
	u := &c.fw
	fail := func(code uint8) wire.Frame { return errorReply(req, c.addr, code, 0) }
	status := func() wire.Frame {
		p, _ := wire.AppendUpdateStatus(nil, &wire.UpdateStatus{Next: uint32(len(u.xfer.buf)), MaxChunk: wire.MaxChunk})
		return wire.Frame{Addr: c.addr, Seq: req.Seq, Cmd: wire.ReplyUpdateStatus, Payload: p}
	}
	if u.key == nil {
		return fail(wire.ErrCodeUpdateDisabled)
	}
	if req.Cmd != wire.CmdUpdateAbort && now.Before(u.eraseUntil) {
		return fail(wire.ErrCodeBusy) // still erasing: the master repeats
	}
	switch req.Cmd {
	case wire.CmdUpdateBegin:
		b, err := wire.DecodeUpdateBegin(req.Payload)
		switch {
		case errors.Is(err, wire.ErrBadValue):
			return fail(wire.ErrCodeRange)
		case err != nil:
			return fail(wire.ErrCodeMalformed)
		case b.Model != u.model:
			return fail(wire.ErrCodeWrongModel)
		case b.Size < ImageOverhead || b.Size > MaxImageSize:
			return fail(wire.ErrCodeRange)
		}
		if u.xfer != nil {
			if u.xfer.begin == b {
				u.xfer.last = now // resume: the reply says where
				return status()
			}
			if now.Sub(u.xfer.last) < transferIdle {
				return fail(wire.ErrCodeUpdateBusy)
			}
		}
		// Erase the inactive slot and start receiving into it.
		u.slots[1-u.active] = fwSlot{}
		u.pending = false
		u.xfer = &transfer{begin: b, buf: make([]byte, 0, b.Size), last: now}
		if u.eraseTime > 0 {
			// The erase has begun; a repeated BEGIN resumes the transfer
			// once it is done.
			u.eraseUntil = now.Add(u.eraseTime)
			return fail(wire.ErrCodeBusy)
		}
		return status()

	case wire.CmdUpdateChunk:
		ch, err := wire.DecodeUpdateChunk(req.Payload)
		if err != nil {
			return fail(wire.ErrCodeMalformed)
		}
		if u.xfer == nil {
			return fail(wire.ErrCodeNoUpdate)
		}
		x := u.xfer
		off, end, next := uint64(ch.Offset), uint64(ch.Offset)+uint64(len(ch.Data)), uint64(len(x.buf))
		if end > uint64(x.begin.Size) {
			return fail(wire.ErrCodeRange)
		}
		if off > next {
			return fail(wire.ErrCodeBadOffset)
		}
		// Bytes already written must match: a retried chunk is harmless, a
		// different one is refused.
		if !bytes.Equal(x.buf[off:min(end, next)], ch.Data[:min(end, next)-off]) {
			return fail(wire.ErrCodeBadOffset)
		}
		if end > next {
			x.buf = append(x.buf, ch.Data[next-off:]...)
		}
		x.last = now
		return status()

	case wire.CmdUpdateCommit:
		crc, err := wire.DecodeUpdateCommit(req.Payload)
		if err != nil {
			return fail(wire.ErrCodeMalformed)
		}
		x := u.xfer
		if x == nil || x.begin.CRC != crc {
			return fail(wire.ErrCodeNoUpdate)
		}
		if len(x.buf) < int(x.begin.Size) {
			return fail(wire.ErrCodeIncomplete)
		}
		// Whatever the verdict now, this transfer is over: a bad image must
		// be sent again from the start.
		u.xfer = nil
		if crc32.ChecksumIEEE(x.buf) != x.begin.CRC {
			return fail(wire.ErrCodeBadImage)
		}
		im, err := ParseImage(x.buf)
		switch {
		case err != nil:
			return fail(wire.ErrCodeBadImage)
		case im.Model != u.model:
			return fail(wire.ErrCodeWrongModel)
		case im.Model != x.begin.Model || im.Version != x.begin.Version:
			return fail(wire.ErrCodeBadImage)
		}
		if err := im.Verify(u.key); err != nil {
			return fail(wire.ErrCodeBadSignature)
		}
		u.slots[1-u.active] = fwSlot{image: x.buf, version: im.Version, crash: bytes.HasPrefix(im.Payload, CrashMarker), valid: true}
		u.pending = true
		u.rebootNow = true
		u.updates++
		return wire.Frame{Addr: c.addr, Seq: req.Seq, Cmd: wire.ReplyAck}

	case wire.CmdUpdateAbort:
		if len(req.Payload) != 0 {
			return fail(wire.ErrCodeMalformed)
		}
		u.xfer = nil
		return wire.Frame{Addr: c.addr, Seq: req.Seq, Cmd: wire.ReplyAck}
	}
	return fail(wire.ErrCodeUnknownCmd)
}

// FirmwareVersion is the version of the firmware running now (in INFO).
func (c *core) FirmwareVersion() [3]uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fw.version()
}

// FirmwareImage returns a copy of the image in the running slot, nil while
// the factory firmware runs.
func (c *core) FirmwareImage() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.fw.slots[c.fw.active].image)
}

// Updates counts images committed; Rollbacks counts those that failed to
// boot and were rolled back.
func (c *core) Updates() (committed, rolledBack int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fw.updates, c.fw.rollbacks
}

// Transfer reports the image transfer in progress: bytes received and the
// image size.
func (c *core) Transfer() (received, size int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fw.xfer == nil {
		return 0, 0, false
	}
	return len(c.fw.xfer.buf), int(c.fw.xfer.begin.Size), true
}
