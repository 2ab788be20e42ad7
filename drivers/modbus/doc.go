// Package modbus is hubd's driver for Modbus RTU devices on RS-485 buses:
// DIN-rail relay modules, dimmers and energy meters (Eastron SDM120,
// SDM630 and the like), described by profiles that map hub fields to
// registers (profile.go).
//
// One goroutine owns each bus. It opens the port (github.com/tarm/serial
// by default, with the bus's parity and stop bits), keeps 3.5 characters
// of silence between frames at the bus's speed, and visits every device in
// turn: the switch or level of a relay channel or dimmer every poll cycle,
// the meter readings at the device's own meter interval. Commands from
// Execute go out between two exchanges, ahead of the next poll; a write is
// confirmed by reading the value back, and the value read is what the hub
// hears. A slave that misses OfflineAfter exchanges in a row is reported
// offline and tried again now and then; a port that fails is reopened with
// capped exponential backoff. Timeouts, CRC errors and exception replies
// are counted per bus (Status) and per slave address (SlaveStats).
//
// The RTU codec lives in drivers/modbus/rtu, shared with the emulator in
// drivers/modbus/modbussim.
package modbus
