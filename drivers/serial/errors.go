package serial

import "errors"

var (
	// ErrConfig is returned by New when a bus or device definition is
	// invalid: an empty or duplicate bus name, a missing port, or a device
	// address that is not "bus/1..247".
	ErrConfig = errors.New("serial: invalid configuration")

	// ErrUnknownDevice is returned by Execute for a device that is not on
	// any configured bus.
	ErrUnknownDevice = errors.New("serial: device not on any bus")

	// ErrTimeout is returned when a device did not answer any attempt of an
	// exchange. Execute wraps it with hub.ErrUnreachable.
	ErrTimeout = errors.New("serial: no reply")

	// ErrPortGone is returned when the port failed and is being reopened.
	// Execute wraps it with hub.ErrUnreachable.
	ErrPortGone = errors.New("serial: port not open")

	// ErrDevice is returned when a device answered with an ERROR reply whose
	// code has no hub equivalent.
	ErrDevice = errors.New("serial: device reported an error")

	// ErrBadReply is returned when a reply does not fit its request (for
	// example an INFO payload that does not parse).
	ErrBadReply = errors.New("serial: malformed reply")
)
