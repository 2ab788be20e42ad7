package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// maxIOErrors is how many read or write errors in a row mean the port is
// gone (an unplugged USB adapter shows up only as such errors).
const maxIOErrors = 3

// transact sends req to unit and returns the data of its reply, retrying
// after a timeout, a bad reply or a busy slave. The data aliases the bus's
// buffer: it is good until the next exchange.
func (b *bus) transact(ctx context.Context, unit uint8, req rtu.Request, attempts int) ([]byte, error) {
	var err error
	if b.pdu, err = rtu.AppendRequest(b.pdu[:0], req); err != nil {
		return nil, err
	}
	if b.out, err = rtu.AppendFrame(b.out[:0], unit, b.pdu); err != nil {
		return nil, err
	}
	var last error = ErrTimeout
	for range attempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.waitQuiet()
		if _, err := b.port.Write(b.out); err != nil {
			if b.ioError(err) {
				return nil, fmt.Errorf("%w: write: %w", ErrPortGone, err)
			}
			last = err
			continue
		}
		// The write returns once the bytes are queued; they leave the
		// adapter only one character time each later.
		sent := time.Duration(len(b.out)) * b.charTime
		b.quiet = time.Now().Add(sent + b.gap)
		b.stat(func(s *hub.BusStatus) { s.FramesOut++ })
		data, err := b.await(ctx, unit, req, sent+b.cfg.Timeout)
		if err == nil {
			return data, nil
		}
		last = err
		var ex *rtu.ExceptionError
		switch {
		case errors.Is(err, ErrPortGone), ctx.Err() != nil:
			return nil, err
		case errors.As(err, &ex):
			b.slave(unit, func(s *hub.SlaveStatus) { s.Exceptions++ }, nil)
			if ex.Code != rtu.ExDeviceBusy && ex.Code != rtu.ExAcknowledge {
				return nil, fmt.Errorf("unit %d: %w", unit, err)
			}
		case errors.Is(err, ErrTimeout):
			b.slave(unit, func(s *hub.SlaveStatus) { s.Timeouts++ }, func(s *hub.BusStatus) { s.Timeouts++ })
		default:
			if err := b.drain(ctx); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("unit %d, %v at %d: %w", unit, req.Func, req.Addr, last)
}

// waitQuiet keeps the 3.5-character silence that tells slaves a frame has
// ended before the next one starts. A timer, not an event: the line's
// silence is a duration, nothing announces it.
func (b *bus) waitQuiet() {
	if d := time.Until(b.quiet); d > 0 {
		time.Sleep(d)
	}
}

// ioError counts a read or write error and reports whether the port is gone.
func (b *bus) ioError(err error) bool {
	b.ioErrs++
	b.stat(func(s *hub.BusStatus) { s.LastError = err.Error() })
	return b.ioErrs >= maxIOErrors
}

// await reads until the reply to req from unit is complete or wait passes.
// Replies from other units (a late answer to an earlier request) are
// dropped; a reply that fails its CRC ends the wait with ErrBadReply.
func (b *bus) await(ctx context.Context, unit uint8, req rtu.Request, wait time.Duration) ([]byte, error) {
	deadline := time.Now().Add(wait)
	b.frame = b.frame[:0]
	quickEOF := 0
	for {
		start := time.Now()
		n, err := b.port.Read(b.rd)
		if n > 0 {
			b.ioErrs, quickEOF = 0, 0
			b.quiet = time.Now().Add(b.gap)
			b.frame = append(b.frame, b.rd[:n]...)
			data, done, ferr := b.takeFrame(unit, req)
			if done {
				return data, ferr
			}
		}
		switch {
		case err == nil || err == io.EOF:
			// A read timeout. A port whose reads return at once with no
			// data, again and again, has hung up (a PTY whose master closed).
			if n == 0 && time.Since(start) < time.Millisecond {
				quickEOF++
				if quickEOF >= 50 {
					return nil, fmt.Errorf("%w: read returns end of file", ErrPortGone)
				}
			}
		default:
			if b.ioError(err) {
				return nil, fmt.Errorf("%w: read: %w", ErrPortGone, err)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !time.Now().Before(deadline) {
			return nil, ErrTimeout
		}
	}
}

// takeFrame looks for the reply in the bytes gathered so far. done says
// whether the wait is over, with the reply's data or an error.
func (b *bus) takeFrame(unit uint8, req rtu.Request) (data []byte, done bool, err error) {
	for {
		need := rtu.ResponseLen(req, b.frame)
		if need == 0 || len(b.frame) < need {
			if len(b.frame) > rtu.MaxADU {
				return nil, true, fmt.Errorf("%w: %d bytes without a frame", ErrBadReply, len(b.frame))
			}
			return nil, false, nil
		}
		u, pdu, err := rtu.ParseFrame(b.frame[:need])
		if errors.Is(err, rtu.ErrCRC) {
			b.slave(unit, func(s *hub.SlaveStatus) { s.CRCErrors++ }, func(s *hub.BusStatus) { s.CRCErrors++ })
		}
		if err != nil {
			return nil, true, fmt.Errorf("%w: %w", ErrBadReply, err)
		}
		b.heard++
		b.stat(func(s *hub.BusStatus) { s.FramesIn++ })
		if u != unit {
			b.log.Debug("reply from another unit", "want", unit, "got", u)
			b.frame = b.frame[need:]
			continue
		}
		data, err := rtu.ParseResponse(req, pdu)
		var ex *rtu.ExceptionError
		if err != nil && !errors.As(err, &ex) {
			err = fmt.Errorf("%w: %w", ErrBadReply, err)
		}
		return data, true, err
	}
}

// drain reads and drops what is left of a bad frame until the line is
// silent for a read timeout, so that the next reply starts clean; a line
// that babbles on is given up on after one reply timeout.
func (b *bus) drain(ctx context.Context) error {
	deadline := time.Now().Add(b.cfg.Timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := b.port.Read(b.rd)
		if n == 0 {
			return nil
		}
		if err != nil && err != io.EOF && b.ioError(err) {
			return fmt.Errorf("%w: read: %w", ErrPortGone, err)
		}
	}
	return nil
}
