package yandex

import (
	"net/http"
	"strings"
	"testing"
)

var testRecordKey = []byte("record-key-0123456789abcdef01234")

// sealedFixture serves OAuth on kv with records authenticated by key.
func sealedFixture(t *testing.T, kv KV, key []byte) *fixture {
	t.Helper()
	return newOAuthFixture(t, kv, func(o *OAuthOptions) { o.RecordKey = key })
}

// editEntry replaces old by new in the stored value under key.
func editEntry(t *testing.T, kv *mapKV, key, old, new string) {
	t.Helper()
	v, ok, _ := kv.Get(key)
	if !ok || !strings.Contains(v, old) {
		t.Fatalf("entry %s is %q, without %q", key, v, old)
	}
	if err := kv.Put(key, strings.Replace(v, old, new, 1)); err != nil {
		t.Fatal(err)
	}
}

// One flipped byte ("rot" to "rox") would make a retired refresh token
// live again; its record fails the check and the token is refused. The
// linking's current pair, its records intact, still works after the
// restart.
func TestOAuth_Seal_ChangedRotatedRecordIsRevoked(t *testing.T) {
	kv := &mapKV{}
	f := sealedFixture(t, kv, testRecordKey)
	first, second := linkAndRotate(t, f)
	editEntry(t, kv, issuedKey(sha256Sum(first.Refresh)), `"rot":`, `"rox":`)
	f2 := sealedFixture(t, kv, testRecordKey)
	oauthErr(t, refresh(t, f2, first.Refresh), http.StatusBadRequest, "invalid_grant")
	if _, ok, _ := kv.Get(issuedKey(sha256Sum(first.Refresh))); ok {
		t.Error("the changed record was kept")
	}
	if code, user := devicesUser(t, f2, second.Access); code != http.StatusOK || user != "alice" {
		t.Errorf("the intact access token after the restart: %d %q", code, user)
	}
	mustTokens(t, refresh(t, f2, second.Refresh))
}

// A used code whose "used" mark is changed is refused after a restart.
func TestOAuth_Seal_ChangedUsedCodeIsRevoked(t *testing.T) {
	kv := &mapKV{}
	f := sealedFixture(t, kv, testRecordKey)
	code := login(t, f, "alice", "alice-pass")
	mustTokens(t, exchange(t, f, code))
	editEntry(t, kv, codeKey(sha256Sum(code)), `"used":true`, `"usex":true`)
	f2 := sealedFixture(t, kv, testRecordKey)
	oauthErr(t, exchange(t, f2, code), http.StatusBadRequest, "invalid_grant")
}

// Records sealed with another key (the key replaced, records written by
// someone without it) fail closed; the same key lets them through.
func TestOAuth_Seal_OtherKeyFailsClosed(t *testing.T) {
	kv := &mapKV{}
	f0 := sealedFixture(t, kv, testRecordKey)
	tk := mustTokens(t, exchange(t, f0, login(t, f0, "alice", "alice-pass")))
	if code, _ := devicesUser(t, sealedFixture(t, kv, testRecordKey), tk.Access); code != http.StatusOK {
		t.Fatalf("a sealed token after a restart with the same key: %d", code)
	}
	f := sealedFixture(t, kv, []byte("another-key-0123456789abcdef0123"))
	if code, _ := devicesUser(t, f, tk.Access); code != http.StatusUnauthorized {
		t.Errorf("a token sealed with another key: %d, want 401", code)
	}
	if n := tokenEntries(kv); n != 0 {
		t.Errorf("%d records that failed the check were kept", n)
	}
}
