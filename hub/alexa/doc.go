// Package alexa keeps a building's room tree in sync with Alexa Smart
// Properties units (and, when enabled, Alexa for Residential home
// communities and homes), and starts discovery sessions for the units whose
// devices changed.
//
// The package has three layers:
//
//   - TokenSource: the Login with Amazon refresh-token grant (and the
//     authorization-code login), sent through golang.org/x/oauth2. Access tokens
//     are cached until a minute before they expire; a rotated refresh token
//     is stored in the KV; a rejected refresh token (invalid_grant) is
//     surfaced as ErrInvalidGrant and not retried until it changes.
//   - Client: typed calls for units, home communities, homes and discovery
//     sessions, all going through one rate limiter and one retry policy
//     (429, 500 and 503 retried with growing, jittered delays; Retry-After
//     honored; creates never repeated blindly). Error replies become an
//     *APIError carrying status, type, message and X-Amzn-RequestId.
//   - Syncer: the reconciler. It reads the remote tree, computes a Plan
//     (create top-down, rename, delete bottom-up, start discovery) and
//     applies it, recording every new id in the KV before the next call so a
//     sync interrupted anywhere resumes without duplicates.
//
// Decisions the API documents leave open:
//
//   - Deletes: before deleting a unit or home the plan lists its endpoints
//     (GET /v2/endpoints?associatedUnits.id=...); one that has any is
//     refused in the plan (OpRefuse, naming the unit and the count), and so
//     is its parent, instead of calling DELETE. A failed endpoint listing
//     leaves the decision to the API, which refuses such deletes too.
//   - Subscription skill (Options.SubscriptionSkillID): a unit is a
//     property (level 1) when it is created directly under ParentID and
//     ParentID is level 0, the organization. That level is read from the
//     expanded units list (a child's level minus one) or, with no children,
//     from GET /v2/units/{ParentID}; if the parent cannot be read (404, 403)
//     it is taken to be the organization. The enablement (OpEnable) is
//     planned right after the property's create and before its children,
//     recorded in the KV under the unit id, and a 409 counts as done.
//   - Discovery starts: the attempt is recorded (with its time) before the
//     call. A start whose reply is lost (timeout, dropped connection, 5xx,
//     409, cancellation) may have started a session; the API offers no way
//     to list sessions, so none is started for that unit until the
//     session's hour has passed, and Status shows DiscoveryStatusReplyLost.
//   - Lost creates: the parent's children are listed up to
//     CreateCheckTries times with doubling delays before creating again,
//     since lists may lag behind writes.
//   - Occupied or linked homes: a rename or delete the enterprise may not
//     make is skipped (OpSkip) and reported in Result.Warnings and
//     hub.SyncStatus.Warnings; it does not fail the sync.
//
// Secrets (client secret, refresh token, access token) never appear in
// logs, errors, plans or status.
//
// Package alexatest holds an in-process simulator of the API for tests and
// the demo.
package alexa
