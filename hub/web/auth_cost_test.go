package web

import (
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The dummy hash an unknown name is checked against has the cost most
// configured hashes have, so a wrong name takes as long as a wrong password.
func TestAuth_Dummy_HasTheConfiguredCost(t *testing.T) {
	var users []User
	for i, cost := range []int{5, 5, 7} {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, User{Name: string(rune('a' + i)), PasswordHash: string(h)})
	}
	a, err := newAuth(users, time.Hour, newLoginLimiter(&Options{}), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(a.dummy); err != nil || c != 5 {
		t.Fatalf("dummy cost %d (%v), want 5", c, err)
	}
	if _, _, err := a.login("nobody", "pw"); err != ErrBadLogin {
		t.Fatalf("unknown user: %v", err)
	}
}
