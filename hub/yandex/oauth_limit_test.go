package yandex

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// limitFixture serves OAuth with the login limits given; the client
// address of a login is the X-Test-Client header, as a trusted proxy
// would give it.
func limitFixture(t *testing.T, burst, acctBurst int) *fixture {
	t.Helper()
	return newOAuthFixture(t, nil, func(o *OAuthOptions) {
		o.LoginBurst, o.LoginEvery = burst, time.Minute
		o.LoginAccountBurst, o.LoginAccountEvery = acctBurst, time.Minute
		o.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
}

// loginFrom posts the login form from client address addr.
func loginFrom(t *testing.T, f *fixture, c *http.Client, form url.Values, addr, user, pw string) int {
	t.Helper()
	req := loginRequest(f, form, user, pw)
	req.Header.Set("X-Test-Client", addr)
	return send(t, c, req).status
}

// An attacker whose host picks a fresh IPv6 address for every guess stays
// in one /64: the address limit counts the /64. Another /64 is not held
// back by it.
func TestOAuth_Limit_FreshIPv6AddressesShareTheirSlash64(t *testing.T) {
	f := limitFixture(t, 3, 1000)
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s"))
	for i := range 3 {
		if code := loginFrom(t, f, c, form, fmt.Sprintf("2001:db8:1:2::%x", i+1), "mallory", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code := loginFrom(t, f, c, form, "2001:db8:1:2:ffff::99", "mallory", "guess"); code != http.StatusTooManyRequests {
		t.Errorf("a fourth guess from a fresh address in the same /64: %d, want 429", code)
	}
	if code := loginFrom(t, f, c, form, "2001:db8:1:3::1", "alice", "alice-pass"); code != http.StatusFound {
		t.Errorf("a resident in the neighbouring /64: %d, want 302", code)
	}
}

// Guesses at one user id from many addresses are limited per account,
// known and unknown ids alike; other accounts are untouched, and the
// account is let in again once its bucket refills.
func TestOAuth_Limit_ManyAddressesAgainstOneUser(t *testing.T) {
	f := limitFixture(t, 1000, 3)
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s"))
	for _, user := range []string{"alice", "no-such-user"} {
		for i := range 3 {
			if code := loginFrom(t, f, c, form, fmt.Sprintf("198.51.100.%d", i+1), user, "guess"); code != http.StatusUnauthorized {
				t.Fatalf("%s guess %d: %d, want 401", user, i, code)
			}
		}
		if code := loginFrom(t, f, c, form, "203.0.113.9", user, "guess"); code != http.StatusTooManyRequests {
			t.Errorf("%s: a fourth guess from yet another address: %d, want 429", user, code)
		}
	}
	// Refused even with the right password while the account is limited.
	if code := loginFrom(t, f, c, form, "192.0.2.1", "alice", "alice-pass"); code != http.StatusTooManyRequests {
		t.Errorf("alice's right password while limited: %d, want 429", code)
	}
	if code := loginFrom(t, f, c, form, "203.0.113.9", "bob", "bob-pass"); code != http.StatusFound {
		t.Errorf("another account: %d, want 302", code)
	}
	f.clock.Add(time.Minute)
	if code := loginFrom(t, f, c, form, "192.0.2.1", "alice", "alice-pass"); code != http.StatusFound {
		t.Errorf("alice after a minute: %d, want 302", code)
	}
}

// The resident: right passwords cost the account nothing (linking again
// and again never locks it), and a typo or two do not either.
func TestOAuth_Limit_ResidentIsNotHeldBack(t *testing.T) {
	f := limitFixture(t, 1000, 2)
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s"))
	for i := range 5 {
		if code := loginFrom(t, f, c, form, "192.0.2.7", "alice", "alice-pass"); code != http.StatusFound {
			t.Fatalf("login %d: %d, want 302", i, code)
		}
	}
	if code := loginFrom(t, f, c, form, "192.0.2.7", "alice", "typo"); code != http.StatusUnauthorized {
		t.Fatalf("typo: %d", code)
	}
	if code := loginFrom(t, f, c, form, "192.0.2.7", "alice", "alice-pass"); code != http.StatusFound {
		t.Errorf("the right password after a typo: %d, want 302", code)
	}
}
