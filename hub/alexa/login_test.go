package alexa

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"hubd/hub/alexa/alexatest"
)

func TestTokenSource_Login_StoresTheRefreshTokenAndUsesIt(t *testing.T) {
	f := newFixture(t, alexatest.Options{})
	f.opts.RefreshToken = "" // the operator has none yet
	c, err := NewClient(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "https://localhost/hubd"
	if err := c.Tokens().Login(context.Background(), "forged-code", redirect); !errors.Is(err, ErrToken) {
		t.Fatalf("forged code: %v", err)
	}
	code := f.srv.IssueAuthCode(redirect)
	if err := c.Tokens().Login(context.Background(), code, redirect); err != nil {
		t.Fatal(err)
	}
	stored, ok, _ := f.kv.Get(kvRefreshToken)
	if !ok || stored == "" || stored == alexatest.DemoRefreshToken {
		t.Fatalf("stored refresh token %q", stored)
	}
	if strings.Contains(f.logs.String(), stored) {
		t.Fatal("the refresh token is in the logs")
	}
	// A later run (a new client on the same state) uses it.
	f.srv.ExpireTokens()
	c2, err := NewClient(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.GetUnit(context.Background(), alexatest.DemoOrg); err != nil {
		t.Fatalf("after login: %v", err)
	}
}

func TestAuthorizeURL_AsksForTheEnterpriseScope(t *testing.T) {
	u, err := url.Parse(AuthorizeURL("", "cid", "https://localhost/cb", "xyz"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "www.amazon.com" || q.Get("scope") != "alexa::enterprise:management" || q.Get("response_type") != "code" ||
		q.Get("client_id") != "cid" || q.Get("redirect_uri") != "https://localhost/cb" || q.Get("state") != "xyz" {
		t.Fatalf("url %s", u)
	}
}
