package alexa

import "net/url"

// Login with Amazon's authorization-code flow, for an administrator's
// one-time login (REFERENCE.md section 2). TokenSource.Login does the
// exchange.
const (
	// DefaultAuthorizeURL is Login with Amazon's consent page.
	DefaultAuthorizeURL = "https://www.amazon.com/ap/oa"
	// Scope is the scope the Alexa Smart Properties and Residential APIs
	// need.
	Scope = "alexa::enterprise:management"
)

// AuthorizeURL returns the consent page address an administrator opens;
// after consent, Login with Amazon redirects to redirectURI with the
// authorization code in its "code" parameter. base "" is
// DefaultAuthorizeURL.
func AuthorizeURL(base, clientID, redirectURI, state string) string {
	if base == "" {
		base = DefaultAuthorizeURL
	}
	q := url.Values{"client_id": {clientID}, "scope": {Scope}, "response_type": {"code"}, "redirect_uri": {redirectURI}}
	if state != "" {
		q.Set("state", state)
	}
	return base + "?" + q.Encode()
}
