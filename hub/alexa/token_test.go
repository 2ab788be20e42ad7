package alexa

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTokenClient(t *testing.T, f *fixture, clock *fakeClock) *Client {
	t.Helper()
	o := f.opts
	o.Now = clock.Now
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenSource_Token_CachedAndRefreshedAMinuteEarly(t *testing.T) {
	f := newFixture(t, alexatest.Options{TokenTTL: time.Hour})
	clock := &fakeClock{t: time.Now()}
	c := newTokenClient(t, f, clock)
	ctx := context.Background()
	tok1, err := c.Tokens().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := c.Tokens().Token(ctx)
	if tok1 != tok2 || f.srv.TokenCalls() != 1 {
		t.Fatalf("token not cached: %d token calls", f.srv.TokenCalls())
	}
	clock.Add(58 * time.Minute) // still more than a minute left
	if tok3, _ := c.Tokens().Token(ctx); tok3 != tok1 || f.srv.TokenCalls() != 1 {
		t.Fatalf("token refreshed too early (%d calls)", f.srv.TokenCalls())
	}
	clock.Add(time.Minute + time.Second) // 59m01s: within the last minute
	tok4, err := c.Tokens().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok4 == tok1 || f.srv.TokenCalls() != 2 {
		t.Fatalf("token not refreshed a minute early (%d calls)", f.srv.TokenCalls())
	}
	// API calls reuse the cached token.
	for range 5 {
		if _, err := c.ListUnits(ctx, ListQuery{ParentID: alexatest.DemoOrg}); err != nil {
			t.Fatal(err)
		}
	}
	if f.srv.TokenCalls() != 2 {
		t.Fatalf("API calls fetched tokens: %d token calls", f.srv.TokenCalls())
	}
}

func TestTokenSource_Token_RotatedRefreshTokenStoredAndUsedAfterRestart(t *testing.T) {
	f := newFixture(t, alexatest.Options{RotateRefreshToken: true})
	clock := &fakeClock{t: time.Now()}
	c := newTokenClient(t, f, clock)
	ctx := context.Background()
	if _, err := c.Tokens().Token(ctx); err != nil {
		t.Fatal(err)
	}
	stored, ok, _ := f.kv.Get(kvRefreshToken)
	if !ok || stored == alexatest.DemoRefreshToken || stored == "" {
		t.Fatalf("rotated refresh token not stored: %q", stored)
	}
	// The configured token is now revoked by the server; a restarted
	// client must use the stored one.
	c2 := newTokenClient(t, f, clock)
	if _, err := c2.Tokens().Token(ctx); err != nil {
		t.Fatalf("restart with stored refresh token: %v", err)
	}
	if again, _, _ := f.kv.Get(kvRefreshToken); again == stored {
		t.Fatal("second rotation not stored")
	}
	// An operator logs in again: the newly configured token wins over the
	// stored one.
	f.srv.AddRefreshToken("fresh-login")
	o := f.opts
	o.RefreshToken = "fresh-login"
	c3, _ := NewClient(o)
	if _, err := c3.Tokens().Token(ctx); err != nil {
		t.Fatalf("new configured token: %v", err)
	}
}

func TestTokenSource_Token_InvalidGrantSurfacedNotRetried(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.srv.RevokeRefreshTokens()
	s := f.syncer(t, buildSite(1, 1))
	ctx := context.Background()
	_, err := s.Sync(ctx)
	if !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("err = %v, want ErrInvalidGrant", err)
	}
	if !strings.Contains(err.Error(), "log in again") {
		t.Fatalf("error does not tell the operator what to do: %v", err)
	}
	if _, err := s.Sync(ctx); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("second sync err = %v", err)
	}
	if n := f.srv.TokenCalls(); n != 1 {
		t.Fatalf("token endpoint called %d times, want 1 (no retrying a rejected grant)", n)
	}
	if f.srv.TotalCalls() != 0 {
		t.Fatalf("API called without a token: %v", f.srv.Counts())
	}
	if st := s.Status(); !strings.Contains(st.LastError, "invalid_grant") {
		t.Fatalf("status error = %q", st.LastError)
	}
	// After a new login the same Syncer recovers.
	f.srv.AddRefreshToken("relogin")
	if err := s.Client().Tokens().SetRefreshToken("relogin"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, s)
}

func TestTokenSource_Token_BadClientIsTokenError(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.opts.ClientSecret = "wrong"
	c, _ := NewClient(f.opts)
	_, err := c.Tokens().Token(context.Background())
	if !errors.Is(err, ErrToken) || errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("err = %v, want ErrToken", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("secret leaked: %v", err)
	}
}

func TestClient_Do_ReauthenticatesOnceAfter401(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	c, _ := NewClient(f.opts)
	ctx := context.Background()
	if _, err := c.ListUnits(ctx, ListQuery{ParentID: alexatest.DemoOrg}); err != nil {
		t.Fatal(err)
	}
	f.srv.ExpireTokens()
	if _, err := c.ListUnits(ctx, ListQuery{ParentID: alexatest.DemoOrg}); err != nil {
		t.Fatalf("after token revocation: %v", err)
	}
	if f.srv.TokenCalls() != 2 {
		t.Fatalf("token calls = %d, want 2", f.srv.TokenCalls())
	}
}

func TestTokenSource_Token_MalformedReplies(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"garbage", 200, "not json", ErrMalformedReply},
		{"no access token", 200, `{"expires_in":3600}`, ErrMalformedReply},
		{"zero expiry", 200, `{"access_token":"a","expires_in":0}`, ErrMalformedReply},
		{"string expiry ok", 200, `{"access_token":"a","expires_in":"3600","token_type":"bearer"}`, nil},
		{"wrong type", 200, `{"access_token":"a","expires_in":3600,"token_type":"mac"}`, ErrMalformedReply},
		{"oversize", 200, `{"access_token":"` + strings.Repeat("a", 2<<20) + `","expires_in":3600}`, ErrReplyTooLarge},
		{"server error", 503, `oops`, ErrToken},
		{"invalid grant", 400, `{"error":"invalid_grant"}`, ErrInvalidGrant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, tc.status, tc.body)
			c, err := NewClient(Options{APIBase: srv, TokenURL: srv, ClientID: "c", ClientSecret: "s", RefreshToken: "r"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Tokens().Token(context.Background())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func newRawServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	return srv
}

func TestTokenSource_Token_RequestThatCannotBeSentIsAnErrorNotAPanic(t *testing.T) {
	srv := newRawServer(t, 200, `{"access_token":"a","expires_in":3600}`)
	c, err := NewClient(Options{APIBase: srv, TokenURL: srv, ClientID: "c", ClientSecret: "s", RefreshToken: "r"})
	if err != nil {
		t.Fatal(err)
	}
	// oauth2 fails building the request, before any round trip: the
	// transport never notes a request id.
	c.Tokens().url = "http://bad host/x"
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	if _, err := c.Tokens().Token(context.Background()); !errors.Is(err, ErrToken) {
		t.Fatalf("Token err = %v, want ErrToken", err)
	}
	if err := c.Tokens().Login(context.Background(), "code", "https://example.com/cb"); !errors.Is(err, ErrToken) {
		t.Fatalf("Login err = %v, want ErrToken", err)
	}
}

func TestNewClient_RefusesMalformedEndpointURLs(t *testing.T) {
	for _, u := range []string{"http://bad host/x", "ftp://example.com/token", "http:///token", "https://", "api.amazon.com/auth/o2/token"} {
		if _, err := NewClient(Options{TokenURL: u, ClientID: "c", ClientSecret: "s", RefreshToken: "r"}); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("token URL %q: err = %v, want ErrNotConfigured", u, err)
		}
		if _, err := NewClient(Options{APIBase: u, ClientID: "c", ClientSecret: "s", RefreshToken: "r"}); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("API base %q: err = %v, want ErrNotConfigured", u, err)
		}
	}
	if _, err := NewClient(Options{TokenURL: "http://127.0.0.1:8080/auth/o2/token", APIBase: "https://[::1]:9/", ClientID: "c"}); err != nil {
		t.Fatalf("good URLs refused: %v", err)
	}
}
