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

// Unlink answers 500 when the journal can not record the revocation, so
// the platform retries; the token is refused at once all the same.
func TestHandler_Journal_FailureIsServerErrorAndStillRevokes(t *testing.T) {
	j := &memJournal{set: map[[sha256.Size]byte]bool{}, fail: true}
	f := newFixture(t, Options{Revoked: &mapKV{}, Journal: j})
	if code, _ := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenAlice, ""); code != http.StatusInternalServerError {
		t.Fatalf("unlink with a failing journal: %d, want 500", code)
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusUnauthorized {
		t.Errorf("token after a failed unlink: %d, want 401", code)
	}
}
