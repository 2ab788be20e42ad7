package yandex

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// linkAndRotate links alice and exchanges the refresh token once; it
// returns the first pair and the one the exchange gave.
func linkAndRotate(t *testing.T, f *fixture) (first, second tokens_) {
	t.Helper()
	first = mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	second = mustTokens(t, refresh(t, f, first.Refresh))
	return first, second
}

// revokedAll checks that every token of the linking is refused.
func revokedAll(t *testing.T, f *fixture, tks ...tokens_) {
	t.Helper()
	for _, tk := range tks {
		if code, _ := devicesUser(t, f, tk.Access); code != http.StatusUnauthorized {
			t.Errorf("access token of the replayed linking answers %d, want 401", code)
		}
		oauthErr(t, refresh(t, f, tk.Refresh), http.StatusBadRequest, "invalid_grant")
	}
}

func TestOAuth_Refresh_RetryWithinTheWindowGetsTheSamePair(t *testing.T) {
	f := newOAuthFixture(t, &mapKV{}, nil)
	first, second := linkAndRotate(t, f)
	f.clock.Add(defaultRefreshReuse - time.Second)
	// Concurrent retries, as a client that timed out and asked again.
	var wg sync.WaitGroup
	got := make([]reply, 4)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = refresh(t, f, first.Refresh) }()
	}
	wg.Wait()
	for _, r := range got {
		if tk := mustTokens(t, r); tk != second {
			t.Fatalf("retry within the window got another pair")
		}
	}
	if code, user := devicesUser(t, f, second.Access); code != http.StatusOK || user != "alice" {
		t.Fatalf("after retries the new access token answers %d %q: the linking was revoked", code, user)
	}
	third := mustTokens(t, refresh(t, f, second.Refresh))
	if code, _ := devicesUser(t, f, third.Access); code != http.StatusOK {
		t.Fatalf("the linking no longer refreshes: %d", code)
	}
}

func TestOAuth_Refresh_ReplayAfterTheWindowRevokesTheLinking(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, nil)
	first, second := linkAndRotate(t, f)
	f.clock.Add(defaultRefreshReuse + time.Second)
	r := refresh(t, f, first.Refresh)
	oauthErr(t, r, http.StatusBadRequest, "invalid_grant")
	revokedAll(t, f, second)
	if n := tokenEntries(kv); n != 0 {
		t.Errorf("the revoked linking left %d tokens in the store", n)
	}
	// Another linking of the same user is untouched.
	other := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	if code, _ := devicesUser(t, f, other.Access); code != http.StatusOK {
		t.Errorf("a new linking after the revocation answers %d", code)
	}
}

// A rotated token is remembered in the store: replayed after a restart,
// even within the window, it revokes (the pair to repeat is gone).
func TestOAuth_Refresh_ReplayAfterARestartRevokes(t *testing.T) {
	kv := &mapKV{}
	f := newOAuthFixture(t, kv, nil)
	first, second := linkAndRotate(t, f)
	f2 := newOAuthFixture(t, kv, nil)
	if code, _ := devicesUser(t, f2, second.Access); code != http.StatusOK {
		t.Fatalf("after the restart the new access token answers %d", code)
	}
	oauthErr(t, refresh(t, f2, first.Refresh), http.StatusBadRequest, "invalid_grant")
	revokedAll(t, f2, second)
}

func TestOAuth_Refresh_NoWindowRevokesAtOnce(t *testing.T) {
	f := newOAuthFixture(t, nil, func(o *OAuthOptions) { o.RefreshReuse = -1 })
	first, second := linkAndRotate(t, f)
	oauthErr(t, refresh(t, f, first.Refresh), http.StatusBadRequest, "invalid_grant")
	revokedAll(t, f, second)
}

// crashKV is a mapKV that, once armed, copies itself as a crash would leave
// it right after the first new access token is written: the store a
// restart would find.
type crashKV struct {
	mapKV
	mu     sync.Mutex
	armed  bool
	frozen *mapKV
}

func (k *crashKV) Put(key, value string) error {
	_, existed, _ := k.mapKV.Get(key)
	if err := k.mapKV.Put(key, value); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.armed && k.frozen == nil && !existed && strings.Contains(value, `"k":"access"`) {
		all, _ := k.mapKV.All()
		k.frozen = &mapKV{m: all}
	}
	return nil
}

// A crash after a refresh's new pair is stored must not leave the old
// refresh token live beside it: it is marked rotated first, so after the
// restart presenting it is a replay.
func TestOAuth_Refresh_CrashAfterTheNewPairLeavesTheOldRetired(t *testing.T) {
	kv := &crashKV{}
	f := newOAuthFixture(t, kv, nil)
	first := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	kv.mu.Lock()
	kv.armed = true
	kv.mu.Unlock()
	second := mustTokens(t, refresh(t, f, first.Refresh))
	kv.mu.Lock()
	frozen := kv.frozen
	kv.mu.Unlock()
	if frozen == nil {
		t.Fatal("the refresh stored no new access token")
	}
	f2 := newOAuthFixture(t, frozen, nil)
	oauthErr(t, refresh(t, f2, first.Refresh), http.StatusBadRequest, "invalid_grant")
	revokedAll(t, f2, second)
}

// newFailKV fails writes of new issued tokens once armed; rewrites of
// existing entries (the rotated mark) succeed.
type newFailKV struct {
	mapKV
	armed atomic.Bool
}

func (k *newFailKV) Put(key, value string) error {
	if _, existed, _ := k.mapKV.Get(key); k.armed.Load() && !existed && strings.HasPrefix(key, issuedPrefix) {
		return errors.New("disk full")
	}
	return k.mapKV.Put(key, value)
}

// A refresh whose new pair can not be stored fails, and the mark it wrote
// first is undone: the client's later retry works, before and after a
// restart.
func TestOAuth_Refresh_IssueFailureUndoesTheMark(t *testing.T) {
	kv := &newFailKV{}
	f := newOAuthFixture(t, kv, nil)
	first := mustTokens(t, exchange(t, f, login(t, f, "alice", "alice-pass")))
	kv.armed.Store(true)
	oauthErr(t, refresh(t, f, first.Refresh), http.StatusInternalServerError, "server_error")
	kv.armed.Store(false)
	st := f.api.oauth.store
	st.mu.RLock()
	live := st.toks[sha256Sum(first.Refresh)] != nil && st.toks[sha256Sum(first.Refresh)].Rotated == 0
	st.mu.RUnlock()
	if !live {
		t.Error("the failed refresh left its token marked rotated in memory")
	}
	f2 := newOAuthFixture(t, kv, nil) // a restart on the same store
	second := mustTokens(t, refresh(t, f2, first.Refresh))
	if code, _ := devicesUser(t, f2, second.Access); code != http.StatusOK {
		t.Errorf("the pair of the retried refresh after a restart answers %d", code)
	}
}
