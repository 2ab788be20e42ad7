// Package firmware is the device side of the hubd serial link: the logic of
// a lamp and a socket as it would run on their microcontrollers (state,
// answering requests, metering, settings kept in flash across a reboot), a
// Bus that serves several of them on one line, and a Harness that runs a Bus
// on a pseudo-terminal so that the real serial driver can talk to it.
//
// The devices also update their firmware over the bus: BuildImage and
// ParseImage are the signed image container (Ed25519, CRC-32), and each
// device keeps two flash slots, boots a committed image on trial and rolls
// back when it fails to boot.
//
// The wire format lives in firmware/wire and is specified in PROTOCOL.md.
package firmware
