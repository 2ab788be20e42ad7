package yandex

import "errors"

var (
	// ErrUnauthorized is returned when a request carries no bearer token,
	// an unknown one, or one revoked by unlink.
	ErrUnauthorized = errors.New("yandex: missing, unknown or revoked token")

	// ErrMalformed is returned when a request body is not the JSON the
	// endpoint expects.
	ErrMalformed = errors.New("yandex: malformed request")

	// ErrTooLarge is returned when a request body exceeds Options.MaxBody.
	ErrTooLarge = errors.New("yandex: request body too large")

	// ErrNoRoute is returned for a path the API does not serve.
	ErrNoRoute = errors.New("yandex: no such endpoint")

	// ErrMethod is returned when an endpoint is called with the wrong method.
	ErrMethod = errors.New("yandex: method not allowed")

	// ErrInvalidOptions is returned by New and NewNotifier when the options
	// are inconsistent (a malformed token hash, a user without id).
	ErrInvalidOptions = errors.New("yandex: invalid options")

	// ErrDeviceOff is returned when a relative change is asked of a device
	// that is off and has no current value to change.
	ErrDeviceOff = errors.New("yandex: device is off")

	// ErrInvalidAction is returned when an action names a capability in a
	// way that makes no sense (a relative on_off, an empty type).
	ErrInvalidAction = errors.New("yandex: invalid action")

	// ErrTimeout is returned for a device whose action did not finish before
	// the response deadline.
	ErrTimeout = errors.New("yandex: device did not answer in time")

	// ErrCallback is returned when the platform's callback API refused a
	// notification or could not be reached.
	ErrCallback = errors.New("yandex: callback failed")
)
