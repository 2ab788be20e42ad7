package alexa

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrInvalidGrant is returned when Login with Amazon rejects the refresh
	// token. It cannot be recovered automatically: an operator must log in
	// again and configure the new refresh token.
	ErrInvalidGrant = errors.New("alexa: refresh token rejected (invalid_grant): an operator must log in again")

	// ErrToken is returned when the token endpoint fails for any other reason
	// (network, 5xx, a malformed reply).
	ErrToken = errors.New("alexa: cannot obtain access token")

	// ErrNotConfigured is returned when Options lack something a call needs
	// (client id, secret, refresh token, parent unit, skill id).
	ErrNotConfigured = errors.New("alexa: not configured")

	// ErrMalformedReply is returned when a reply body cannot be decoded or
	// lacks a required field.
	ErrMalformedReply = errors.New("alexa: malformed reply")

	// ErrReplyTooLarge is returned when a reply body exceeds the size limit.
	ErrReplyTooLarge = errors.New("alexa: reply too large")

	// ErrUnauthorized is returned (inside an *APIError) for HTTP 401 and 403.
	ErrUnauthorized = errors.New("alexa: unauthorized")

	// ErrNotFound is returned (inside an *APIError) for HTTP 404.
	ErrNotFound = errors.New("alexa: not found")

	// ErrThrottled is returned (inside an *APIError) for HTTP 429 once the
	// retries are used up.
	ErrThrottled = errors.New("alexa: throttled")

	// ErrServer is returned (inside an *APIError) for HTTP 5xx once the
	// retries are used up.
	ErrServer = errors.New("alexa: server error")

	// ErrOutcomeUnknown is returned when a create may or may not have taken
	// effect (timeout, dropped connection, 5xx). The caller must look before
	// creating again.
	ErrOutcomeUnknown = errors.New("alexa: outcome unknown")

	// ErrSiteTooDeep is returned when a unit of the site would lie deeper
	// than the 15 levels Alexa allows, counted from the organization.
	ErrSiteTooDeep = errors.New("alexa: site deeper than 15 levels below the organization")

	// ErrCommonArea is returned in residential mode when a node with devices
	// is neither a home nor inside one (a lobby, a corridor).
	ErrCommonArea = errors.New("alexa: devices outside any home in a residential building")

	// ErrNoSubscriptionSkill is returned when units must be created under a
	// property unit directly below the organization and no subscription
	// skill is configured to enable on it.
	ErrNoSubscriptionSkill = errors.New("alexa: no subscription skill configured")

	// ErrUnitNotEmpty is returned when a unit to delete still has child units
	// or endpoints.
	ErrUnitNotEmpty = errors.New("alexa: unit still has children or endpoints")

	// ErrReadOnlyHome is returned when a change would touch a home that is
	// OCCUPIED or LINKED, which the enterprise may not change.
	ErrReadOnlyHome = errors.New("alexa: home is occupied or linked and read-only")

	// ErrDiscoveryBusy is returned when a discovery session is already
	// running for a unit.
	ErrDiscoveryBusy = errors.New("alexa: discovery session already running for unit")

	// ErrSyncFailed is returned by Sync when some steps failed; the error
	// joins each step's error.
	ErrSyncFailed = errors.New("alexa: sync incomplete")
)

// APIError is an error reply from the Alexa API. Both documented body shapes
// ({"type","message"} and {"message"}) decode into it. Never branch on
// Message: it is for logs only.
type APIError struct {
	Op        string // "POST /v2/units"
	Status    int
	Type      string
	Message   string
	RequestID string // X-Amzn-RequestId
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("alexa: %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// Unwrap maps the status onto the package's sentinel errors so callers can
// use errors.Is(err, ErrNotFound) and the like.
func (e *APIError) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return ErrUnauthorized
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusTooManyRequests:
		return ErrThrottled
	case e.Status >= 500:
		return ErrServer
	}
	return nil
}
