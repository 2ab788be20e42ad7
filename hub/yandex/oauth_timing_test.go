package yandex

import (
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// A login naming an unknown user is compared with a dummy hash of the
// configured hashes' cost: with htpasswd -B (cost 5) configured, a dummy of
// cost 10 answered unknown ids 30 times slower than known ones.
func TestOAuth_Login_UnknownUserCostsTheConfiguredBcryptCost(t *testing.T) {
	hashAt := func(cost int, pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	users := testUsers()
	users[0].PasswordHash = hashAt(5, "alice-pass")
	users[1].PasswordHash = hashAt(5, "bob-pass")
	f := newFixture(t, Options{Users: users, OAuth: oauthOptions(nil)})
	dummyCost := func() int {
		c, err := bcrypt.Cost(f.api.tokens.users.Load().dummy())
		if err != nil {
			t.Fatalf("dummy hash: %v", err)
		}
		return c
	}
	// The unknown user goes through the dummy comparison and is refused.
	c := browser(t)
	form := openLogin(t, f, c, authorizeQuery("s"))
	if r := postLogin(t, f, c, form, "mallory", "alice-pass"); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d, want 401", r.status)
	}
	if got := dummyCost(); got != 5 {
		t.Fatalf("dummy cost %d, configured hashes cost 5", got)
	}
	// A reload with other hashes brings a dummy of their cost.
	users[0].PasswordHash = hashAt(6, "alice-pass")
	users[1].PasswordHash = hashAt(6, "bob-pass")
	if err := f.api.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	if got := dummyCost(); got != 6 {
		t.Fatalf("after reload: dummy cost %d, configured hashes cost 6", got)
	}
}
