package yandex

import (
	"errors"
	"fmt"
)

var (
	// ErrUnauthorized is returned when a request carries no bearer token,
	// an unknown one, or one revoked by unlink.
	ErrUnauthorized = errors.New("yandex: missing, unknown or revoked token")

	// errUnsaved is a revoked token whose revocation is not yet persisted
	// everywhere: refused like any revoked one, except by unlink, which
	// persists it again.
	errUnsaved = fmt.Errorf("%w (revocation not yet persisted)", ErrUnauthorized)

	// ErrRecordCheck is a stored OAuth token or code record that fails its
	// integrity check (OAuthOptions.RecordKey): it is treated as revoked.
	ErrRecordCheck = errors.New("yandex: stored record fails its integrity check")

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

	// ErrRunning is returned by Notifier.Run when the notifier is already
	// running.
	ErrRunning = errors.New("yandex: notifier is already running")

	// ErrInvalidRequest is returned by the OAuth endpoints when a request
	// misses a parameter, repeats one, or is not a form (RFC 6749
	// invalid_request).
	ErrInvalidRequest = errors.New("yandex: oauth: invalid request")

	// ErrInvalidClient is returned when the OAuth client is unknown or its
	// secret is wrong (invalid_client).
	ErrInvalidClient = errors.New("yandex: oauth: client authentication failed")

	// ErrInvalidGrant is returned when an authorization code or refresh
	// token is unknown, expired, already used, or was issued to another
	// client or redirect URI (invalid_grant).
	ErrInvalidGrant = errors.New("yandex: oauth: invalid grant")

	// ErrUnsupportedGrant is returned for a grant_type other than
	// authorization_code and refresh_token (unsupported_grant_type).
	ErrUnsupportedGrant = errors.New("yandex: oauth: unsupported grant type")

	// ErrLogin is returned when the login page was sent a wrong user id or
	// password.
	ErrLogin = errors.New("yandex: oauth: wrong user id or password")

	// ErrCSRF is returned when a login form carries no valid token for the
	// browser that sent it, or the form is too old.
	ErrCSRF = errors.New("yandex: oauth: login form expired or forged")

	// ErrRateLimited is returned when a client address has tried to log in
	// too often.
	ErrRateLimited = errors.New("yandex: oauth: too many login attempts")

	// ErrBadClientRedirect is returned when an authorization request names
	// an unknown client or a redirect URI that is not registered. The user
	// is shown an error page and never redirected.
	ErrBadClientRedirect = errors.New("yandex: oauth: unknown client or redirect URI")
)
