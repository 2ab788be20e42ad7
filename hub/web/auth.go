package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"

	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
)

const (
	cookieName = "hubd_session"
	csrfHeader = "X-CSRF-Token"
	// maxBody caps every request body the page accepts; controls and logins
	// are a few dozen bytes.
	maxBody = 4 << 10
	// maxSessions bounds memory if something signs in in a loop.
	maxSessions = 1024
	// maxPassword is bcrypt's own input limit.
	maxPassword = 72
)

// HashPassword returns a bcrypt hash of password for Options.Users (and the
// config file's users section).
func HashPassword(password string) (string, error) {
	if password == "" || len(password) > maxPassword {
		return "", fmt.Errorf("%w: password must be 1..%d bytes", ErrInvalidOptions, maxPassword)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("web: hash password: %w", err)
	}
	return string(b), nil
}

type session struct {
	user    string
	role    string
	csrf    string
	expires time.Time
}

// auth holds users and sessions; the login rate limiter is loginLimiter.
type auth struct {
	users map[string][]byte
	roles map[string]string
	// dummy is compared against when the user is unknown, so a wrong name
	// costs as long as a wrong password and does not reveal who exists.
	dummy []byte
	ttl   time.Duration
	now   func() time.Time
	limit *loginLimiter

	mu       sync.Mutex
	sessions map[string]*session
}

func newAuth(users []User, ttl time.Duration, limit *loginLimiter, now func() time.Time) (*auth, error) {
	a := &auth{
		ttl:      ttl,
		now:      now,
		limit:    limit,
		sessions: map[string]*session{},
	}
	if err := a.setUsers(users); err != nil {
		return nil, err
	}
	return a, nil
}

// setUsers replaces the user list (a config reload). Sessions of users that
// are gone or whose password changed end at once. On error nothing changes.
func (a *auth) setUsers(users []User) error {
	m := map[string][]byte{}
	hashes := make([]string, 0, len(users))
	roles := map[string]string{}
	for i, u := range users {
		if u.Name == "" || len(u.Name) > 64 {
			return fmt.Errorf("%w: user %d: name must be 1..64 characters", ErrInvalidOptions, i+1)
		}
		if _, dup := m[u.Name]; dup {
			return fmt.Errorf("%w: user %q is listed twice", ErrInvalidOptions, u.Name)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return fmt.Errorf("%w: user %q: password hash is not bcrypt: %v", ErrInvalidOptions, u.Name, err)
		}
		hashes = append(hashes, u.PasswordHash)
		m[u.Name] = []byte(u.PasswordHash)
		switch u.Role {
		case "", RoleTechnician:
			roles[u.Name] = RoleTechnician
		case RoleManager:
			roles[u.Name] = RoleManager
		default:
			return fmt.Errorf("%w: user %q: role %q is not %s or %s", ErrInvalidOptions, u.Name, u.Role, RoleTechnician, RoleManager)
		}
	}
	// The dummy costs a bcrypt run: made again only when the cost changes,
	// not on every reload.
	cost := hub.PasswordCost(hashes, bcrypt.DefaultCost)
	a.mu.Lock()
	d := a.dummy
	a.mu.Unlock()
	if c, err := bcrypt.Cost(d); err != nil || c != cost {
		if d, err = bcrypt.GenerateFromPassword([]byte("no such user"), cost); err != nil {
			return fmt.Errorf("web: dummy hash: %w", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, sess := range a.sessions {
		if !bytes.Equal(m[sess.user], a.users[sess.user]) || m[sess.user] == nil || roles[sess.user] != sess.role {
			delete(a.sessions, id)
		}
	}
	a.users, a.roles, a.dummy = m, roles, d
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	a.limit.setUsers(names)
	return nil
}

// hasUsers reports whether anyone can log in.
func (a *auth) hasUsers() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.users) > 0
}

// login checks a user's password and opens a session.
func (a *auth) login(name, password string) (id string, s *session, err error) {
	a.mu.Lock()
	hash, ok := a.users[name]
	role := a.roles[name]
	dummy := a.dummy
	a.mu.Unlock()
	if !ok || len(password) > maxPassword {
		bcrypt.CompareHashAndPassword(dummy, []byte(password))
		return "", nil, ErrBadLogin
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return "", nil, ErrBadLogin
	}
	id, err = randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := a.now()
	s = &session{user: name, role: role, csrf: csrf, expires: now.Add(a.ttl)}
	a.mu.Lock()
	if len(a.sessions) >= maxSessions {
		a.evictSessions(now)
	}
	a.sessions[id] = s
	a.mu.Unlock()
	return id, s, nil
}

// evictSessions drops expired sessions, then the ones closest to expiry
// until there is room.
func (a *auth) evictSessions(now time.Time) {
	for id, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, id)
		}
	}
	for len(a.sessions) >= maxSessions {
		var oldest string
		var at time.Time
		for id, s := range a.sessions {
			if oldest == "" || s.expires.Before(at) {
				oldest, at = id, s.expires
			}
		}
		delete(a.sessions, oldest)
	}
}

// session returns the live session named by r's cookie.
func (a *auth) session(r *http.Request) (string, *session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) == 0 || len(c.Value) > 64 {
		return "", nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[c.Value]
	if !ok {
		return "", nil, false
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, c.Value)
		return "", nil, false
	}
	cp := *s
	return c.Value, &cp, true
}

func (a *auth) logout(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("web: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// sameOrigin refuses requests a browser sent on behalf of another site. The
// CSRF token is the main defence; this one also covers the login form,
// which has no session yet. Clients that send neither Origin nor Referer
// (curl, scripts) are not browsers and pass to the token check.
func sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("%w: Sec-Fetch-Site is %s", ErrCrossSite, r.Header.Get("Sec-Fetch-Site"))
	}
	if o := r.Header.Get("Origin"); o != "" {
		if !hostMatches(o, r.Host) {
			return fmt.Errorf("%w: origin %.100q is not this gateway", ErrCrossSite, o)
		}
		return nil
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		if !hostMatches(ref, r.Host) {
			return fmt.Errorf("%w: referer is not this gateway", ErrCrossSite)
		}
	}
	return nil
}

func hostMatches(rawURL, host string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// control authorizes a state-changing request: same origin, a session, and
// the session's CSRF token. It returns the session's user.
func (s *Server) control(r *http.Request) (string, *session, error) {
	if err := sameOrigin(r); err != nil {
		return "", nil, err
	}
	_, sess, ok := s.auth.session(r)
	if !ok {
		return "", nil, ErrUnauthorized
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" && isForm(r) {
		tok = r.PostFormValue("csrf")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1 {
		return "", nil, ErrBadCSRFToken
	}
	return sess.user, sess, nil
}

// canView reports whether r may see the page's data.
func (s *Server) canView(r *http.Request) bool {
	if s.opts.AllowAnonymousView {
		return true
	}
	_, _, ok := s.auth.session(r)
	return ok
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// decodeLogin reads a login from a JSON or form body.
func decodeLogin(r *http.Request) (loginRequest, error) {
	var lr loginRequest
	if isForm(r) {
		if err := r.ParseForm(); err != nil {
			return lr, fmt.Errorf("%w: login form: %v", ErrBadRequest, err)
		}
		lr.User, lr.Password = r.PostForm.Get("user"), r.PostForm.Get("password")
	} else {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return lr, fmt.Errorf("%w: login body: %v", ErrBadRequest, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&lr); err != nil {
			return lr, fmt.Errorf("%w: login body: %v", ErrBadRequest, err)
		}
	}
	if lr.User == "" || lr.Password == "" {
		return lr, fmt.Errorf("%w: user and password are required", ErrBadRequest)
	}
	return lr, nil
}

type sessionBody struct {
	User       string `json:"user,omitempty"`
	CSRF       string `json:"csrf,omitempty"`
	Expires    string `json:"expires,omitempty"`
	CanView    bool   `json:"can_view"`
	CanControl bool   `json:"can_control"`
	Role       string `json:"role,omitempty"`
	CanManage  bool   `json:"can_manage"` // residents' logins and check-out
	Users      bool   `json:"users_configured"`
}

func (s *Server) sessionOf(sess *session) sessionBody {
	b := sessionBody{Users: s.auth.hasUsers(), CanView: s.opts.AllowAnonymousView}
	if sess != nil {
		b.User, b.CSRF = sess.user, sess.csrf
		b.Expires = sess.expires.UTC().Format(time.RFC3339)
		b.CanView, b.CanControl = true, true
		b.Role = sess.role
		b.CanManage = sess.role == RoleManager && s.opts.Homes != nil
	}
	return b
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	_, sess, _ := s.auth.session(r)
	writeJSON(w, http.StatusOK, s.sessionOf(sess))
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if err := limitBody(w, r, maxBody); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := sameOrigin(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	client := s.guard.clientAddr(r)
	now := s.opts.Now()
	if !s.limit.allowAddr(client, now) {
		s.log.Warn("web: login rate-limited", "client", client, "by", "address")
		s.writeError(w, r, fmt.Errorf("%w from this address", ErrTooManyAttempts))
		return
	}
	lr, err := decodeLogin(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	refund, ok := s.limit.reserveAccount(lr.User, client, now)
	if !ok {
		s.log.Warn("web: login rate-limited", "client", client, "by", "account", "user", clipped(lr.User))
		w.Header().Set("Retry-After", fmt.Sprint(int(s.opts.LoginAccountEvery.Seconds()+0.999)))
		s.writeError(w, r, fmt.Errorf("%w for this account", ErrTooManyAttempts))
		return
	}
	id, sess, err := s.auth.login(lr.User, lr.Password)
	if err != nil {
		if errors.Is(err, ErrBadLogin) {
			s.log.Warn("web: login failed", "user", clipped(lr.User), "client", client)
		}
		s.writeError(w, r, err)
		return
	}
	refund()
	s.limit.signedIn(sess.user, client)
	s.log.Info("web: login", "user", sess.user, "client", client)
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     "/",
		Expires:  sess.expires,
		MaxAge:   int(s.opts.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.guard.secure(r),
		SameSite: http.SameSiteStrictMode,
	})
	if isForm(r) && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, s.sessionOf(sess))
}

func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if err := limitBody(w, r, maxBody); err != nil {
		s.writeError(w, r, err)
		return
	}
	user, _, err := s.control(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if id, _, ok := s.auth.session(r); ok {
		s.auth.logout(id)
	}
	s.log.Info("web: logout", "user", user)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.guard.secure(r), SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, s.sessionOf(nil))
}
