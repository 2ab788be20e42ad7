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
//     ParentID is level 0, the organization. Without the option, a property
//     with children is refused in the plan (ErrNoSubscriptionSkill), naming
//     the setting. That level is read from the
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
//   - Occupied or linked homes: the home object has no state, so the API's
//     403 to a rename or delete of a home is taken as that refusal
//     (ErrReadOnlyHome): a warning in Result.Warnings, hub.SyncStatus.Warnings
//     and the node's hub.UnitStatus.Warning, not a failure; a community
//     whose home is kept is kept too.
//   - Communities and homes are units: the units list shows them, and they
//     keep the kind their own lists (or the id map) give them.
//   - Moves: the API cannot move a unit, so a node under a new parent gets
//     a new object and discovery there; its old object is deleted after
//     that discovery (OpWait) once its endpoints are gone, and when they
//     stay, the plan says what a person must remove (OpSkip, a warning).
//   - Depth counts from the organization: the configured parent's level
//     plus the site's depth must not pass MaxLevel (CheckSite).
//   - Residential: devices outside homes are refused (ErrCommonArea):
//     Alexa for Residential has only communities and homes.
//
// Secrets (client secret, refresh token, access token) never appear in
// logs, errors, plans or status.
//
// Package alexatest holds an in-process simulator of the API for tests and
// the demo.
package alexa
