package serial

import "errors"

var (
	// ErrConfig is returned by New and SetDevices when a bus or device
	// definition is invalid: an empty or duplicate bus name, a missing
	// port, a device address that is not "bus/1..247", a device on a bus
	// that does not exist, two devices at one address, a device id used
	// twice.
	ErrConfig = errors.New("serial: invalid configuration")

	// ErrUnknownDevice is returned by Execute for a device that is not on
	// any configured bus, or that SetDevices removed while its command
	// waited for the bus.
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

	// ErrUpdateRefused is returned by UpdateFirmware when the device
	// refused the image: a bad signature, an image for another model, a
	// corrupt image, or a device without a vendor key. It comes wrapped
	// with hub.ErrInvalidValue (hub.ErrNotSupported for the last).
	ErrUpdateRefused = errors.New("serial: firmware image refused")

	// ErrWrongModel is returned by UpdateFirmware, before anything is
	// sent, when the image is for another model than the device's.
	ErrWrongModel = errors.New("serial: firmware image is for another model")

	// ErrSameVersion is returned by UpdateFirmware when the device already
	// runs the image's version (success could not be told from rollback).
	ErrSameVersion = errors.New("serial: device already runs this firmware version")

	// ErrDowngrade is returned by UpdateFirmware, before anything is sent,
	// when the image is older than the firmware the device runs and the
	// caller did not allow a downgrade (UpdateOptions.AllowDowngrade).
	ErrDowngrade = errors.New("serial: firmware image is older than the running one")

	// ErrRolledBack is returned by UpdateFirmware when the device accepted
	// the image but came back with its old firmware: the new one failed to
	// boot.
	ErrRolledBack = errors.New("serial: new firmware failed to boot; device rolled back")

	// ErrUpdating is returned by UpdateFirmware when an update of the same
	// device is already running. It comes wrapped with hub.ErrBusy.
	ErrUpdating = errors.New("serial: firmware update already running for device")
)
