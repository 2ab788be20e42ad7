package yandex

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits of OAuth requests.
const (
	maxForm     = 8 << 10 // an OAuth form body or query string
	maxParam    = 2048    // one parameter value: tokens, codes, state
	maxTokenLen = 4096    // a bearer token worth hashing
)

// parseForm decodes an application/x-www-form-urlencoded string. It
// refuses repeated parameters (RFC 6749 §3.1 and §3.2), values over
// maxParam bytes, invalid UTF-8 and ";" separators. Parameters with an
// empty value count as omitted (§3.1).
func parseForm(raw string) (map[string]string, error) {
	if len(raw) > maxForm {
		return nil, fmt.Errorf("%w: form of %d bytes, limit %d", ErrInvalidRequest, len(raw), maxForm)
	}
	out := make(map[string]string, 8)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.IndexByte(pair, ';') >= 0 {
			return nil, fmt.Errorf("%w: ';' in form", ErrInvalidRequest)
		}
		ek, ev, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(ek)
		if err != nil {
			return nil, fmt.Errorf("%w: bad escape in a parameter name", ErrInvalidRequest)
		}
		v, err := url.QueryUnescape(ev)
		if err != nil {
			return nil, fmt.Errorf("%w: bad escape in parameter %q", ErrInvalidRequest, clip(k, 32))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: parameter is not UTF-8", ErrInvalidRequest)
		}
		if len(v) > maxParam {
			return nil, fmt.Errorf("%w: parameter %q is over %d bytes", ErrInvalidRequest, clip(k, 32), maxParam)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%w: parameter %q is repeated", ErrInvalidRequest, clip(k, 32))
		}
		if v == "" {
			// Omitted, but still counted for the repetition check.
			out[k] = ""
			continue
		}
		out[k] = v
	}
	return out, nil
}

// tokenRequest is a request to the token endpoint (RFC 6749 §4.1.3, §6).
type tokenRequest struct {
	GrantType    string
	Code         string
	RedirectURI  string
	RefreshToken string
	ClientID     string
	ClientSecret string
}

// decodeTokenForm decodes the body of a token request.
func decodeTokenForm(body []byte) (tokenRequest, error) {
	f, err := parseForm(string(body))
	if err != nil {
		return tokenRequest{}, err
	}
	return tokenRequest{
		GrantType:    f["grant_type"],
		Code:         f["code"],
		RedirectURI:  f["redirect_uri"],
		RefreshToken: f["refresh_token"],
		ClientID:     f["client_id"],
		ClientSecret: f["client_secret"],
	}, nil
}

// authRequest is an authorization request (RFC 6749 §4.1.1), as the login
// page carries it from GET to POST.
type authRequest struct {
	ResponseType string
	ClientID     string
	RedirectURI  string // as sent; may be empty
	State        string
	Scope        string
}

func authRequestOf(f map[string]string) authRequest {
	return authRequest{
		ResponseType: f["response_type"],
		ClientID:     f["client_id"],
		RedirectURI:  f["redirect_uri"],
		State:        f["state"],
		Scope:        f["scope"],
	}
}

// descOK reports whether c may appear in an error_description (RFC 6749
// §5.2: printable ASCII without '"' and '\').
func descOK(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// oauthDesc makes an error message fit for error_description.
func oauthDesc(s string) string {
	s = strings.TrimPrefix(s, "yandex: ")
	b := []byte(clip(s, 300))
	for i, c := range b {
		if !descOK(c) {
			b[i] = '\''
			if c >= 0x80 || c < 0x20 || c == 0x7f {
				b[i] = '?'
			}
		}
	}
	return string(b)
}
