package rtu

import "errors"

var (
	// ErrShort is returned when a frame or PDU is shorter than its function
	// needs.
	ErrShort = errors.New("rtu: frame too short")

	// ErrLong is returned when a frame is longer than 256 bytes or a PDU
	// longer than its function allows.
	ErrLong = errors.New("rtu: frame too long")

	// ErrCRC is returned when a frame's CRC does not match its contents.
	ErrCRC = errors.New("rtu: CRC mismatch")

	// ErrFunction is returned for a function code the codec does not know.
	ErrFunction = errors.New("rtu: unsupported function code")

	// ErrQuantity is returned when a read asks for no items or more than
	// one PDU can carry, or a range runs past address 65535.
	ErrQuantity = errors.New("rtu: quantity out of range")

	// ErrCoilValue is returned when a write single coil carries a value
	// other than 0xFF00 (on) or 0x0000 (off).
	ErrCoilValue = errors.New("rtu: coil value is not 0xFF00 or 0x0000")

	// ErrMismatch is returned when a response does not answer its request:
	// another function, a byte count that does not fit the quantity, a
	// write echo with another address or value.
	ErrMismatch = errors.New("rtu: response does not match request")
)
