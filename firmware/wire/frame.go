package wire

import (
	"encoding/hex"
	"fmt"
)

// Framing constants.
const (
	SOF        = 0xA5 // start of frame
	MaxPayload = 64   // longest payload a frame may carry
	headerLen  = 3    // ADDR SEQ CMD, counted by LEN
	minLen     = headerLen
	maxLen     = headerLen + MaxPayload
	// MaxFrame is the longest frame on the wire: SOF LEN + LEN bytes + CRC.
	MaxFrame = 2 + maxLen + 2
)

// Addresses.
const (
	AddrMin   = 1    // lowest device address
	AddrMax   = 247  // highest device address
	Broadcast = 0xFF // every device acts, none replies
)

// ValidAddr reports whether a is a unicast device address.
func ValidAddr(a uint8) bool { return a >= AddrMin && a <= AddrMax }

// Cmd is a frame's command byte. Replies have bit 7 set.
type Cmd uint8

// Requests (master to device).
const (
	CmdIdentify Cmd = 0x01 // -> Info
	CmdGetState Cmd = 0x02 // -> State
	CmdSetState Cmd = 0x03 // partial State -> State (the new state)
	CmdBlink    Cmd = 0x04 // "find me" -> Ack
	CmdPoll     Cmd = 0x05 // "any news?" -> State when something changed, else Ack
)

// Replies (device to master).
const (
	ReplyFlag  Cmd = 0x80
	ReplyAck   Cmd = 0x80
	ReplyInfo  Cmd = 0x81
	ReplyState Cmd = 0x82
	ReplyError Cmd = 0x8F
)

// IsReply reports whether c is sent by a device.
func (c Cmd) IsReply() bool { return c&ReplyFlag != 0 }

func (c Cmd) String() string {
	switch c {
	case CmdIdentify:
		return "IDENTIFY"
	case CmdGetState:
		return "GET_STATE"
	case CmdSetState:
		return "SET_STATE"
	case CmdBlink:
		return "BLINK"
	case CmdPoll:
		return "POLL"
	case ReplyAck:
		return "ACK"
	case ReplyInfo:
		return "INFO"
	case ReplyState:
		return "STATE"
	case ReplyError:
		return "ERROR"
	case CmdUpdateBegin:
		return "UPDATE_BEGIN"
	case CmdUpdateChunk:
		return "UPDATE_CHUNK"
	case CmdUpdateCommit:
		return "UPDATE_COMMIT"
	case CmdUpdateAbort:
		return "UPDATE_ABORT"
	case ReplyUpdateStatus:
		return "UPDATE_STATUS"
	}
	return fmt.Sprintf("CMD(0x%02X)", uint8(c))
}

// Frame is one decoded frame.
type Frame struct {
	Addr    uint8 // device address: the addressee of a request, the sender of a reply
	Seq     uint8 // chosen by the master, echoed in the reply
	Cmd     Cmd
	Payload []byte
}

func (f Frame) String() string {
	return fmt.Sprintf("%s addr=%d seq=%d payload=%s", f.Cmd, f.Addr, f.Seq, hex.EncodeToString(f.Payload))
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return dst, fmt.Errorf("%w: %d bytes, at most %d", ErrPayloadTooLarge, len(f.Payload), MaxPayload)
	}
	start := len(dst)
	dst = append(dst, SOF, byte(headerLen+len(f.Payload)), f.Addr, f.Seq, byte(f.Cmd))
	dst = append(dst, f.Payload...)
	crc := CRC16(dst[start+1:])
	return append(dst, byte(crc), byte(crc>>8)), nil
}

// Encode returns the encoding of f.
func Encode(f Frame) ([]byte, error) { return AppendFrame(make([]byte, 0, MaxFrame), f) }

// Decoder splits a byte stream into frames. It hunts for SOF, checks LEN
// and the CRC, and on any mismatch drops the SOF byte and hunts again, so a
// frame that follows line noise is still found. The zero value is ready.
type Decoder struct {
	buf []byte

	// Counters since the decoder was made.
	Frames    uint64 // good frames returned
	CRCErrors uint64 // candidate frames whose CRC did not match
	BadLength uint64 // candidate frames whose LEN was out of range
	Skipped   uint64 // bytes discarded while hunting for SOF
}

// Write feeds bytes to the decoder. It never fails; call Next to collect
// the frames that became complete.
func (d *Decoder) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	return len(p), nil
}

// Next returns the next complete frame, or false when more bytes are needed.
// The frame's payload is a fresh copy.
func (d *Decoder) Next() (Frame, bool) {
	for {
		i := 0
		for i < len(d.buf) && d.buf[i] != SOF {
			i++
		}
		d.Skipped += uint64(i)
		d.consume(i)
		if len(d.buf) < 2 {
			return Frame{}, false
		}
		n := int(d.buf[1])
		if n < minLen || n > maxLen {
			d.BadLength++
			d.Skipped++
			d.consume(1)
			continue
		}
		total := 2 + n + 2
		if len(d.buf) < total {
			return Frame{}, false
		}
		got := uint16(d.buf[total-2]) | uint16(d.buf[total-1])<<8
		if CRC16(d.buf[1:total-2]) != got {
			d.CRCErrors++
			d.Skipped++
			d.consume(1)
			continue
		}
		f := Frame{Addr: d.buf[2], Seq: d.buf[3], Cmd: Cmd(d.buf[4])}
		if n > headerLen {
			f.Payload = append([]byte(nil), d.buf[5:total-2]...)
		}
		d.consume(total)
		d.Frames++
		return f, true
	}
}

// Pending is how many bytes wait for the rest of their frame.
func (d *Decoder) Pending() int { return len(d.buf) }

// Reset drops a partial frame, as a receiver does after an inter-frame gap.
func (d *Decoder) Reset() {
	d.Skipped += uint64(len(d.buf))
	d.buf = d.buf[:0]
}

func (d *Decoder) consume(n int) {
	if n == 0 {
		return
	}
	rest := copy(d.buf, d.buf[n:])
	d.buf = d.buf[:rest]
}
