package rtu

import "hubd/firmware/wire"

// CRC returns the CRC-16/MODBUS of b (initial value 0xFFFF). On the wire it
// follows the frame low byte first. hubd's own serial link uses the very
// same CRC, so both protocols share its one implementation.
func CRC(b []byte) uint16 { return wire.CRC16(b) }
