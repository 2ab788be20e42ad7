package web

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// One attacker address guessing at tech as fast as its address allows, for
// an hour: the technician, from an address that never signed in before,
// gets in with the right password at any time.
func TestLogin_OneAddressGuessingForAnHour_DoesNotLockTheTechnicianOut(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now})
	attacker := browserFrom(t, ts.url, "127.4.0.1")
	guesses, refused := 0, 0
	for minute := range 60 {
		for i := range 5 { // one attempt per 12 s: all the address allows
			if i > 0 || minute > 0 {
				clock.Add(12 * time.Second)
			}
			switch r := attacker.login(testUser, "guess"); r.StatusCode {
			case http.StatusUnauthorized:
				guesses++
			case http.StatusTooManyRequests:
				refused++
			default:
				t.Fatalf("guess: %d", r.StatusCode)
			}
		}
		// Right after a guess, as an attacker timing the refills would.
		if minute%10 == 9 {
			tech := browserFrom(t, ts.url, fmt.Sprintf("127.4.1.%d", minute))
			if r := tech.login(testUser, testPass); r.StatusCode != http.StatusOK {
				t.Fatalf("technician after %d minutes of guessing from one address: %d, want 200", minute+1, r.StatusCode)
			}
		}
	}
	// The attacker's own guesses stay bounded: half the account's burst,
	// then one every two minutes.
	if guesses > 5+30+1 || refused == 0 {
		t.Fatalf("one address got %d guesses checked in an hour (%d refused), want at most 36", guesses, refused)
	}
}

// Many addresses guessing together still get a bounded number of guesses
// at one account: the account's burst, then one per LoginAccountEvery.
func TestLogin_ManyAddressesTogether_GetBoundedGuessesPerAccount(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now})
	var attackers []*browser
	for i := range 20 {
		attackers = append(attackers, browserFrom(t, ts.url, fmt.Sprintf("127.5.0.%d", i+1)))
	}
	checked := 0
	const minutes = 15
	for m := range minutes {
		if m > 0 {
			clock.Add(time.Minute)
		}
		for _, a := range attackers {
			if r := a.login(testUser, "guess"); r.StatusCode == http.StatusUnauthorized {
				checked++
			}
		}
	}
	if max := 10 + minutes - 1; checked > max || checked < 10 {
		t.Fatalf("20 addresses got %d guesses checked in %d minutes, want 10..%d", checked, minutes, max)
	}
	// The account is spent: a right password from an address that never
	// signed in is refused like a guess (the bound holds for everyone).
	if r := browserFrom(t, ts.url, "127.5.1.1").login(testUser, testPass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password from a new address while the account is spent: %d, want 429", r.StatusCode)
	}
}

// While many addresses keep an account spent, an address the technician
// signed in from before is still let through to the password check.
func TestLogin_AddressThatSignedInBefore_IsCheckedWhileTheAccountIsSpent(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now, LoginAccountBurst: 4})
	tech := browserFrom(t, ts.url, "127.6.0.1")
	if r := tech.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("first sign-in: %d", r.StatusCode)
	}
	for i := range 8 {
		browserFrom(t, ts.url, fmt.Sprintf("127.6.1.%d", i+1)).login(testUser, "guess")
	}
	if r := browserFrom(t, ts.url, "127.6.2.1").login(testUser, testPass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("new address while the account is spent: %d, want 429", r.StatusCode)
	}
	if r := tech.login(testUser, "typo"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("technician's typo: %d, want 401 (checked)", r.StatusCode)
	}
	if r := tech.login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("technician's known address while the account is spent: %d, want 200", r.StatusCode)
	}
}

// A flood of one malformed login per address fills the address table with
// entries that are busy but not limited, then drains the shared overflow
// bucket: a newcomer still gets a bucket of its own (the entry closest to
// refilled makes room), while the limited address stays limited.
func TestLogin_FloodOfOneAttemptPerAddress_DoesNotShutOutNewcomers(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestServer(t, Options{Now: clock.Now, MaxLoginAddresses: 16})
	attacker := browserFrom(t, ts.url, "127.7.0.9")
	for i := range 5 {
		attacker.login(testUser, fmt.Sprint("guess-", i))
	}
	codes := floodLogins(t, ts.url, 16+10)
	if codes[http.StatusBadRequest] != 26 {
		t.Fatalf("flood answers %v: want every address's first attempt checked (400)", codes)
	}
	if r := browserFrom(t, ts.url, "127.7.0.1").login(testUser, testPass); r.StatusCode != http.StatusOK {
		t.Fatalf("newcomer after the flood: %d, want 200", r.StatusCode)
	}
	if r := attacker.login(testUser, testPass); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("limited address after the flood: %d, want still 429", r.StatusCode)
	}
	if n := ts.limit.addrs.Len(); n > 16 {
		t.Fatalf("address table holds %d entries, bound 16", n)
	}
}
