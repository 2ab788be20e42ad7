// Package firmware is the device side of the hubd serial link: the logic of
// a lamp and a socket as it would run on their microcontrollers (state,
// answering requests, metering, settings kept in flash across a reboot), a
// Bus that serves several of them on one line, and a Harness that runs a Bus
// on a pseudo-terminal so that the real serial driver can talk to it.
//
// The wire format lives in firmware/wire and is specified in PROTOCOL.md.
package firmware
