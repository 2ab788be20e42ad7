package rtu

import (
	"fmt"
	"time"
)

// MaxADU is the longest RTU frame: unit address, 253 bytes of PDU, CRC.
const MaxADU = 256

// minADU is the shortest: unit, function, exception code, CRC.
const minADU = 5

// AppendFrame appends the RTU frame of pdu for unit to dst.
func AppendFrame(dst []byte, unit byte, pdu []byte) ([]byte, error) {
	if len(pdu) == 0 {
		return dst, ErrShort
	}
	if len(pdu) > MaxADU-3 {
		return dst, ErrLong
	}
	start := len(dst)
	dst = append(dst, unit)
	dst = append(dst, pdu...)
	c := CRC(dst[start:])
	return append(dst, byte(c), byte(c>>8)), nil
}

// ParseFrame checks a whole RTU frame and splits it. The PDU aliases b.
func ParseFrame(b []byte) (unit byte, pdu []byte, err error) {
	switch {
	case len(b) < 4:
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrShort, len(b))
	case len(b) > MaxADU:
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrLong, len(b))
	}
	n := len(b) - 2
	if got, want := uint16(b[n])|uint16(b[n+1])<<8, CRC(b[:n]); got != want {
		return 0, nil, fmt.Errorf("%w: got %04x, computed %04x", ErrCRC, got, want)
	}
	return b[0], b[1:n], nil
}

// ResponseLen is the length of the whole response frame to req, judged
// from its first bytes head (the slave's address, the function code and,
// for reads, the byte count). It returns 0 while head is too short to
// tell, and the frame's full length as soon as it can.
func ResponseLen(req Request, head []byte) int {
	if len(head) < 2 {
		return 0
	}
	if head[1]&0x80 != 0 {
		return minADU
	}
	switch req.Func {
	case WriteCoil, WriteRegister:
		return 8
	}
	if len(head) < 3 {
		return 0
	}
	return 5 + int(head[2])
}

// RequestLen is ResponseLen for the slave side: the length of a request
// frame judged from its first bytes, 0 while unknown, -1 for a function the
// codec does not know.
func RequestLen(head []byte) int {
	if len(head) < 2 {
		return 0
	}
	switch FuncCode(head[1]) {
	case ReadCoils, ReadDiscrete, ReadHolding, ReadInput, WriteCoil, WriteRegister:
		return 8
	}
	return -1
}

// CharBits is how many bits one character takes on the line: start bit,
// eight data bits, an optional parity bit and the stop bits.
func CharBits(parity bool, stopBits int) int {
	n := 1 + 8 + stopBits
	if parity {
		n++
	}
	return n
}

// CharTime is how long one character takes at baud.
func CharTime(baud, charBits int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(charBits) * time.Second / time.Duration(baud)
}

// FrameGap is the silence that ends a frame: 3.5 characters, and a fixed
// 1750 µs above 19200 baud as the serial line specification recommends
// (a character is too short there for timers to keep).
func FrameGap(baud, charBits int) time.Duration {
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	return CharTime(baud, charBits) * 7 / 2
}
