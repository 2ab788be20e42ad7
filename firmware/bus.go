package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"hubd/firmware/wire"
)

// Bus is the devices that share one line. It answers the frames the master
// sends to them, one at a time, as the half-duplex line forces them to.
type Bus struct {
	mu   sync.RWMutex
	devs map[uint8]Device

	now func() time.Time

	corrupt   atomic.Int64 // replies still to damage
	framesIn  atomic.Uint64
	framesOut atomic.Uint64
	crcErrors atomic.Uint64
}

// NewBus puts devices on one line. Addresses must be unique.
func NewBus(devs ...Device) (*Bus, error) {
	b := &Bus{devs: map[uint8]Device{}, now: time.Now}
	for _, d := range devs {
		if err := b.Add(d); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Add plugs a device into the line.
func (b *Bus) Add(d Device) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.devs[d.Addr()]; dup {
		return fmt.Errorf("%w: two devices at %d", ErrBadAddress, d.Addr())
	}
	b.devs[d.Addr()] = d
	return nil
}

// Device returns the device at addr, or nil.
func (b *Bus) Device(addr uint8) Device {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.devs[addr]
}

// Devices returns the devices ordered by address.
func (b *Bus) Devices() []Device {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Device, 0, len(b.devs))
	for _, d := range b.devs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr() < out[j].Addr() })
	return out
}

// CorruptReplies damages the next n replies (one bit flipped in the CRC),
// as line noise would.
func (b *Bus) CorruptReplies(n int) { b.corrupt.Store(int64(n)) }

// BusCounters are a bus's frame counts as the devices see them.
type BusCounters struct {
	FramesIn, FramesOut, CRCErrors uint64
}

// Counters returns the frame counts.
func (b *Bus) Counters() BusCounters {
	return BusCounters{FramesIn: b.framesIn.Load(), FramesOut: b.framesOut.Load(), CRCErrors: b.crcErrors.Load()}
}

// deadliner is a port whose reads can time out (an *os.File on a PTY).
type deadliner interface{ SetReadDeadline(time.Time) error }

// interFrameGap is how long a silence ends a partial frame.
const interFrameGap = 20 * time.Millisecond

// Serve answers requests read from rw until ctx is done or rw fails. A read
// that returns (0, io.EOF) is a read timeout, as on a serial port opened with
// github.com/tarm/serial, and ends any partial frame.
func (b *Bus) Serve(ctx context.Context, rw io.ReadWriter) error {
	var dec wire.Decoder
	var crcSeen uint64
	buf := make([]byte, 512)
	dl, _ := rw.(deadliner)
	out := make([]byte, 0, wire.MaxFrame)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if dl != nil {
			dl.SetReadDeadline(time.Now().Add(interFrameGap))
		}
		n, err := rw.Read(buf)
		if n > 0 {
			dec.Write(buf[:n])
			for {
				f, ok := dec.Next()
				if !ok {
					break
				}
				resp, reply := b.handle(ctx, f)
				if !reply {
					continue
				}
				out, _ = wire.AppendFrame(out[:0], resp)
				if b.corrupt.Load() > 0 && b.corrupt.Add(-1) >= 0 {
					out[len(out)-1] ^= 0x01
				}
				if _, err := rw.Write(out); err != nil {
					return fmt.Errorf("firmware: write reply: %w", err)
				}
				b.framesOut.Add(1)
			}
			if c := dec.CRCErrors; c != crcSeen {
				b.crcErrors.Add(c - crcSeen)
				crcSeen = c
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) || err == io.EOF:
			if n == 0 && dec.Pending() > 0 {
				dec.Reset()
			}
		default:
			return fmt.Errorf("firmware: read: %w", err)
		}
	}
}

// handle dispatches one frame. Only requests count; replies of real devices
// sharing the line are ignored.
func (b *Bus) handle(ctx context.Context, f wire.Frame) (wire.Frame, bool) {
	if f.Cmd.IsReply() {
		return wire.Frame{}, false
	}
	b.framesIn.Add(1)
	now := b.now()
	if f.Addr == wire.Broadcast {
		for _, d := range b.Devices() {
			if _, mute := d.Faults().get(); !mute {
				d.Handle(f, now)
			}
		}
		return wire.Frame{}, false
	}
	d := b.Device(f.Addr)
	if d == nil {
		return wire.Frame{}, false
	}
	delay, mute := d.Faults().get()
	if mute {
		return wire.Frame{}, false
	}
	resp, reply := d.Handle(f, now)
	if reply && d.Faults().dropReply() {
		return wire.Frame{}, false
	}
	if reply && d.Faults().corruptReply() {
		b.corrupt.Add(1) // Serve damages the reply it writes next: this one
	}
	if reply && delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return wire.Frame{}, false
		}
	}
	return resp, reply
}
