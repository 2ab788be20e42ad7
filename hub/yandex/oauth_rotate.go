package yandex

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// A refresh token is single-use (RFC 9700 §4.14.2): exchanging it issues a
// new pair and marks it rotated. Presenting a rotated token again means it
// leaked, or the client is confused; either way the whole linking is
// revoked, the new pair with it, and the account must be linked again.
//
// The one exception is a client's own retry: its first answer may be lost
// on the way (a timeout, a dropped connection) and it asks again with the
// same token. Within OAuthOptions.RefreshReuse (default 10 s) of the first
// exchange, and only in the process that made it, the retry gets the very
// same pair and nothing is revoked. The pair is kept in memory only, for
// the window; after a restart any reuse revokes.

// defaultRefreshReuse is OAuthOptions.RefreshReuse's zero value.
const defaultRefreshReuse = 10 * time.Second

// rotation is the outcome of one exchange of a refresh token, remembered
// for the reuse window. done is closed once p or err is set.
type rotation struct {
	done chan struct{}
	at   time.Time
	p    pair
	old  issuedToken
	err  error
}

// rotate exchanges a live refresh token for a new pair of the same grant.
// A token being exchanged is marked at once, so two concurrent uses can
// not both issue: the second waits for the first and shares its answer
// (within the reuse window) or revokes the grant (outside it). The mark
// is persisted before the new pair is issued, so a crash in between
// leaves the old token retired, never both live; it is lifted (in memory
// and in the store) only when issuing fails, and not when the account was
// unlinked meanwhile.
func (s *issued) rotate(refresh string, now time.Time, accessTTL, refreshTTL time.Duration) (pair, issuedToken, error) {
	d := sha256.Sum256([]byte(refresh))
	s.mu.Lock()
	t, ok := s.toks[d]
	switch {
	case !ok || t.Kind != kindRefresh:
		s.mu.Unlock()
		return pair{}, issuedToken{}, fmt.Errorf("%w: unknown refresh token", ErrInvalidGrant)
	case t.Rotated != 0:
		r := s.rotations[d]
		if r != nil && now.Sub(r.at) <= s.reuse {
			s.mu.Unlock()
			<-r.done
			return r.p, r.old, r.err
		}
		old := *t
		s.mu.Unlock()
		return s.replayed(d, old, now)
	case t.expired(now):
		delete(s.toks, d)
		s.mu.Unlock()
		s.forget([][sha256.Size]byte{d})
		return pair{}, issuedToken{}, fmt.Errorf("%w: refresh token expired", ErrInvalidGrant)
	}
	old := *t
	t.Rotated = now.UnixMilli()
	r := &rotation{done: make(chan struct{}), at: now, old: old}
	if s.reuse > 0 {
		s.pruneRotationsLocked(now)
		s.rotations[d] = r
	}
	s.mu.Unlock()
	err := s.persistHeld(d, t)
	var p pair
	if err == nil {
		p, err = s.issue(old.User, old.Grant, old.Scope, now, accessTTL, refreshTTL)
	}
	if err != nil {
		s.unclaim(d, t, old.Grant)
		r.err = err
		close(r.done)
		return pair{}, issuedToken{}, err
	}
	r.p = p
	close(r.done)
	return p, old, nil
}

// replayed answers a rotated refresh token presented outside the reuse
// window: the grant is revoked, every token of it.
func (s *issued) replayed(d [sha256.Size]byte, old issuedToken, now time.Time) (pair, issuedToken, error) {
	err := s.revokeGrant(old.Grant, now)
	s.log.Warn("rotated refresh token replayed: the linking is revoked", "user", old.User,
		"rotated_at", time.UnixMilli(old.Rotated).UTC(), "err", err)
	return pair{}, issuedToken{}, fmt.Errorf("%w: refresh token was already used; the linking is revoked", ErrInvalidGrant)
}

// unclaim lifts the rotated mark after a failed exchange, in memory and
// in the store, unless the grant was revoked meanwhile: then the token
// goes, as the revocation could not see it as live.
func (s *issued) unclaim(d [sha256.Size]byte, t *issuedToken, grant string) {
	s.mu.Lock()
	delete(s.rotations, d)
	_, unlinked := s.gone[grant]
	if unlinked {
		delete(s.toks, d)
	} else {
		t.Rotated = 0
	}
	s.mu.Unlock()
	if unlinked {
		s.forget([][sha256.Size]byte{d})
		return
	}
	if err := s.persistHeld(d, t); err != nil {
		// Still marked in the store: the token is refused after a
		// restart, which fails closed.
		s.log.Warn("refresh token not marked live again in the store", "err", err)
	}
}

// persistHeld writes a token's current form, if it is still held (not
// trimmed or revoked meanwhile, and so deleted from the KV).
func (s *issued) persistHeld(d [sha256.Size]byte, t *issuedToken) error {
	if s.kv == nil {
		return nil
	}
	s.mu.Lock()
	held := s.toks[d] == t
	v, _ := json.Marshal(t)
	s.mu.Unlock()
	if !held {
		return nil
	}
	if err := s.kv.Put(issuedKey(d), string(v)); err != nil {
		return fmt.Errorf("yandex: persist rotated refresh token: %w", err)
	}
	return nil
}

// pruneRotationsLocked forgets answers older than the reuse window, which
// bounds the table by the rotations of one window; each needs a live
// refresh token, of which there are at most MaxTokensPerUser per user.
func (s *issued) pruneRotationsLocked(now time.Time) {
	for d, r := range s.rotations {
		if now.Sub(r.at) > s.reuse {
			delete(s.rotations, d)
		}
	}
}
