package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decode reads the value of r from data, the bytes of a read response
// that started at start (coil or register address).
func decode(r Register, start uint16, data []byte) (float64, error) {
	off := int(r.Addr) - int(start)
	if r.Table.bits() {
		if off < 0 || off/8 >= len(data) {
			return 0, fmt.Errorf("%w: bit %d outside the reply", ErrBadReply, r.Addr)
		}
		if data[off/8]>>(off%8)&1 != 0 {
			return 1, nil
		}
		return 0, nil
	}
	w := r.Type.width()
	if off < 0 || 2*(off+w) > len(data) {
		return 0, fmt.Errorf("%w: register %d outside the reply", ErrBadReply, r.Addr)
	}
	words := make([]uint16, w)
	for i := range words {
		b := data[2*(off+i):]
		if r.ByteSwap {
			words[i] = binary.LittleEndian.Uint16(b)
		} else {
			words[i] = binary.BigEndian.Uint16(b)
		}
	}
	var raw float64
	switch r.Type {
	case Bool: // a holding register used as a switch: non-zero is on
		if words[0] != 0 {
			raw = 1
		}
	case Uint16:
		raw = float64(words[0])
	case Int16:
		raw = float64(int16(words[0]))
	default:
		hi, lo := words[0], words[1]
		if r.WordSwap {
			hi, lo = lo, hi
		}
		u := uint32(hi)<<16 | uint32(lo)
		switch r.Type {
		case Uint32:
			raw = float64(u)
		case Int32:
			raw = float64(int32(u))
		case Float32:
			raw = float64(math.Float32frombits(u))
			if math.IsNaN(raw) || math.IsInf(raw, 0) {
				return 0, fmt.Errorf("%w: register %d holds %v", ErrBadReply, r.Addr, raw)
			}
		}
	}
	return raw * r.Scale, nil
}

// encode16 is the register value that stores v in r (a 16-bit holding
// register), or an error when v does not fit.
func encode16(r Register, v float64) (uint16, error) {
	raw := math.Round(v / r.Scale)
	lo, hi := 0.0, float64(math.MaxUint16)
	if r.Type == Int16 {
		lo, hi = math.MinInt16, math.MaxInt16
	}
	if math.IsNaN(raw) || raw < lo || raw > hi {
		return 0, fmt.Errorf("value %v does not fit %v register %d", v, r.Type, r.Addr)
	}
	u := uint16(int32(raw))
	if r.ByteSwap {
		u = u<<8 | u>>8
	}
	return u, nil
}
