package yandex

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// memJournal is a Journal in memory; fail makes Revoke fail.
type memJournal struct {
	mu   sync.Mutex
	set  map[[sha256.Size]byte]bool
	fail bool
}

func (j *memJournal) IsRevoked(d [sha256.Size]byte) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.set[d]
}

func (j *memJournal) setFail(v bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fail = v
}

func (j *memJournal) Revoke(d [sha256.Size]byte, at time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail {
		return errors.New("disk full")
	}
	j.set[d] = true
	return nil
}

// The journal is the authority: a token it holds is refused though the KV
// lost the revocation (a store rolled back or emptied).
func TestHandler_Journal_RevocationOutlivesTheKV(t *testing.T) {
	j := &memJournal{set: map[[sha256.Size]byte]bool{}}
	kv := &mapKV{}
	f := newFixture(t, Options{Revoked: kv, Journal: j})
	if code, body := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenAlice, ""); code != http.StatusOK {
		t.Fatalf("unlink: %d %s", code, body)
	}
	if !j.IsRevoked(sha256.Sum256([]byte(tokenAlice))) {
		t.Fatal("unlink did not record the token in the journal")
	}
	// The store is lost: a new handler on an empty KV.
	f2 := newFixture(t, Options{Revoked: &mapKV{}, Journal: j})
	if code, _ := f2.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("revoked token with the KV lost: %d, want 401", code)
	}
	if code, _ := f2.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, ""); code != http.StatusOK {
		t.Errorf("another user's token: %d, want 200", code)
	}
}

// Unlink answers 500 when the journal can not record the revocation; the
// token is refused at once all the same, the store's KV still records it
// (a restart keeps it refused), and the platform's retry of the unlink,
// carrying the now revoked token, persists it again and answers 200.
func TestHandler_Journal_FailureIsServerErrorAndStillRevokes(t *testing.T) {
	j := &memJournal{set: map[[sha256.Size]byte]bool{}, fail: true}
	kv := &mapKV{}
	f := newFixture(t, Options{Revoked: kv, Journal: j})
	if code, _ := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenAlice, ""); code != http.StatusInternalServerError {
		t.Fatalf("unlink with a failing journal: %d, want 500", code)
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("token after a failed unlink: %d, want 401", code)
	}
	// A restart: the journal never got the record, the KV did.
	f2 := newFixture(t, Options{Revoked: kv, Journal: j})
	if code, _ := f2.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("token after a failed unlink and a restart: %d, want 401", code)
	}
	// The platform retries once the disk has room again.
	j.setFail(false)
	if code, body := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenAlice, ""); code != http.StatusOK {
		t.Fatalf("retried unlink: %d %s, want 200", code, body)
	}
	if !j.IsRevoked(sha256.Sum256([]byte(tokenAlice))) {
		t.Fatal("the retried unlink did not record the token in the journal")
	}
	// A retry after it was persisted is refused like any revoked token.
	if code, _ := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("unlink with a persisted revoked token: %d, want 401", code)
	}
	// A restart with the KV lost: the journal holds it.
	f3 := newFixture(t, Options{Revoked: &mapKV{}, Journal: j})
	if code, _ := f3.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("token after the retry and a restart without the KV: %d, want 401", code)
	}
	if code, _ := f3.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, ""); code != http.StatusOK {
		t.Errorf("another user's token: %d, want 200", code)
	}
}
