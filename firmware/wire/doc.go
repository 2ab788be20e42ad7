// Package wire is the codec of the hubd serial link: the frames that the hub
// (bus master) and lamps and sockets (devices) exchange over an RS-485
// multi-drop bus, as specified in firmware/PROTOCOL.md.
//
// The package is written once and used on both sides: drivers/serial
// encodes requests and decodes replies with it, and the emulated firmware in
// package firmware does the reverse. It imports only the standard library so
// that it could be ported to a microcontroller as is.
//
// A frame is
//
//	SOF(0xA5) LEN ADDR SEQ CMD PAYLOAD... CRC-lo CRC-hi
//
// where LEN counts ADDR, SEQ, CMD and PAYLOAD, and the CRC is CRC-16/MODBUS
// over LEN..PAYLOAD. The streaming Decoder resynchronizes after line noise by
// hunting for the next SOF whose length and CRC check out.
package wire
