package web

import "errors"

var (
	// ErrUnauthorized is returned when a request needs a session and has none
	// (no cookie, an unknown or expired one).
	ErrUnauthorized = errors.New("web: sign-in required")

	// ErrBadLogin is returned when a user name or password does not match.
	ErrBadLogin = errors.New("web: wrong user name or password")

	// ErrTooManyAttempts is returned when a client made too many login
	// attempts in a short time.
	ErrTooManyAttempts = errors.New("web: too many login attempts, wait and retry")

	// ErrCrossSite is returned when a state-changing request comes from
	// another origin (Origin, Referer or Sec-Fetch-Site say so).
	ErrCrossSite = errors.New("web: cross-site request refused")

	// ErrBadCSRFToken is returned when a control request lacks the session's
	// CSRF token or carries a different one.
	ErrBadCSRFToken = errors.New("web: missing or wrong CSRF token")

	// ErrBadRequest is returned when a request body can not be decoded or
	// carries values out of range.
	ErrBadRequest = errors.New("web: bad request")

	// ErrNotConfigured is returned when a control needs a function that
	// Options left nil (for example SyncNow).
	ErrNotConfigured = errors.New("web: not configured")

	// ErrTooManyClients is returned when the live feed already has its
	// maximum number of clients.
	ErrTooManyClients = errors.New("web: too many live clients")

	// ErrUnhealthy is returned by the health check when a dependency is down.
	ErrUnhealthy = errors.New("web: unhealthy")

	// ErrInvalidOptions is returned by New when Options are malformed (a user
	// without a name, a password hash that is not bcrypt).
	ErrInvalidOptions = errors.New("web: invalid options")

	// ErrTooLarge is returned when a request body is larger than the page
	// accepts (4 KiB for logins and controls, about 1 MiB for a firmware
	// image).
	ErrTooLarge = errors.New("web: request body too large")

	// ErrUnsupportedMedia is returned when an upload has a content type the
	// endpoint does not take.
	ErrUnsupportedMedia = errors.New("web: unsupported content type")

	// ErrUpdateRunning is returned when a firmware update is asked for a
	// device whose previous one has not finished.
	ErrUpdateRunning = errors.New("web: a firmware update of this device is already running")

	// ErrTooManyUpdates is returned when Options.MaxFirmwareUpdates updates
	// are already running.
	ErrTooManyUpdates = errors.New("web: too many firmware updates running")

	// ErrForbidden is returned when a signed-in user's role may not do what
	// was asked (a technician managing residents).
	ErrForbidden = errors.New("web: your role may not do this")

	// ErrWrongHost is returned (as a 421 answer) when a request's Host
	// header is not a name of this gateway (Options.Hosts).
	ErrWrongHost = errors.New("web: request for another host")

	// ErrDowngrade is returned when a firmware image is older than the
	// firmware the device runs and the upload did not ask to downgrade.
	ErrDowngrade = errors.New("web: firmware image is older than the running one")

	// ErrClosed is returned when the server has been closed.
	ErrClosed = errors.New("web: closed")
)
