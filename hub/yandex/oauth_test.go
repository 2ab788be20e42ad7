package yandex

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	testClientID = "yandex-client"
	testSecret   = "client-secret"
	testRedirect = "https://social.yandex.net/broker/redirect"
)

// passwordHashes are bcrypt hashes at the cheapest cost, made once.
var passwordHashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for user, pw := range map[string]string{"alice": "alice-pass", "bob": "bob-pass"} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		out[user] = string(h)
	}
	return out
})

func oauthUsers() []User {
	u := testUsers()
	for i := range u {
		u[i].PasswordHash = passwordHashes()[u[i].ID]
	}
	return u
}

func oauthOptions(kv KV) *OAuthOptions {
	return &OAuthOptions{
		ClientID:         testClientID,
		ClientSecretHash: HashToken(testSecret),
		RedirectURIs:     []string{testRedirect, "https://example.org/cb?x=1"},
		Tokens:           kv,
		LoginBurst:       1000, // every test logs in from 127.0.0.1
	}
}

// newOAuthFixture serves the API with OAuth on; mod may change the options.
func newOAuthFixture(t *testing.T, kv KV, mod func(*OAuthOptions)) *fixture {
	t.Helper()
	o := oauthOptions(kv)
	if mod != nil {
		mod(o)
	}
	return newFixture(t, Options{Users: oauthUsers(), OAuth: o})
}

// browser is a client with cookies that does not follow redirects, as the
// platform's web view would stop at the redirect to social.yandex.net.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func authorizeQuery(state string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {testRedirect},
		"state": {state}, "scope": {"smart-home"}}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// openLogin GETs the login page and returns the form's hidden fields.
func openLogin(t *testing.T, f *fixture, c *http.Client, q url.Values) url.Values {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/oauth/authorize?"+q.Encode(), nil)
	r := send(t, c, req)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET authorize: %d %s\n%s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if !bytes.Contains(r.body, []byte(`name="viewport"`)) || bytes.Contains(r.body, []byte("http://")) || bytes.Contains(r.body, []byte("<script")) {
		t.Errorf("login page is not a self-contained phone page:\n%s", r.body)
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllSubmatch(r.body, -1) {
		form.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	if form.Get("csrf_token") == "" || form.Get("state") != q.Get("state") {
		t.Fatalf("login form lacks its fields: %v", form)
	}
	return form
}

func postLogin(t *testing.T, f *fixture, c *http.Client, form url.Values, user, pw string) reply {
	t.Helper()
	return send(t, c, loginRequest(f, form, user, pw))
}

// loginRequest is the POST of the login form with user and pw filled in.
func loginRequest(f *fixture, form url.Values, user, pw string) *http.Request {
	form = cloneValues(form)
	form.Set("username", user)
	form.Set("password", pw)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/oauth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// login runs the browser part of the flow and returns the code.
func login(t *testing.T, f *fixture, user, pw string) string {
	t.Helper()
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("st-"+user))
	r := postLogin(t, f, c, form, user, pw)
	if r.status != http.StatusFound {
		t.Fatalf("login: status %d, want 302\n%s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	if loc.Query().Get("state") != "st-"+user || loc.Query().Get("code") == "" {
		t.Fatalf("redirect lacks code or state: %s", loc)
	}
	return loc.Query().Get("code")
}

// tokenCall posts a form to the token endpoint; basic selects HTTP Basic
// client authentication, otherwise the credentials go in the form.
func tokenCall(t *testing.T, f *fixture, form url.Values, basic bool, secret string) reply {
	t.Helper()
	form = cloneValues(form)
	if !basic {
		form.Set("client_id", testClientID)
		form.Set("client_secret", secret)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(testClientID), url.QueryEscape(secret))
	}
	return send(t, f.srv.Client(), req)
}

type tokens_ struct {
	Access, Refresh string
	ExpiresIn       int64
}

// mustTokens checks a successful token response against the platform's
// limits and returns its tokens.
func mustTokens(t *testing.T, r reply) tokens_ {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token: status %d: %s", r.status, r.body)
	}
	if len(r.body) > 5000 {
		t.Errorf("token response is %d bytes, over 5000", len(r.body))
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response is cacheable: %v", r.header)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("token response: %v: %s", err, r.body)
	}
	var out tokens_
	var typ string
	for k, dst := range map[string]any{"access_token": &out.Access, "refresh_token": &out.Refresh, "token_type": &typ, "expires_in": &out.ExpiresIn} {
		if err := json.Unmarshal(raw[k], dst); err != nil {
			t.Fatalf("token response field %s = %s: %v", k, raw[k], err) // an int64 refuses 3600.0
		}
	}
	if typ != "bearer" || out.ExpiresIn <= 0 || out.Access == "" || out.Refresh == "" || out.Access == out.Refresh {
		t.Errorf("token response %s", r.body)
	}
	if len(out.Access) > 2048 || len(out.Refresh) > 2048 {
		t.Errorf("tokens over 2048 characters")
	}
	return out
}

// oauthErr checks an RFC 6749 error response.
func oauthErr(t *testing.T, r reply, status int, code string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, r.body)
	}
	if r.status != status || e.Error != code {
		t.Errorf("got %d %q (%s), want %d %q", r.status, e.Error, e.Desc, status, code)
	}
	for i := 0; i < len(e.Desc); i++ {
		if !descOK(e.Desc[i]) {
			t.Errorf("error_description has %q", e.Desc[i])
		}
	}
}

func exchange(t *testing.T, f *fixture, code string) reply {
	t.Helper()
	return tokenCall(t, f, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}, true, testSecret)
}

func refresh(t *testing.T, f *fixture, rt string) reply {
	t.Helper()
	return tokenCall(t, f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, false, testSecret)
}

func devicesUser(t *testing.T, f *fixture, token string) (int, string) {
	t.Helper()
	code, body := f.do(t, http.MethodGet, "/v1.0/user/devices", token, "")
	var d struct {
		Payload struct {
			UserID string `json:"user_id"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(body, &d)
	return code, d.Payload.UserID
}

func TestOAuth_FullFlow_LinksRefreshesAndUnlinks(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, nil)
	tk := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	if tk.ExpiresIn != int64((24 * time.Hour).Seconds()) {
		t.Errorf("expires_in = %d, want the default 24 h", tk.ExpiresIn)
	}
	if code, user := devicesUser(t, f, tk.Access); code != http.StatusOK || user != "alice" {
		t.Fatalf("devices with the issued token: %d user %q", code, user)
	}
	if code, _ := devicesUser(t, f, tk.Refresh); code != http.StatusUnauthorized {
		t.Errorf("a refresh token works as a bearer token: %d", code)
	}

	tk2 := mustTokens(t, refresh(t, f, tk.Refresh))
	if tk2.Refresh == tk.Refresh || tk2.Access == tk.Access {
		t.Fatal("refresh did not rotate the tokens")
	}
	// A retry within the reuse window gets the same answer.
	if again := mustTokens(t, refresh(t, f, tk.Refresh)); again != tk2 {
		t.Fatalf("a retry within the reuse window got other tokens")
	}
	if code, user := devicesUser(t, f, tk2.Access); code != http.StatusOK || user != "alice" {
		t.Fatalf("devices with the refreshed token: %d %q", code, user)
	}

	// The stored form of a token is its hash, never the token.
	all, _ := kv.All()
	for k, v := range all {
		for _, tok := range []string{tk.Access, tk2.Access, tk2.Refresh} {
			if strings.Contains(k+v, tok) {
				t.Fatalf("KV holds a token in clear: %s=%s", k, v)
			}
		}
	}

	if code, body := f.do(t, http.MethodPost, "/v1.0/user/unlink", tk2.Access, ""); code != http.StatusOK {
		t.Fatalf("unlink: %d %s", code, body)
	}
	for _, tok := range []string{tk.Access, tk2.Access} {
		if code, _ := devicesUser(t, f, tok); code != http.StatusUnauthorized {
			t.Errorf("after unlink an access token still works: %d", code)
		}
	}
	oauthErr(t, refresh(t, f, tk2.Refresh), http.StatusBadRequest, "invalid_grant")
	if n := tokenEntries(kv); n != 0 {
		t.Errorf("unlink left %d tokens in the KV", n)
	}
	// Configured tokens are untouched.
	if code, _ := devicesUser(t, f, tokenAlice); code != http.StatusOK {
		t.Errorf("configured token after unlink: %d", code)
	}
}

func TestOAuth_Code_SecondUseFailsAndRevokesTheFirst(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	code := login(t, f, "bob", "bob-pass")
	tk := mustTokens(t, exchange(t, f, code))
	oauthErr(t, exchange(t, f, code), http.StatusBadRequest, "invalid_grant")
	if c, _ := devicesUser(t, f, tk.Access); c != http.StatusUnauthorized {
		t.Errorf("tokens of a replayed code still work: %d", c)
	}
	oauthErr(t, refresh(t, f, tk.Refresh), http.StatusBadRequest, "invalid_grant")
}

func TestOAuth_Code_ExpiresAfterCodeTTL(t *testing.T) {
	f := newOAuthFixture(t, nil, func(o *OAuthOptions) { o.CodeTTL = 30 * time.Second })
	early := login(t, f, "alice", "alice-pass")
	late := login(t, f, "alice", "alice-pass")
	f.clock.Add(29 * time.Second)
	mustTokens(t, exchange(t, f, early))
	f.clock.Add(time.Second)
	oauthErr(t, exchange(t, f, late), http.StatusBadRequest, "invalid_grant")
}

func TestOAuth_Token_Errors(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	good := func(t *testing.T) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {login(t, f, "alice", "alice-pass")}, "redirect_uri": {testRedirect}}
	}
	tests := []struct {
		name   string
		form   func(*testing.T) url.Values
		basic  bool
		secret string
		status int
		code   string
	}{
		{"wrong secret, basic", good, true, "nope", 401, "invalid_client"},
		{"wrong secret, form", good, false, "nope", 401, "invalid_client"},
		{"no client auth", func(t *testing.T) url.Values { v := good(t); v.Del("client_id"); return v }, true, "", 401, "invalid_client"},
		{"other registered redirect_uri", func(t *testing.T) url.Values {
			v := good(t)
			v.Set("redirect_uri", "https://example.org/cb?x=1")
			return v
		}, true, testSecret, 400, "invalid_grant"},
		{"unregistered redirect_uri", func(t *testing.T) url.Values {
			v := good(t)
			v.Set("redirect_uri", "https://evil.example/cb")
			return v
		}, false, testSecret, 400, "invalid_grant"},
		{"missing redirect_uri", func(t *testing.T) url.Values { v := good(t); v.Del("redirect_uri"); return v }, false, testSecret, 400, "invalid_grant"},
		{"unknown code", func(t *testing.T) url.Values { v := good(t); v.Set("code", "made-up"); return v }, true, testSecret, 400, "invalid_grant"},
		{"missing code", func(t *testing.T) url.Values { v := good(t); v.Del("code"); return v }, true, testSecret, 400, "invalid_request"},
		{"password grant", func(t *testing.T) url.Values { return url.Values{"grant_type": {"password"}} }, true, testSecret, 400, "unsupported_grant_type"},
		{"no grant type", func(t *testing.T) url.Values { return url.Values{"code": {"x"}} }, true, testSecret, 400, "invalid_request"},
		{"unknown refresh token", func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
		}, true, testSecret, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tokenCall(t, f, tt.form(t), tt.basic, tt.secret)
			oauthErr(t, r, tt.status, tt.code)
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	raw := func(t *testing.T, ct, body string, hdr ...string) reply {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return send(t, f.srv.Client(), req)
	}
	form := "application/x-www-form-urlencoded"
	cred := "client_id=" + testClientID + "&client_secret=" + testSecret
	basic := "Basic " + base64Basic(testClientID, testSecret)
	rawTests := []struct {
		name, ct, body string
		hdr            []string
		status         int
		code           string
	}{
		{"json body", "application/json", `{"grant_type":"authorization_code"}`, nil, 400, "invalid_request"},
		{"repeated parameter", form, "grant_type=refresh_token&grant_type=refresh_token&refresh_token=a&" + cred, nil, 400, "invalid_request"},
		{"bad escape", form, "grant_type=%zz&" + cred, nil, 400, "invalid_request"},
		{"semicolons", form, "grant_type=refresh_token;refresh_token=a&" + cred, nil, 400, "invalid_request"},
		{"oversize", form, "refresh_token=" + strings.Repeat("a", 9000) + "&" + cred, nil, 400, "invalid_request"},
		{"long value", form, "grant_type=refresh_token&refresh_token=" + strings.Repeat("a", 3000) + "&" + cred, nil, 400, "invalid_request"},
		{"basic and form secret", form, "grant_type=refresh_token&refresh_token=a&" + cred, []string{"Authorization", basic}, 400, "invalid_request"},
		{"garbage basic", form, "grant_type=refresh_token&refresh_token=a", []string{"Authorization", "Basic !!!"}, 401, "invalid_client"},
		{"bearer instead of basic", form, "grant_type=refresh_token&refresh_token=a", []string{"Authorization", "Bearer " + tokenAlice}, 401, "invalid_client"},
		{"not utf-8", form, "grant_type=refresh_token&refresh_token=%ff%fe&" + cred, nil, 400, "invalid_request"},
	}
	for _, tt := range rawTests {
		t.Run(tt.name, func(t *testing.T) {
			oauthErr(t, raw(t, tt.ct, tt.body, tt.hdr...), tt.status, tt.code)
		})
	}
	if r := raw(t, form, "grant_type=refresh_token&refresh_token=a", "Authorization", basic); r.status != 400 || !strings.Contains(string(r.body), "invalid_grant") {
		t.Errorf("Basic alone is accepted as client auth: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/oauth/token", nil)
	if r := send(t, f.srv.Client(), req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET token: %d", r.status)
	}
}

func base64Basic(u, p string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestOAuth_Authorize_WrongPasswordIsRefusedAndRateLimited(t *testing.T) {
	f := newOAuthFixture(t, nil, func(o *OAuthOptions) { o.LoginBurst = 3; o.LoginEvery = time.Minute })
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s1"))
	for i, pw := range []string{"wrong", "alice-pass-but-longer"} {
		r := postLogin(t, f, c, form, "alice", pw)
		if r.status != http.StatusUnauthorized || !bytes.Contains(r.body, []byte("Wrong user id or password")) || r.header.Get("Location") != "" {
			t.Fatalf("attempt %d: %d %s", i, r.status, r.body)
		}
	}
	if r := postLogin(t, f, c, form, "mallory", "x"); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", r.status)
	}
	// The fourth attempt within the minute is refused even with the right password.
	r := postLogin(t, f, c, form, "alice", "alice-pass")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v %s", r.status, r.header, r.body)
	}
	f.clock.Add(time.Minute)
	if r := postLogin(t, f, c, form, "alice", "alice-pass"); r.status != http.StatusFound {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}

func TestOAuth_Authorize_RefusesForgedOrStaleForms(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s1"))

	other := browser(t) // another browser: has no cookie for this form
	if r := postLogin(t, f, other, form, "alice", "alice-pass"); r.status != http.StatusForbidden {
		t.Errorf("form posted from another browser: %d", r.status)
	}
	swapped := cloneValues(form)
	swapped.Set("state", "attacker-state")
	if r := postLogin(t, f, c, swapped, "alice", "alice-pass"); r.status != http.StatusForbidden {
		t.Errorf("form with a changed state: %d", r.status)
	}
	noToken := cloneValues(form)
	noToken.Del("csrf_token")
	if r := postLogin(t, f, c, noToken, "alice", "alice-pass"); r.status != http.StatusForbidden {
		t.Errorf("form without token: %d", r.status)
	}
	f.clock.Add(16 * time.Minute)
	r := postLogin(t, f, c, form, "alice", "alice-pass")
	if r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte("csrf_token")) {
		t.Errorf("stale form: %d (want 403 with a fresh form)", r.status)
	}
}

func TestOAuth_Authorize_NeverRedirectsToUnknownPlaces(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	tests := []struct {
		name string
		q    url.Values
	}{
		{"unregistered redirect", url.Values{"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {"https://evil.example/cb"}, "state": {"s"}}},
		{"prefix of a registered one", url.Values{"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {testRedirect + "/../x"}}},
		{"unknown client", url.Values{"response_type": {"code"}, "client_id": {"other"}, "redirect_uri": {testRedirect}}},
		{"no redirect with two registered", url.Values{"response_type": {"code"}, "client_id": {testClientID}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/oauth/authorize?"+tt.q.Encode(), nil)
			r := send(t, c, req)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || bytes.Contains(r.body, []byte("<form")) {
				t.Errorf("GET: %d location %q", r.status, r.header.Get("Location"))
			}
			form := cloneValues(tt.q)
			form.Set("csrf_token", "1.x")
			r = postLogin(t, f, c, form, "alice", "alice-pass")
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Errorf("POST: %d location %q", r.status, r.header.Get("Location"))
			}
		})
	}
	for _, raw := range []string{"response_type=code&client_id=a&client_id=b", "%zz", "state=" + strings.Repeat("s", 3000)} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/oauth/authorize?"+raw, nil)
		if r := send(t, browser(t), req); r.status != http.StatusBadRequest {
			t.Errorf("query %.40q: %d", raw, r.status)
		}
	}

	// A valid client but a response type we do not do: back to the client
	// with an error, as RFC 6749 §4.1.2.1 says.
	c := browser(t)
	q := authorizeQuery("s9")
	q.Set("response_type", "token")
	form := openLogin(t, f, c, q)
	r := postLogin(t, f, c, form, "alice", "alice-pass")
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("error") != "unsupported_response_type" || loc.Query().Get("state") != "s9" || loc.Query().Has("code") {
		t.Errorf("response_type=token: %d %s", r.status, loc)
	}
}

func TestOAuth_RedirectKeepsTheRegisteredQuery(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	c := browser(t)
	q := authorizeQuery("s")
	q.Set("redirect_uri", "https://example.org/cb?x=1")
	r := postLogin(t, f, c, openLogin(t, f, c, q), "bob", "bob-pass")
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Host != "example.org" || loc.Query().Get("x") != "1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %d %s", r.status, loc)
	}
	// That code is bound to that redirect URI.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {testRedirect}}
	oauthErr(t, tokenCall(t, f, form, true, testSecret), http.StatusBadRequest, "invalid_grant")
}

func TestOAuth_Tokens_SurviveANewHandler(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, nil)
	tk := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	api2, err := New(f.hub, Options{Users: oauthUsers(), OAuth: oauthOptions(kv)})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = api2
	if code, user := devicesUser(t, f, tk.Access); code != http.StatusOK || user != "alice" {
		t.Fatalf("after restart: %d %q", code, user)
	}
	mustTokens(t, refresh(t, f, tk.Refresh))
	// Without the KV the tokens are gone, as documented.
	api3, err := New(f.hub, Options{Users: oauthUsers(), OAuth: oauthOptions(nil)})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = api3
	if code, _ := devicesUser(t, f, tk.Access); code != http.StatusUnauthorized {
		t.Errorf("memory-only handler accepts a token it never issued: %d", code)
	}
}

func TestOAuth_Tokens_ExpireAndArePruned(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, func(o *OAuthOptions) { o.AccessTTL = time.Hour; o.RefreshTTL = 2 * time.Hour })
	tk := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	if tk.ExpiresIn != 3600 {
		t.Errorf("expires_in %d", tk.ExpiresIn)
	}
	f.clock.Add(time.Hour)
	if code, _ := devicesUser(t, f, tk.Access); code != http.StatusUnauthorized {
		t.Errorf("expired access token: %d", code)
	}
	tk2 := mustTokens(t, refresh(t, f, tk.Refresh))
	f.clock.Add(2 * time.Hour)
	oauthErr(t, refresh(t, f, tk2.Refresh), http.StatusBadRequest, "invalid_grant")
	// A restart drops what expired.
	if _, err := New(f.hub, Options{Users: oauthUsers(), OAuth: oauthOptions(kv)}); err != nil {
		t.Fatal(err)
	}
	if all, _ := kv.All(); len(all) != 0 {
		t.Errorf("expired entries survive: %v", all)
	}
}

func TestOAuth_Tokens_AreBoundedPerUser(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, func(o *OAuthOptions) { o.MaxTokensPerUser = 6; o.LoginBurst = 100 })
	var all []tokens_
	for range 5 {
		all = append(all, mustTokens(t, exchange(t, f, login(t, f, "bob", "bob-pass"))))
	}
	if n := f.api.oauth.store.count("bob"); n != 6 {
		t.Errorf("bob holds %d tokens, want the bound 6", n)
	}
	if n := tokenEntries(kv); n != 6 {
		t.Errorf("KV holds %d tokens, want 6", n)
	}
	if code, _ := devicesUser(t, f, all[0].Access); code != http.StatusUnauthorized {
		t.Errorf("the oldest token survived the bound: %d", code)
	}
	if code, _ := devicesUser(t, f, all[4].Access); code != http.StatusOK {
		t.Errorf("the newest token was evicted: %d", code)
	}
	mustTokens(t, refresh(t, f, all[4].Refresh))
}

func TestOAuth_Disabled_RoutesAre404(t *testing.T) {
	f := newFixture(t, Options{})
	for _, p := range []string{"/oauth/authorize", "/oauth/token"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if code, _ := f.do(t, m, p, "", ""); code != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", m, p, code)
			}
		}
	}
}

func TestOAuth_Unknown_OAuthPathIs404(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	if code, _ := f.do(t, http.MethodGet, "/oauth/other", "", ""); code != http.StatusNotFound {
		t.Errorf("status %d", code)
	}
}

func TestNew_RejectsBadOAuthOptions(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*OAuthOptions)
	}{
		{"no client", func(o *OAuthOptions) { o.ClientID = "" }},
		{"plain secret", func(o *OAuthOptions) { o.ClientSecretHash = testSecret }},
		{"no redirect", func(o *OAuthOptions) { o.RedirectURIs = nil }},
		{"relative redirect", func(o *OAuthOptions) { o.RedirectURIs = []string{"/cb"} }},
		{"redirect with fragment", func(o *OAuthOptions) { o.RedirectURIs = []string{"https://a.example/cb#x"} }},
		{"javascript redirect", func(o *OAuthOptions) { o.RedirectURIs = []string{"javascript://x/%0aalert(1)"} }},
	}
	f := newFixture(t, Options{})
	for _, tt := range tests {
		o := oauthOptions(nil)
		tt.mod(o)
		if _, err := New(f.hub, Options{OAuth: o}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", tt.name, err)
		}
	}
	if _, err := New(f.hub, Options{Users: []User{{ID: "u", PasswordHash: "plain"}}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("plain password: %v", err)
	}
}

func TestHandler_SetUsers_SwapsAccountsUnderLoad(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	tk := mustTokens(t, exchange(t, f, login(t, f, "bob", "bob-pass")))
	if err := f.api.SetUsers([]User{{ID: "x", TokenHashes: []string{"bad"}}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("bad users accepted: %v", err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusOK {
					t.Errorf("alice refused during reload: %d", code)
					return
				}
			}
		}()
	}
	for i := range 50 {
		users := oauthUsers()
		if i%2 == 1 {
			users = users[:1] // alice only
		}
		if err := f.api.SetUsers(users); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := f.api.SetUsers(oauthUsers()[:1]); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tokenBob, tk.Access} {
		if code, _ := devicesUser(t, f, tok); code != http.StatusUnauthorized {
			t.Errorf("a removed user's token still works: %d", code)
		}
	}
	oauthErr(t, refresh(t, f, tk.Refresh), http.StatusBadRequest, "invalid_grant")
	// Logging in as the removed user fails too.
	c := browser(t)
	if r := postLogin(t, f, c, openLogin(t, f, c, authorizeQuery("s")), "bob", "bob-pass"); r.status != http.StatusUnauthorized {
		t.Errorf("removed user logs in: %d", r.status)
	}
}

type failingTokensKV struct{ mapKV }

// Put fails for tokens only; codes are stored.
func (k *failingTokensKV) Put(key, value string) error {
	if strings.HasPrefix(key, issuedPrefix) {
		return fmt.Errorf("disk full")
	}
	return k.mapKV.Put(key, value)
}

// entries is how many keys of kv start with prefix.
func entries(kv KV, prefix string) int {
	all, _ := kv.All()
	n := 0
	for k := range all {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// tokenEntries is how many issued tokens kv holds (used codes stay until
// they expire).
func tokenEntries(kv KV) int { return entries(kv, issuedPrefix) }

func TestOAuth_Token_PersistFailureIsServerError(t *testing.T) {
	f := newOAuthFixture(t, &failingTokensKV{}, nil)
	r := exchange(t, f, login(t, f, "alice", "alice-pass"))
	oauthErr(t, r, http.StatusInternalServerError, "server_error")
	if bytes.Contains(r.body, []byte("disk")) {
		t.Errorf("internal error leaks: %s", r.body)
	}
	if f.api.oauth.store.count("") != 0 {
		t.Error("unpersisted tokens were kept")
	}
}

func TestOAuth_Refresh_RacingUnlinkDoesNotRevive(t *testing.T) {
	f := newOAuthFixture(t, nil, nil)
	tk := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	// Claim-then-issue is what rotate does; an unlink between the two must win.
	st := f.api.oauth.store
	it, ok := st.access(sha256Sum(tk.Access), f.clock.Now())
	if !ok {
		t.Fatal("issued access token not found")
	}
	if err := st.revokeGrant(it.Grant, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.issue("alice", it.Grant, "", f.clock.Now(), time.Hour, time.Hour); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("issue for an unlinked grant: %v", err)
	}
	if n := st.count("alice"); n != 0 {
		t.Errorf("%d tokens left after unlink", n)
	}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// A refresh that races an unlink (the grant is revoked while rotate holds
// the old refresh token, so revokeGrant does not see it) must not put the
// old token back: once the memory of revoked grants is pruned it would
// refresh an unlinked account again.
func TestIssued_RotateRacingUnlink_LeavesNoTokenBehind(t *testing.T) {
	kv := &mapKV{}
	now := time.Now()
	s, err := newIssued(kv, 8, slog.New(slog.DiscardHandler), now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.issue("owner", "grant-1", "home", now, time.Hour, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(p.refresh))
	// revokeGrant ran inside rotate's window: it recorded the grant as
	// gone but could not drop the refresh token rotate had taken out.
	s.mu.Lock()
	s.gone["grant-1"] = now
	s.mu.Unlock()
	if _, _, err := s.rotate(p.refresh, now, time.Hour, 24*time.Hour); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("rotate for an unlinked grant: %v, want ErrInvalidGrant", err)
	}
	s.mu.Lock()
	_, inMemory := s.toks[d]
	clear(s.gone) // the memory of revoked grants is pruned after a while
	s.mu.Unlock()
	if _, stored, _ := kv.Get(issuedKey(d)); inMemory || stored {
		t.Errorf("the old refresh token is still held: in memory %v, stored %v", inMemory, stored)
	}
	if _, _, err := s.rotate(p.refresh, now.Add(11*time.Minute), time.Hour, 24*time.Hour); err == nil {
		t.Error("the unlinked account's old refresh token refreshed again")
	}
}
