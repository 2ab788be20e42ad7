package firmware

import "errors"

var (
	// ErrBadAddress is returned when a device is given an address outside
	// 1..247, or two devices on one bus share an address.
	ErrBadAddress = errors.New("firmware: bad device address")

	// ErrClosed is returned when a harness is used after Close.
	ErrClosed = errors.New("firmware: harness closed")

	// ErrFlash is returned when a flash blob does not hold valid settings.
	ErrFlash = errors.New("firmware: flash blob invalid")
)
