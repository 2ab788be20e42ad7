// Package serial is hubd's driver for lamps and sockets on RS-485 serial
// buses, speaking the protocol of firmware/PROTOCOL.md through the shared
// codec in firmware/wire.
//
// One goroutine owns each bus: it opens the port (github.com/tarm/serial by
// default, always with a read timeout), identifies every device on first
// contact, polls them ("any news?" at PollInterval, a full state read every
// RefreshEvery), and carries commands from Execute between polls, with
// sequence numbers and retries. A device that misses OfflineAfter exchanges
// in a row is reported offline; a port that fails (read or write errors,
// or an open that fails) is closed and reopened with capped exponential
// backoff, after which devices come back by themselves.
//
// SetDevices changes the device set of the running driver (a config
// reload) without closing any port; the buses themselves are fixed at New.
//
// UpdateFirmware installs a signed firmware image (firmware.ParseImage) on
// one device over its bus, one chunk between two polls of the others,
// resuming after lost replies and interruptions, and checks that the
// device comes back with the new version (PROTOCOL.md section 12).
package serial
