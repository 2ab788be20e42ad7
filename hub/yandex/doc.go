// Package yandex is the Yandex Smart Home provider API of hubd: the
// /v1.0/... HTTP endpoints the platform calls (liveness, discovery, query,
// action, unlink), the OAuth 2.0 server the platform links accounts with
// (/oauth/authorize, /oauth/token), the conversion between hub state and
// Yandex JSON, and the Notifier that pushes state changes to the
// platform's callback API.
//
// Queries are answered from the hub's memory and never touch a device. Each
// device's encoded state is cached by its snapshot sequence number, so a
// query is a map lookup and a byte copy per device; the request body is
// decoded by a small hand-written scanner instead of reflection.
//
// Brightness is published as a range of 1..100 percent: 0 would mean "off",
// which the on_off capability already says, and voice requests such as "set
// the minimum brightness" should leave the lamp lit. A lamp reporting 0 is
// shown as 1.
//
// # Account linking
//
// Bearer tokens come from two places: hashes in the configuration
// (User.TokenHashes) and tokens the OAuth server issued after a user logged
// in on its page with a user id and password (User.PasswordHash, bcrypt).
// Issued tokens are random 256-bit strings; only their sha256 digests are
// kept, in memory and in OAuthOptions.Tokens under the key prefix "oauth/",
// with user, expiry and the linking ("grant") they belong to. A refresh
// rotates the refresh token; the previous access token lives on until it
// expires, so requests in flight do not fail. Unlink with an issued token
// revokes its whole linking (access and refresh tokens), a replayed
// authorization code revokes what the code issued (RFC 6749 §4.1.2), a
// replayed refresh token revokes its whole linking (RFC 9700 §4.14.2;
// a retry within OAuthOptions.RefreshReuse gets the same answer, see
// oauth_rotate.go), and a user dropped by SetUsers loses its tokens at once. Codes are kept in
// OAuthOptions.Tokens too (oauth_codes.go), marked used there before their
// tokens are issued, so they survive a restart and stay single-use. Each user keeps at most MaxTokensPerUser live tokens, the
// oldest going first, and expired ones are pruned at start and at most once
// a minute from the OAuth endpoints, so the store stays bounded.
//
// The login page is one self-contained HTML page (no script, no external
// resources) that fits a phone. Its form carries a token that is an HMAC of
// a cookie nonce and of the authorization request, so a form posted from
// another browser or with changed parameters is refused; login attempts are
// limited per client address; a code is only ever sent to a redirect URI
// that exactly matches a configured one.
//
// # Reachability in callbacks
//
// The state callback has an optional device-level "status" ("online" or
// "offline") in the platform's current documentation, but no device-level
// error_code. When a device becomes unreachable (offline or stale) the
// Notifier sends {"id":..,"status":"offline"} without values, dropping
// any values still pending for it; when it is reachable again it sends
// "status":"online" with every known value. Queries keep answering
// DEVICE_UNREACHABLE for such devices either way.
package yandex
