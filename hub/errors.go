package hub

import "errors"

var (
	// ErrNotFound is returned when a device id is not known to the hub.
	ErrNotFound = errors.New("hub: device not found")

	// ErrUnreachable is returned when a device is offline, stale, or did not
	// confirm a command before its deadline.
	ErrUnreachable = errors.New("hub: device unreachable")

	// ErrNotSupported is returned when a command asks for a capability the
	// device does not have.
	ErrNotSupported = errors.New("hub: capability not supported")

	// ErrInvalidValue is returned when a command carries a value outside the
	// range the device supports.
	ErrInvalidValue = errors.New("hub: invalid value")

	// ErrBusy is returned when a device or its bus cannot take a command now.
	ErrBusy = errors.New("hub: device busy")

	// ErrNoDriver is returned when a device names a driver the hub does not have.
	ErrNoDriver = errors.New("hub: no driver for device")

	// ErrInvalidSite is returned when the site tree is malformed (duplicate
	// ids, too deep, a device in two rooms, an unknown device).
	ErrInvalidSite = errors.New("hub: invalid site")

	// ErrNotHome is returned when a scope names a site node that does not
	// exist or is not of kind home.
	ErrNotHome = errors.New("hub: not a home")

	// ErrInvalidDevice is returned when a device definition is malformed.
	ErrInvalidDevice = errors.New("hub: invalid device")

	// ErrClosed is returned when the hub has been closed.
	ErrClosed = errors.New("hub: closed")
)
