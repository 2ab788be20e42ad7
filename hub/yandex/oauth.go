package yandex

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// OAuthOptions turn on the OAuth 2.0 authorization-code server the platform
// links accounts with (RFC 6749 §4.1): GET/POST /oauth/authorize shows a
// login page and redirects back with a code, POST /oauth/token exchanges
// codes and refresh tokens for tokens. A nil *OAuthOptions in Options turns
// it off and the /oauth/ routes answer 404.
type OAuthOptions struct {
	// ClientID is the client id configured in the Yandex developer console.
	ClientID string
	// ClientSecretHash is "sha256:<hex>" of the client secret (HashToken).
	ClientSecretHash string
	// RedirectURIs are the only places a code is ever sent, compared
	// exactly (Yandex uses https://social.yandex.net/broker/redirect).
	RedirectURIs []string
	// AccessTTL is the life of an access token. Zero: 24 h.
	AccessTTL time.Duration
	// RefreshTTL is the life of a refresh token; every refresh issues a new
	// one. Zero: 90 days.
	RefreshTTL time.Duration
	// RefreshReuse is how long after a refresh token was exchanged the same
	// token still gets the same answer (a client retrying a request whose
	// answer it lost). Later, or after a restart, presenting it again
	// revokes the whole linking (RFC 9700 §4.14.2). Zero: 10 s; negative:
	// no window, every reuse revokes.
	RefreshReuse time.Duration
	// CodeTTL is the life of an authorization code. Zero: 60 s.
	CodeTTL time.Duration
	// Tokens persists issued tokens (sha256 digests only) under the key
	// prefix "oauth/"; it may be the same KV as Options.Revoked. Nil keeps
	// them in memory: every link is lost at restart.
	Tokens KV
	// RecordKey authenticates every token and code record stored in
	// Tokens (HMAC-SHA256, key and value): a record changed on disk fails
	// the check and is treated as revoked (deleted, logged). Records
	// written without it fail too. Nil: records are not authenticated.
	RecordKey []byte
	// MaxTokensPerUser bounds a user's tokens, the records of rotated
	// refresh tokens included; those go first, then the oldest. Zero: 20.
	MaxTokensPerUser int
	// LoginBurst login attempts are allowed per client address (an IPv6
	// client per /64), refilled at one per LoginEvery. Zero: 5 and 12 s.
	LoginBurst int
	LoginEvery time.Duration
	// LoginAccountBurst failed logins are allowed per user id, from any
	// number of addresses, refilled at one per LoginAccountEvery; a right
	// password costs nothing. Zero: 10 and one minute, as the status page.
	LoginAccountBurst int
	LoginAccountEvery time.Duration
	// ClientIP names the client of a request for the login rate limit.
	// Nil: the host of RemoteAddr. Set it when a reverse proxy you trust
	// puts the client's address in a header.
	ClientIP func(r *http.Request) string
}

const (
	maxCodes       = 1024 // pending authorization codes
	maxLimited     = 4096 // client addresses the login limiter remembers
	csrfTTL        = 15 * time.Minute
	csrfCookie     = "hubd_oauth"
	pruneEvery     = time.Minute
	grantTypeCode  = "authorization_code"
	grantTypeRenew = "refresh_token"
)

type authCode struct {
	user, clientID, redirectURI, scope string
	redirectGiven                      bool // redirect_uri was in the request, so the exchange must repeat it
	grant                              string
	exp                                time.Time
	used                               bool
}

// oauthServer is the authorization server; the Handler owns one when
// OAuth is on.
type oauthServer struct {
	opts      OAuthOptions
	secret    [sha256.Size]byte
	redirects map[string]bool
	only      string // the redirect URI when exactly one is registered
	csp       string
	csrfKey   [32]byte
	store     *issued
	limit     *limiter
	log       *slog.Logger

	mu        sync.Mutex
	codes     map[[sha256.Size]byte]*authCode
	lastPrune time.Time
}

func newOAuth(o OAuthOptions, log *slog.Logger, now time.Time) (*oauthServer, error) {
	if o.ClientID == "" || len(o.ClientID) > maxParam {
		return nil, fmt.Errorf("%w: oauth needs a client id", ErrInvalidOptions)
	}
	secret, err := parseHash(o.ClientSecretHash)
	if err != nil {
		return nil, fmt.Errorf("oauth client secret: %w", err)
	}
	if len(o.RedirectURIs) == 0 {
		return nil, fmt.Errorf("%w: oauth needs at least one redirect URI", ErrInvalidOptions)
	}
	s := &oauthServer{secret: secret, redirects: map[string]bool{}, log: log,
		codes: map[[sha256.Size]byte]*authCode{}}
	origins := map[string]bool{}
	csp := "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	for _, ru := range o.RedirectURIs {
		u, err := url.Parse(ru)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || u.User != nil ||
			u.Scheme != "https" && u.Scheme != "http" || len(ru) > maxParam {
			return nil, fmt.Errorf("%w: redirect URI %q must be an absolute http(s) URL without fragment", ErrInvalidOptions, clip(ru, 100))
		}
		s.redirects[ru] = true
		// The login form redirects there, which form-action governs too.
		if o := u.Scheme + "://" + u.Host; !origins[o] {
			origins[o] = true
			csp += " " + o
		}
	}
	if len(s.redirects) == 1 {
		s.only = o.RedirectURIs[0]
	}
	s.csp = csp
	if o.AccessTTL <= 0 {
		o.AccessTTL = 24 * time.Hour
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 90 * 24 * time.Hour
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = time.Minute
	}
	if o.MaxTokensPerUser <= 0 {
		o.MaxTokensPerUser = 20
	}
	if o.RefreshReuse == 0 {
		o.RefreshReuse = defaultRefreshReuse
	}
	// A linking needs an access and a refresh token at least.
	o.MaxTokensPerUser = max(o.MaxTokensPerUser, 2)
	if o.LoginBurst <= 0 {
		o.LoginBurst = 5
	}
	if o.LoginEvery <= 0 {
		o.LoginEvery = 12 * time.Second
	}
	if o.LoginAccountBurst <= 0 {
		o.LoginAccountBurst = 10
	}
	if o.LoginAccountEvery <= 0 {
		o.LoginAccountEvery = time.Minute
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteHost
	}
	if o.Tokens != nil && len(o.RecordKey) > 0 {
		o.Tokens = sealedKV{kv: o.Tokens, key: o.RecordKey, log: log}
	}
	s.opts = o
	s.limit = newLimiter(o.LoginBurst, o.LoginEvery, o.LoginAccountBurst, o.LoginAccountEvery, maxLimited)
	if _, err := rand.Read(s.csrfKey[:]); err != nil {
		return nil, fmt.Errorf("yandex: oauth: csrf key: %w", err)
	}
	s.store, err = newIssued(o.Tokens, o.MaxTokensPerUser, log, now)
	if err != nil {
		return nil, err
	}
	s.store.reuse = max(o.RefreshReuse, 0)
	if err := s.loadCodes(now); err != nil {
		return nil, err
	}
	s.lastPrune = now
	return s, nil
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// serveOAuth answers the /oauth/ routes. It does its own error rendering:
// HTML for the login page, RFC 6749 JSON for the token endpoint.
func (h *Handler) serveOAuth(w http.ResponseWriter, r *http.Request, c *call) (endpoint string, status int, err error) {
	o := h.oauth
	now := h.hub.Now()
	o.maybePrune(now)
	switch r.URL.Path {
	case "/oauth/authorize":
		endpoint = "authorize"
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			status, err = h.authorizeGet(w, r, now)
		case http.MethodPost:
			status, err = h.authorizePost(w, r, c, now)
		default:
			w.Header().Set("Allow", "GET, POST")
			err = fmt.Errorf("%w: authorize wants GET or POST", ErrMethod)
			status = h.writeError(w, c, err)
		}
	case "/oauth/token":
		endpoint = "token"
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			err = fmt.Errorf("%w: token wants POST", ErrMethod)
			status = h.writeError(w, c, err)
			break
		}
		status, err = h.token(w, r, c, now)
	default:
		endpoint = "unknown"
		err = fmt.Errorf("%w: %s", ErrNoRoute, clip(r.URL.Path, 128))
		status = h.writeError(w, c, err)
	}
	return endpoint, status, err
}

// maybePrune drops expired codes, tokens and limiter entries, at most once
// a minute, from the OAuth request path rather than a goroutine of its own.
func (o *oauthServer) maybePrune(now time.Time) {
	o.mu.Lock()
	if now.Sub(o.lastPrune) < pruneEvery {
		o.mu.Unlock()
		return
	}
	o.lastPrune = now
	var gone [][sha256.Size]byte
	for k, ac := range o.codes {
		if !now.Before(ac.exp) {
			delete(o.codes, k)
			gone = append(gone, k)
		}
	}
	o.mu.Unlock()
	o.dropCodes(gone)
	o.limit.prune(now)
	o.store.prune(now)
}

// client checks the client id and redirect URI of an authorization
// request and returns where codes go. Failing that, the user must see an
// error and never be redirected (RFC 6749 §4.1.2.1).
func (o *oauthServer) client(a *authRequest) (string, error) {
	if subtle.ConstantTimeCompare([]byte(a.ClientID), []byte(o.opts.ClientID)) != 1 {
		return "", fmt.Errorf("%w: unknown client_id", ErrBadClientRedirect)
	}
	switch {
	case a.RedirectURI == "" && o.only != "":
		return o.only, nil
	case a.RedirectURI == "":
		return "", fmt.Errorf("%w: redirect_uri is required", ErrBadClientRedirect)
	case !o.redirects[a.RedirectURI]:
		return "", fmt.Errorf("%w: redirect_uri is not registered", ErrBadClientRedirect)
	}
	return a.RedirectURI, nil
}

// csrfToken binds a login form to the browser's cookie nonce and to the
// authorization request it was shown for, until exp.
func (o *oauthServer) csrfToken(nonce string, a *authRequest, exp int64) string {
	m := hmac.New(sha256.New, o.csrfKey[:])
	es := strconv.FormatInt(exp, 10)
	for _, s := range []string{nonce, a.ResponseType, a.ClientID, a.RedirectURI, a.State, a.Scope, es} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	return es + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (o *oauthServer) checkCSRF(nonce, token string, a *authRequest, now time.Time) error {
	es, _, ok := strings.Cut(token, ".")
	exp, err := strconv.ParseInt(es, 10, 64)
	switch {
	case nonce == "" || len(nonce) > 64:
		return fmt.Errorf("%w: no login cookie (cookies must be enabled)", ErrCSRF)
	case !ok || err != nil:
		return fmt.Errorf("%w: malformed form token", ErrCSRF)
	case now.Unix() > exp:
		return fmt.Errorf("%w: the form is older than %v", ErrCSRF, csrfTTL)
	}
	if !hmac.Equal([]byte(o.csrfToken(nonce, a, exp)), []byte(token)) {
		return fmt.Errorf("%w: form token does not match", ErrCSRF)
	}
	return nil
}

// cookieNonce returns the browser's login nonce, setting a new cookie
// when it has none.
func cookieNonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	v := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: "/oauth/", MaxAge: int(csrfTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	})
	return v
}

// authorizeGet shows the login page for a valid authorization request.
func (h *Handler) authorizeGet(w http.ResponseWriter, r *http.Request, now time.Time) (int, error) {
	o := h.oauth
	f, err := parseForm(r.URL.RawQuery)
	if err != nil {
		return o.page(w, r, http.StatusBadRequest, pageData{Error: "This link is malformed: " + oauthDesc(err.Error())}), err
	}
	a := authRequestOf(f)
	if _, err := o.client(&a); err != nil {
		return o.page(w, r, http.StatusBadRequest, pageData{Error: "This link was not made for this hub (unknown client or redirect address)."}), err
	}
	nonce := cookieNonce(w, r)
	return o.loginForm(w, r, http.StatusOK, &a, nonce, now, "", ""), nil
}

func (o *oauthServer) loginForm(w http.ResponseWriter, r *http.Request, status int, a *authRequest, nonce string, now time.Time, user, msg string) int {
	return o.page(w, r, status, pageData{
		Form: true, Action: r.URL.Path, Req: *a, User: user, Error: msg,
		CSRF: o.csrfToken(nonce, a, now.Add(csrfTTL).Unix()),
	})
}

// authorizePost checks the login and redirects back to the platform with
// a code.
func (h *Handler) authorizePost(w http.ResponseWriter, r *http.Request, c *call, now time.Time) (int, error) {
	o := h.oauth
	if err := h.readBodyMax(c, r, maxForm); err != nil {
		return o.page(w, r, http.StatusBadRequest, pageData{Error: "The login form could not be read."}), err
	}
	f, err := parseForm(string(c.body))
	if err != nil {
		return o.page(w, r, http.StatusBadRequest, pageData{Error: "The login form could not be read: " + oauthDesc(err.Error())}), err
	}
	a := authRequestOf(f)
	redirect, err := o.client(&a)
	if err != nil {
		return o.page(w, r, http.StatusBadRequest, pageData{Error: "This login was not started for this hub."}), err
	}
	ip := o.opts.ClientIP(r)
	if ok, wait := o.limit.allow(ip, now); !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return o.page(w, r, http.StatusTooManyRequests, pageData{Error: fmt.Sprintf("Too many login attempts. Try again in %d seconds.", secs)}),
			fmt.Errorf("%w: from %s", ErrRateLimited, clip(ip, 64))
	}
	user := clip(f["username"], 128)
	nonce := cookieNonce(w, r)
	var cookie string
	if ck, err := r.Cookie(csrfCookie); err == nil {
		cookie = ck.Value
	}
	if err := o.checkCSRF(cookie, f["csrf_token"], &a, now); err != nil {
		return o.loginForm(w, r, http.StatusForbidden, &a, nonce, now, user, "This login form expired. Please log in again."), err
	}
	if a.ResponseType != "code" {
		code := "unsupported_response_type"
		if a.ResponseType == "" {
			code = "invalid_request"
		}
		q := url.Values{"error": {code}}
		return redirectWith(w, r, redirect, q, a.State), fmt.Errorf("%w: response_type %q", ErrInvalidRequest, clip(a.ResponseType, 32))
	}
	users := h.tokens.users.Load()
	refund, ok, wait := o.limit.reserveAccount(f["username"], users.has(f["username"]), now)
	if !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return o.loginForm(w, r, http.StatusTooManyRequests, &a, nonce, now, user, fmt.Sprintf("Too many failed logins for this user. Try again in %d seconds.", secs)),
			fmt.Errorf("%w: for user %q", ErrRateLimited, user)
	}
	if !o.login(users, f["username"], f["password"]) {
		return o.loginForm(w, r, http.StatusUnauthorized, &a, nonce, now, user, "Wrong user id or password."),
			fmt.Errorf("%w: user %q", ErrLogin, user)
	}
	refund()
	code, err := o.newCode(&authCode{user: f["username"], clientID: a.ClientID, redirectURI: redirect,
		redirectGiven: a.RedirectURI != "", scope: a.Scope, exp: now.Add(o.opts.CodeTTL)}, now)
	if err != nil {
		return o.page(w, r, http.StatusServiceUnavailable, pageData{Error: "Too many logins are in progress. Try again in a minute."}), err
	}
	c.user = f["username"]
	c.result = "code issued"
	return redirectWith(w, r, redirect, url.Values{"code": {code}}, a.State), nil
}

// login checks a user id and password. Unknown users cost a bcrypt
// comparison too, so timing does not tell which user ids exist.
func (o *oauthServer) login(users *userSet, user, password string) bool {
	hash, ok := users.password[user]
	if hash == nil {
		hash, ok = users.dummy(), false
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	return ok && err == nil
}

// newCode stores a code, in memory and in the KV, and returns it.
func (o *oauthServer) newCode(ac *authCode, now time.Time) (string, error) {
	var g [16]byte
	_, _ = rand.Read(g[:])
	ac.grant = hex.EncodeToString(g[:])
	code := newSecret()
	d := sha256.Sum256([]byte(code))
	if err := o.persistCode(d, ac); err != nil {
		return "", err
	}
	o.mu.Lock()
	var gone [][sha256.Size]byte
	if len(o.codes) >= maxCodes {
		for k, c := range o.codes {
			if !now.Before(c.exp) {
				delete(o.codes, k)
				gone = append(gone, k)
			}
		}
	}
	full := len(o.codes) >= maxCodes
	if !full {
		o.codes[d] = ac
	}
	o.mu.Unlock()
	if full {
		gone = append(gone, d)
	}
	o.dropCodes(gone)
	if full {
		return "", errors.New("yandex: oauth: too many pending authorization codes")
	}
	return code, nil
}

func redirectWith(w http.ResponseWriter, r *http.Request, to string, q url.Values, state string) int {
	u, err := url.Parse(to) // checked in newOAuth
	if err != nil {
		http.Error(w, "bad redirect", http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	if state != "" {
		all.Set("state", state)
	}
	u.RawQuery = all.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
	return http.StatusFound
}

// tokenResponse is the successful token answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// oauthErrors maps errors to RFC 6749 §5.2 codes and statuses.
var oauthErrors = []struct {
	err    error
	status int
	code   string
}{
	{ErrInvalidRequest, http.StatusBadRequest, "invalid_request"},
	{ErrInvalidClient, http.StatusUnauthorized, "invalid_client"},
	{ErrInvalidGrant, http.StatusBadRequest, "invalid_grant"},
	{ErrUnsupportedGrant, http.StatusBadRequest, "unsupported_grant_type"},
}

// token serves the token endpoint.
func (h *Handler) token(w http.ResponseWriter, r *http.Request, c *call, now time.Time) (int, error) {
	o := h.oauth
	var basic bool
	p, err := func() (pair, error) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
				return pair{}, fmt.Errorf("%w: content type %q, want application/x-www-form-urlencoded", ErrInvalidRequest, clip(ct, 64))
			}
		}
		if err := h.readBodyMax(c, r, maxForm); err != nil {
			return pair{}, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
		req, err := decodeTokenForm(c.body)
		if err != nil {
			return pair{}, err
		}
		if basic, err = o.authClient(r, &req); err != nil {
			return pair{}, err
		}
		switch req.GrantType {
		case grantTypeCode:
			return h.exchangeCode(&req, c, now)
		case grantTypeRenew:
			if req.RefreshToken == "" {
				return pair{}, fmt.Errorf("%w: refresh_token is missing", ErrInvalidRequest)
			}
			p, old, err := o.store.rotate(req.RefreshToken, now, o.opts.AccessTTL, o.opts.RefreshTTL)
			if err == nil && !h.tokens.users.Load().has(old.User) {
				_ = o.store.revokeGrant(old.Grant, now)
				return pair{}, fmt.Errorf("%w: the user of this token is no longer configured", ErrInvalidGrant)
			}
			c.user = old.User
			return p, err
		case "":
			return pair{}, fmt.Errorf("%w: grant_type is missing", ErrInvalidRequest)
		default:
			return pair{}, fmt.Errorf("%w: %q", ErrUnsupportedGrant, clip(req.GrantType, 64))
		}
	}()
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	if err != nil {
		status, code := http.StatusInternalServerError, "server_error"
		for _, m := range oauthErrors {
			if errors.Is(err, m.err) {
				status, code = m.status, m.code
				break
			}
		}
		desc := oauthDesc(err.Error())
		if status == http.StatusInternalServerError {
			h.log.Error("oauth token endpoint failed", "request_id", c.rid, "err", err)
			desc = "internal error"
		}
		if status == http.StatusUnauthorized {
			if basic {
				hd.Set("WWW-Authenticate", `Basic realm="hubd"`)
			} else {
				hd.Set("WWW-Authenticate", `Bearer realm="hubd"`)
			}
		}
		b, _ := json.Marshal(struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}{code, desc})
		writeJSON(w, status, append(b, '\n'))
		return status, err
	}
	b, _ := json.Marshal(tokenResponse{AccessToken: p.access, TokenType: "bearer",
		ExpiresIn: int64(p.expiresIn / time.Second), RefreshToken: p.refresh})
	c.result = "tokens issued"
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return http.StatusOK, nil
}

// authClient authenticates the client by HTTP Basic or by form fields
// (RFC 6749 §2.3.1), never both. It reports whether Basic was used.
func (o *oauthServer) authClient(r *http.Request, req *tokenRequest) (bool, error) {
	id, secret := req.ClientID, req.ClientSecret
	basic := false
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) < 6 || !strings.EqualFold(a[:6], "basic ") {
			return false, fmt.Errorf("%w: unsupported Authorization scheme", ErrInvalidClient)
		}
		basic = true
		u, p, ok := r.BasicAuth()
		if !ok {
			return true, fmt.Errorf("%w: malformed Basic credentials", ErrInvalidClient)
		}
		if req.ClientSecret != "" {
			return true, fmt.Errorf("%w: client authenticated twice (Basic and form)", ErrInvalidRequest)
		}
		// Basic credentials are form-encoded first (§2.3.1).
		var err1, err2 error
		u, err1 = url.QueryUnescape(u)
		p, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return true, fmt.Errorf("%w: malformed Basic credentials", ErrInvalidClient)
		}
		if req.ClientID != "" && req.ClientID != u {
			return true, fmt.Errorf("%w: client_id differs from the Basic user", ErrInvalidClient)
		}
		id, secret = u, p
	}
	if id == "" {
		return basic, fmt.Errorf("%w: no client credentials", ErrInvalidClient)
	}
	sum := sha256.Sum256([]byte(secret))
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(o.opts.ClientID))
	secOK := subtle.ConstantTimeCompare(sum[:], o.secret[:])
	if idOK&secOK != 1 {
		return basic, fmt.Errorf("%w: unknown client or wrong secret", ErrInvalidClient)
	}
	req.ClientID = id
	return basic, nil
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3). A code
// works once; a second use revokes what the first one issued (§4.1.2).
func (h *Handler) exchangeCode(req *tokenRequest, c *call, now time.Time) (pair, error) {
	o := h.oauth
	if req.Code == "" {
		return pair{}, fmt.Errorf("%w: code is missing", ErrInvalidRequest)
	}
	d := sha256.Sum256([]byte(req.Code))
	o.mu.Lock()
	ac := o.codes[d]
	var err error
	switch {
	case ac == nil:
		err = fmt.Errorf("%w: unknown authorization code", ErrInvalidGrant)
	case !now.Before(ac.exp):
		delete(o.codes, d)
		defer o.dropCodes([][sha256.Size]byte{d})
		err = fmt.Errorf("%w: authorization code expired", ErrInvalidGrant)
	case ac.used:
		err = fmt.Errorf("%w: authorization code was already used", ErrInvalidGrant)
	case ac.clientID != req.ClientID:
		err = fmt.Errorf("%w: authorization code was issued to another client", ErrInvalidGrant)
	case ac.redirectGiven && req.RedirectURI != ac.redirectURI,
		!ac.redirectGiven && req.RedirectURI != "" && req.RedirectURI != ac.redirectURI:
		err = fmt.Errorf("%w: redirect_uri differs from the authorization request", ErrInvalidGrant)
	}
	var reused *authCode
	if ac != nil && err == nil {
		ac.used = true // kept until it expires, to notice a replay
	} else if ac != nil && ac.used && now.Before(ac.exp) {
		reused = ac
	}
	var acCopy authCode
	if ac != nil {
		acCopy = *ac
	}
	o.mu.Unlock()
	if err == nil {
		// Used in the store before any token exists: a restart can not
		// make the code work twice.
		if perr := o.persistCode(d, &acCopy); perr != nil {
			return pair{}, perr
		}
	}
	if reused != nil {
		if rerr := o.store.revokeGrant(reused.grant, now); rerr != nil {
			h.log.Warn("revoking tokens of a replayed code", "err", rerr)
		}
		h.log.Warn("authorization code replayed: its tokens are revoked", "user", reused.user, "request_id", c.rid)
	}
	if err != nil {
		return pair{}, err
	}
	if !h.tokens.users.Load().has(acCopy.user) {
		return pair{}, fmt.Errorf("%w: the user is no longer configured", ErrInvalidGrant)
	}
	c.user = acCopy.user
	return o.store.issue(acCopy.user, acCopy.grant, acCopy.scope, now, o.opts.AccessTTL, o.opts.RefreshTTL)
}
