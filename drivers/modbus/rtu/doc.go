// Package rtu is the Modbus RTU wire codec: the CRC-16, the serial ADU
// (unit address, PDU, CRC) and the PDUs of the function codes hubd uses
// (read coils, discrete inputs, holding and input registers; write single
// coil and single register), for both the master and the slave side.
//
// It imports only the standard library and firmware/wire (whose CRC-16 is
// the Modbus one) and holds no state, so the driver
// (drivers/modbus), the device emulator (drivers/modbus/modbussim) and
// devsim share one implementation of the protocol. Timing (the 3.5
// character gap that delimits frames) belongs to whoever owns the line;
// CharTime and FrameGap compute it.
package rtu
