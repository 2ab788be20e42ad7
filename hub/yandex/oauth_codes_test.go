package yandex

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// codeEntries is how many authorization codes kv holds.
func codeEntries(kv KV) int { return entries(kv, codePrefix) }

func TestOAuth_Code_SurvivesARestartAndStaysSingleUse(t *testing.T) {
	kv := &mapKV{}
	code := login(t, newOAuthFixture(t, kv, nil), "alice", "alice-pass")
	// A new handler on the same store is a restart.
	f2 := newOAuthFixture(t, kv, nil)
	tk := mustTokens(t, exchange(t, f2, code))
	if c, user := devicesUser(t, f2, tk.Access); c != http.StatusOK || user != "alice" {
		t.Fatalf("tokens of a code exchanged after a restart: %d %q", c, user)
	}
	// Used is remembered across the next restart: a replay fails and
	// revokes what the code gave.
	f3 := newOAuthFixture(t, kv, nil)
	oauthErr(t, exchange(t, f3, code), http.StatusBadRequest, "invalid_grant")
	if c, _ := devicesUser(t, f3, tk.Access); c != http.StatusUnauthorized {
		t.Errorf("tokens of a code replayed after a restart still work: %d", c)
	}
}

func TestOAuth_Code_ExpiredAfterARestartIsRefusedAndDropped(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, nil)
	code := login(t, f, "alice", "alice-pass")
	if n := codeEntries(kv); n != 1 {
		t.Fatalf("%d codes stored, want 1", n)
	}
	f2 := newOAuthFixture(t, kv, nil)
	f2.clock.Add(2 * time.Minute)
	oauthErr(t, exchange(t, f2, code), http.StatusBadRequest, "invalid_grant")
	if n := codeEntries(kv); n != 0 {
		t.Errorf("the expired code is still stored (%d entries)", n)
	}
}

var errDiskFull = errors.New("disk full")

// failingCodesKV fails to store codes.
type failingCodesKV struct{ mapKV }

func (k *failingCodesKV) Put(key, value string) error {
	if strings.HasPrefix(key, codePrefix) {
		return errDiskFull
	}
	return k.mapKV.Put(key, value)
}

func TestOAuth_Code_NotStoredIsNeverHandedOut(t *testing.T) {
	f := newOAuthFixture(t, &failingCodesKV{}, nil)
	c := browser(t)
	r := postLogin(t, f, c, openLogin(t, f, c, authorizeQuery("s")), "alice", "alice-pass")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Location") != "" {
		t.Fatalf("login with a store that fails: %d, Location %q", r.status, r.header.Get("Location"))
	}
}
