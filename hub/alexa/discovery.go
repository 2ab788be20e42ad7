package alexa

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DiscoveryStatusInProgress is the one documented non-final status.
const DiscoveryStatusInProgress = "IN_PROGRESS"

// DiscoveryStatusStarting is recorded (with the time) just before a session
// is started; it is replaced by the session's Location once the reply
// arrives.
const DiscoveryStatusStarting = "STARTING"

// DiscoveryStatusReplyLost is the status of a unit whose discovery start
// got no reply (timeout, dropped connection, 5xx, 409): a session may be
// running that the API cannot list, so none is started for that unit until
// DiscoverySessionTTL has passed since the attempt.
const DiscoveryStatusReplyLost = "unknown (reply lost)"

// DiscoverySessionTTL is how long a session's Location stays valid.
const DiscoverySessionTTL = time.Hour

// knownStatuses are the final statuses seen in examples; anything else is
// still treated as final (it differs from IN_PROGRESS) but logged.
var knownStatuses = map[string]bool{
	"SUCCEEDED": true, "SUCCESS": true, "SUCCESSFUL": true, "COMPLETED": true, "COMPLETE": true,
	"FAILED": true, "FAILURE": true, "TIMED_OUT": true, "CANCELLED": true,
}

// StartDiscovery starts a discovery session for a unit with the skill as
// endpoint reporter and returns the session's Location path. Not retried
// after an unknown outcome.
func (c *Client) StartDiscovery(ctx context.Context, unitID string) (string, error) {
	if c.opts.SkillID == "" {
		return "", fmt.Errorf("%w: skill id needed for discovery", ErrNotConfigured)
	}
	type value struct {
		SkillID    string `json:"skillId"`
		SkillStage string `json:"skillStage,omitempty"`
	}
	type reporter struct {
		Type  string `json:"type"`
		Value value  `json:"value"`
	}
	body := struct {
		EndpointReporter reporter `json:"endpointReporter"`
	}{reporter{"SKILL", value{c.opts.SkillID, c.opts.SkillStage}}}
	rep, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/discoverySessions",
		query: url.Values{"unit": {unitID}}, body: body, create: true, ok: []int{http.StatusCreated, http.StatusOK}})
	if err != nil {
		return "", err
	}
	loc := strings.TrimSpace(rep.header.Get("Location"))
	if loc == "" {
		// Fall back on the body's id.
		id, err := decodeID(rep.body)
		if err != nil {
			return "", fmt.Errorf("alexa: start discovery: %w: no Location and %w", ErrOutcomeUnknown, err)
		}
		loc = "/v1/discoverySessions/" + url.PathEscape(id)
	}
	if u, err := url.Parse(loc); err == nil && u.IsAbs() {
		loc = u.EscapedPath()
	}
	if !strings.HasPrefix(loc, "/v1/discoverySessions/") || len(loc) > 512 {
		return "", fmt.Errorf("alexa: start discovery: %w: unexpected Location %q", ErrMalformedReply, clip(loc, 80))
	}
	return loc, nil
}

// DiscoveryStatus returns a session's status as an opaque string.
func (c *Client) DiscoveryStatus(ctx context.Context, location string) (string, error) {
	if !strings.HasPrefix(location, "/v1/discoverySessions/") {
		return "", fmt.Errorf("alexa: discovery status: bad location %q", clip(location, 80))
	}
	rep, err := c.do(ctx, request{method: http.MethodGet, path: location, ok: []int{http.StatusOK}})
	if err != nil {
		return "", err
	}
	return decodeDiscoveryStatus(rep.body)
}
