package alexa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// KV keys of the token source.
const (
	kvRefreshToken  = "lwa/refresh_token"
	kvRefreshOrigin = "lwa/refresh_origin" // sha256 of the configured token the stored one descends from
)

// TokenSource obtains Login with Amazon access tokens with the refresh-token
// grant. It caches the access token until a minute before it expires and
// stores a rotated refresh token in the KV, so a restart keeps using it. The
// configured refresh token wins again once it changes (an operator logged
// in anew).
type TokenSource struct {
	url, clientID, secret string
	configured            string // refresh token from Options
	http                  *http.Client
	kv                    KV
	now                   func() time.Time
	log                   *slog.Logger
	timeout               time.Duration
	maxReply              int64

	mu       sync.Mutex
	loaded   bool
	refresh  string
	access   string
	expiry   time.Time // when to stop using access (a minute early)
	rejected string    // refresh token that got invalid_grant
	calls    int
}

func newTokenSource(o *Options, kv KV, log *slog.Logger) *TokenSource {
	return &TokenSource{
		url: o.TokenURL, clientID: o.ClientID, secret: o.ClientSecret,
		configured: o.RefreshToken, http: o.HTTPClient, kv: kv, now: o.Now,
		log: log, timeout: o.CallTimeout, maxReply: o.MaxReplyBytes,
	}
}

// Calls returns how many times the token endpoint was called.
func (t *TokenSource) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}

// Invalidate drops the cached access token (after a 401).
func (t *TokenSource) Invalidate() {
	t.mu.Lock()
	t.access = ""
	t.mu.Unlock()
}

// SetRefreshToken replaces the refresh token (an operator logged in again)
// and stores it.
func (t *TokenSource) SetRefreshToken(tok string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.configured = tok
	t.loaded = false
	t.access = ""
	return t.load()
}

func fingerprint(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// load picks the refresh token: the stored one if it descends from the
// configured one, else the configured one. Called with mu held.
func (t *TokenSource) load() error {
	if t.loaded {
		return nil
	}
	t.refresh = t.configured
	if t.kv != nil {
		origin, ok, err := t.kv.Get(kvRefreshOrigin)
		if err != nil {
			return fmt.Errorf("%w: read stored refresh token: %v", ErrToken, err)
		}
		if ok && origin == fingerprint(t.configured) {
			stored, ok, err := t.kv.Get(kvRefreshToken)
			if err != nil {
				return fmt.Errorf("%w: read stored refresh token: %v", ErrToken, err)
			}
			if ok && stored != "" {
				t.refresh = stored
			}
		}
	}
	t.loaded = true
	return nil
}

// Token returns a valid access token, refreshing it when needed.
func (t *TokenSource) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.load(); err != nil {
		return "", err
	}
	if t.access != "" && t.now().Before(t.expiry) {
		return t.access, nil
	}
	if t.clientID == "" || t.secret == "" || t.refresh == "" {
		return "", fmt.Errorf("%w: client id, client secret and refresh token are required (get one with hubd alexa login)", ErrNotConfigured)
	}
	if t.rejected != "" && t.rejected == t.refresh {
		return "", ErrInvalidGrant
	}
	return t.grant(ctx)
}

// grant runs the refresh-token grant. Called with mu held: concurrent
// callers wait for one refresh instead of racing.
func (t *TokenSource) grant(ctx context.Context) (string, error) {
	start := t.now()
	old := &oauth2.Token{RefreshToken: t.refresh} // no access token: oauth2 refreshes
	r, err := t.fetch(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		return t.lwaConfig().TokenSource(ctx, old).Token()
	})
	if errors.Is(err, ErrInvalidGrant) {
		t.rejected = t.refresh
		t.access = ""
		t.log.Error("alexa: refresh token rejected; an operator must log in again (hubd alexa login)", "request_id", r.requestID)
		return "", err
	}
	if err != nil {
		return "", err
	}
	t.keep(r, start)
	if r.refresh != "" && r.refresh != t.refresh {
		if err := t.store(r.refresh); err != nil {
			t.log.Error("alexa: cannot store rotated refresh token", "err", err)
		}
		t.log.Info("alexa: refresh token rotated and stored")
	}
	t.log.Debug("alexa: access token refreshed", "expires_in", r.expires.String(), "request_id", r.requestID)
	return t.access, nil
}

// Login exchanges an authorization code from an administrator's Login with
// Amazon consent (scope alexa::enterprise:management, REFERENCE.md section
// 2) for a refresh token, and stores that in the KV, where it is used from
// then on (until the configured refresh token changes). The token is never
// logged or returned.
func (t *TokenSource) Login(ctx context.Context, code, redirectURI string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clientID == "" || t.secret == "" {
		return fmt.Errorf("%w: client id and client secret are required", ErrNotConfigured)
	}
	start := t.now()
	r, err := t.fetch(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		c := t.lwaConfig()
		c.RedirectURL = redirectURI
		return c.Exchange(ctx, code)
	})
	if errors.Is(err, ErrInvalidGrant) {
		return fmt.Errorf("%w: the authorization code was refused (expired, used, or for another redirect URI; request id %q)", ErrToken, r.requestID)
	}
	if err != nil {
		return err
	}
	if r.refresh == "" {
		return fmt.Errorf("%w: %w: the token reply has no refresh_token", ErrToken, ErrMalformedReply)
	}
	if err := t.store(r.refresh); err != nil {
		return fmt.Errorf("%w: store refresh token: %v", ErrToken, err)
	}
	t.keep(r, start)
	t.loaded, t.rejected = true, ""
	t.log.Info("alexa: logged in; refresh token stored", "request_id", r.requestID)
	return nil
}

// keep caches an access token, to be replaced a minute before it expires.
func (t *TokenSource) keep(r grantReply, start time.Time) {
	early := time.Minute
	if r.expires <= 2*early {
		early = r.expires / 2
	}
	t.access = r.access
	t.expiry = start.Add(r.expires - early)
}

// store makes tok the refresh token and writes it to the KV, tied to the
// configured one.
func (t *TokenSource) store(tok string) error {
	t.refresh = tok
	if t.kv == nil {
		return nil
	}
	// Origin first: a crash in between leaves the old pair usable.
	if err := t.kv.Put(kvRefreshOrigin, fingerprint(t.configured)); err != nil {
		return err
	}
	return t.kv.Put(kvRefreshToken, tok)
}

// parseExpiresIn accepts an integer or numeric string of seconds, as the
// token reply's decoded JSON holds it.
func parseExpiresIn(raw any) (time.Duration, error) {
	s := fmt.Sprint(raw)
	if f, ok := raw.(float64); ok {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	n := json.Number(s)
	v, err := n.Int64()
	if err != nil || v <= 0 || v > 10*365*24*3600 {
		return 0, fmt.Errorf("expires_in %q", clip(s, 32))
	}
	return time.Duration(v) * time.Second, nil
}

// redactURLError drops the URL from a *url.Error: a token URL is not secret
// but form bodies never show up there either way; keep the cause only.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
