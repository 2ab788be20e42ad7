// Package alexa keeps a building's room tree in sync with Alexa Smart
// Properties units (and, when enabled, Alexa for Residential home
// communities and homes), and starts discovery sessions for the units whose
// devices changed.
//
// The package has three layers:
//
//   - TokenSource: the Login with Amazon refresh-token grant. Access tokens
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
// Secrets (client secret, refresh token, access token) never appear in
// logs, errors, plans or status.
//
// Package alexatest holds an in-process simulator of the API for tests and
// the demo.
package alexa
