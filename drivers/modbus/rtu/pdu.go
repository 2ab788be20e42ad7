package rtu

import (
	"encoding/binary"
	"fmt"
)

// FuncCode is a Modbus function code.
type FuncCode byte

const (
	ReadCoils     FuncCode = 0x01
	ReadDiscrete  FuncCode = 0x02
	ReadHolding   FuncCode = 0x03
	ReadInput     FuncCode = 0x04
	WriteCoil     FuncCode = 0x05
	WriteRegister FuncCode = 0x06
)

func (f FuncCode) String() string {
	switch f {
	case ReadCoils:
		return "read coils"
	case ReadDiscrete:
		return "read discrete inputs"
	case ReadHolding:
		return "read holding registers"
	case ReadInput:
		return "read input registers"
	case WriteCoil:
		return "write single coil"
	case WriteRegister:
		return "write single register"
	}
	return fmt.Sprintf("function 0x%02x", byte(f))
}

// bitRead reports whether f reads bits (coils, discrete inputs).
func (f FuncCode) bitRead() bool { return f == ReadCoils || f == ReadDiscrete }

// Limits of one PDU (Modbus application protocol, section 6).
const (
	MaxReadBits      = 2000
	MaxReadRegisters = 125
)

// CoilOn and CoilOff are the only values of a write single coil.
const (
	CoilOn  = 0xFF00
	CoilOff = 0x0000
)

// Request is one of the PDUs hubd sends. For reads Value is the quantity;
// for writes it is the value written (CoilOn/CoilOff for a coil).
type Request struct {
	Func  FuncCode
	Addr  uint16
	Value uint16
}

func (r Request) check() error {
	switch r.Func {
	case ReadCoils, ReadDiscrete, ReadHolding, ReadInput:
		max := uint16(MaxReadRegisters)
		if r.Func.bitRead() {
			max = MaxReadBits
		}
		if r.Value == 0 || r.Value > max || int(r.Addr)+int(r.Value) > 0x10000 {
			return fmt.Errorf("%w: %v of %d at %d", ErrQuantity, r.Func, r.Value, r.Addr)
		}
	case WriteCoil:
		if r.Value != CoilOn && r.Value != CoilOff {
			return fmt.Errorf("%w: %04x", ErrCoilValue, r.Value)
		}
	case WriteRegister:
	default:
		return fmt.Errorf("%w: 0x%02x", ErrFunction, byte(r.Func))
	}
	return nil
}

// AppendRequest appends the PDU of r to dst.
func AppendRequest(dst []byte, r Request) ([]byte, error) {
	if err := r.check(); err != nil {
		return dst, err
	}
	dst = append(dst, byte(r.Func))
	dst = binary.BigEndian.AppendUint16(dst, r.Addr)
	return binary.BigEndian.AppendUint16(dst, r.Value), nil
}

// ParseRequest decodes a request PDU (the slave side).
func ParseRequest(pdu []byte) (Request, error) {
	if len(pdu) < 1 {
		return Request{}, ErrShort
	}
	if RequestLen([]byte{0, pdu[0]}) < 0 {
		return Request{}, fmt.Errorf("%w: 0x%02x", ErrFunction, pdu[0])
	}
	if len(pdu) != 5 {
		return Request{}, fmt.Errorf("%w: %v request of %d bytes", ErrShort, FuncCode(pdu[0]), len(pdu))
	}
	r := Request{Func: FuncCode(pdu[0]), Addr: binary.BigEndian.Uint16(pdu[1:]), Value: binary.BigEndian.Uint16(pdu[3:])}
	return r, r.check()
}

// Exception codes (Modbus application protocol, section 7).
const (
	ExIllegalFunction    byte = 0x01
	ExIllegalAddress     byte = 0x02
	ExIllegalValue       byte = 0x03
	ExDeviceFailure      byte = 0x04
	ExAcknowledge        byte = 0x05
	ExDeviceBusy         byte = 0x06
	ExGatewayPath        byte = 0x0A
	ExGatewayNoResponse  byte = 0x0B
	exceptionBit         byte = 0x80
	maxResponseDataBytes      = 250
)

// ExceptionError is a slave's exception response.
type ExceptionError struct {
	Func FuncCode
	Code byte
}

func (e *ExceptionError) Error() string {
	var what string
	switch e.Code {
	case ExIllegalFunction:
		what = "illegal function"
	case ExIllegalAddress:
		what = "illegal data address"
	case ExIllegalValue:
		what = "illegal data value"
	case ExDeviceFailure:
		what = "slave device failure"
	case ExAcknowledge:
		what = "acknowledge (still working)"
	case ExDeviceBusy:
		what = "slave device busy"
	case ExGatewayPath:
		what = "gateway path unavailable"
	case ExGatewayNoResponse:
		what = "gateway target failed to respond"
	default:
		what = fmt.Sprintf("exception 0x%02x", e.Code)
	}
	return fmt.Sprintf("rtu: %v: %s", e.Func, what)
}

// ParseResponse checks that pdu answers req and returns what it carries:
// for reads the data bytes (bits packed low bit first, or big-endian
// registers), for writes nothing. An exception response comes back as an
// *ExceptionError.
func ParseResponse(req Request, pdu []byte) ([]byte, error) {
	if len(pdu) < 2 {
		return nil, fmt.Errorf("%w: %d byte response", ErrShort, len(pdu))
	}
	if pdu[0] == byte(req.Func)|exceptionBit {
		if len(pdu) != 2 {
			return nil, fmt.Errorf("%w: exception of %d bytes", ErrMismatch, len(pdu))
		}
		return nil, &ExceptionError{Func: req.Func, Code: pdu[1]}
	}
	if pdu[0] != byte(req.Func) {
		return nil, fmt.Errorf("%w: %v answered with 0x%02x", ErrMismatch, req.Func, pdu[0])
	}
	switch req.Func {
	case WriteCoil, WriteRegister:
		if len(pdu) != 5 || binary.BigEndian.Uint16(pdu[1:]) != req.Addr || binary.BigEndian.Uint16(pdu[3:]) != req.Value {
			return nil, fmt.Errorf("%w: %v echo % x", ErrMismatch, req.Func, pdu)
		}
		return nil, nil
	}
	want := DataLen(req)
	if int(pdu[1]) != want || len(pdu) != 2+want {
		return nil, fmt.Errorf("%w: %v of %d answered with %d bytes", ErrMismatch, req.Func, req.Value, len(pdu)-2)
	}
	return pdu[2:], nil
}

// DataLen is the byte count of the response to a read request.
func DataLen(req Request) int {
	if req.Func.bitRead() {
		return (int(req.Value) + 7) / 8
	}
	return 2 * int(req.Value)
}

// AppendResponse appends the PDU answering req with data (the slave side):
// the read data, packed as ParseResponse returns it, or nothing for a
// write, whose response echoes the request.
func AppendResponse(dst []byte, req Request, data []byte) ([]byte, error) {
	if err := req.check(); err != nil {
		return dst, err
	}
	switch req.Func {
	case WriteCoil, WriteRegister:
		return AppendRequest(dst, req)
	}
	if len(data) != DataLen(req) || len(data) > maxResponseDataBytes {
		return dst, fmt.Errorf("%w: %d data bytes for %v of %d", ErrMismatch, len(data), req.Func, req.Value)
	}
	dst = append(dst, byte(req.Func), byte(len(data)))
	return append(dst, data...), nil
}

// AppendException appends an exception response PDU.
func AppendException(dst []byte, f FuncCode, code byte) []byte {
	return append(dst, byte(f)|exceptionBit, code)
}
