package modbus

import "errors"

var (
	// ErrConfig is returned by New and ValidateProfile when a bus, device
	// or profile definition is invalid: an empty or duplicate name, a
	// missing port, a unit address outside 1..247, an unknown profile, a
	// channel the profile does not have, two devices on one channel, a
	// register in a table that cannot hold its type.
	ErrConfig = errors.New("modbus: invalid configuration")

	// ErrUnknownDevice is returned by Execute for a device that is not on
	// any configured bus.
	ErrUnknownDevice = errors.New("modbus: device not on any bus")

	// ErrTimeout is returned when a slave did not answer any attempt of an
	// exchange. Execute wraps it with hub.ErrUnreachable.
	ErrTimeout = errors.New("modbus: no reply")

	// ErrPortGone is returned when the port failed and is being reopened.
	// Execute wraps it with hub.ErrUnreachable.
	ErrPortGone = errors.New("modbus: port not open")

	// ErrBadReply is returned when a reply fails its CRC or does not
	// answer its request.
	ErrBadReply = errors.New("modbus: malformed reply")

	// ErrNotConfirmed is returned by Execute when the value read back
	// after a write is not the value written.
	ErrNotConfirmed = errors.New("modbus: value read back differs from value written")
)
