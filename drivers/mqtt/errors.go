package mqtt

import "errors"

var (
	// ErrBadAddress is returned when a device address names no known dialect
	// or an empty device.
	ErrBadAddress = errors.New("mqtt: bad device address")

	// ErrBadOptions is returned by New when the options are inconsistent
	// (bad broker URL, bad FullTopic pattern, an unauthenticated embedded
	// broker on a non-loopback address, ...), and by New and SetDevices
	// for a device id listed twice or a topic two devices share.
	ErrBadOptions = errors.New("mqtt: bad options")

	// ErrBadPayload is returned by decoders when a message is not what its
	// topic promises: garbage, truncated JSON, wrong types, values out of range.
	ErrBadPayload = errors.New("mqtt: bad payload")

	// ErrOversize is returned when a message is larger than MaxPayload.
	ErrOversize = errors.New("mqtt: payload too large")

	// ErrNotConnected is returned by Execute when the broker connection is
	// down; the command is dropped, never queued for later.
	ErrNotConnected = errors.New("mqtt: not connected to broker")

	// ErrUnknownDevice is returned by Execute for a device the driver was
	// not configured with (or that SetDevices removed).
	ErrUnknownDevice = errors.New("mqtt: unknown device")

	// ErrIgnored is returned by decoders for a well-formed message that
	// carries nothing the hub uses (a Tasmota INFO2, a Shelly NotifyEvent).
	ErrIgnored = errors.New("mqtt: message ignored")

	// ErrRejected is returned by Execute when a device answered a command
	// with an error (a Shelly Gen2 RPC error reply). It is wrapped together
	// with the hub error that fits: hub.ErrInvalidValue, hub.ErrNotSupported
	// or hub.ErrUnreachable.
	ErrRejected = errors.New("mqtt: device rejected the command")
)
