package yandex

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kinds of issued tokens.
const (
	kindAccess  = "access"
	kindRefresh = "refresh"
)

// issuedPrefix starts the KV key of every issued token, so the same KV may
// also hold revoked configured tokens ("sha256:...") without confusion.
const issuedPrefix = "oauth/"

// issuedToken is one token the OAuth server handed out, as persisted under
// issuedPrefix + the hex sha256 of the token. The token itself is never
// stored.
type issuedToken struct {
	Kind     string `json:"k"`
	User     string `json:"u"`
	Grant    string `json:"g"` // one account linking; refreshes keep it
	Scope    string `json:"s,omitempty"`
	IssuedAt int64  `json:"iat"` // unix milliseconds
	Expires  int64  `json:"exp"` // unix milliseconds
	Seq      uint64 `json:"n"`   // issue order, for tokens of the same millisecond
	// Rotated is when a refresh token was exchanged (unix milliseconds);
	// zero while it is live. A rotated token is kept until it expires so
	// that a replay of it is noticed (see rotate).
	Rotated int64 `json:"rot,omitempty"`
}

func (t *issuedToken) expired(now time.Time) bool { return now.UnixMilli() >= t.Expires }

// issued holds the live issued tokens in memory, by digest, and mirrors
// every change to the KV so they survive restarts. A token enters memory
// only once it is persisted; memory is the authority for checks.
type issued struct {
	kv      KV // nil: memory only
	perUser int
	log     *slog.Logger

	mu   sync.RWMutex
	toks map[[sha256.Size]byte]*issuedToken
	seq  uint64
	// gone remembers recently revoked grants, so a refresh racing with an
	// unlink can not bring its grant back.
	gone map[string]time.Time
	// reuse is the window in which a rotated refresh token presented again
	// gets the same answer (a client's retry); zero: none.
	reuse     time.Duration
	rotations map[[sha256.Size]byte]*rotation
}

// goneFor is how long a revoked grant is remembered; a refresh takes
// milliseconds.
const goneFor = 10 * time.Minute

func issuedKey(d [sha256.Size]byte) string { return issuedPrefix + hex.EncodeToString(d[:]) }

// newIssued loads the persisted tokens, dropping expired or unreadable
// entries and trimming users over the bound.
func newIssued(kv KV, perUser int, log *slog.Logger, now time.Time) (*issued, error) {
	s := &issued{kv: kv, perUser: perUser, log: log, toks: map[[sha256.Size]byte]*issuedToken{}, gone: map[string]time.Time{},
		rotations: map[[sha256.Size]byte]*rotation{}}
	if kv == nil {
		return s, nil
	}
	all, err := kv.All()
	if err != nil {
		return nil, fmt.Errorf("yandex: load issued tokens: %w", err)
	}
	var drop []string
	users := map[string]bool{}
	for k, v := range all {
		if !strings.HasPrefix(k, issuedPrefix) {
			continue
		}
		var d [sha256.Size]byte
		b, err := hex.DecodeString(k[len(issuedPrefix):])
		var t issuedToken
		if err == nil && len(b) == sha256.Size {
			err = json.Unmarshal([]byte(v), &t)
		} else if err == nil {
			err = errors.New("bad digest length")
		}
		if err == nil && (t.Kind != kindAccess && t.Kind != kindRefresh || t.User == "" || t.Grant == "") {
			err = errors.New("incomplete entry")
		}
		if err != nil {
			log.Warn("dropping unreadable issued token entry", "key", clip(k, 80), "err", err)
			drop = append(drop, k)
			continue
		}
		if t.expired(now) {
			drop = append(drop, k)
			continue
		}
		copy(d[:], b)
		s.toks[d] = &t
		s.seq = max(s.seq, t.Seq)
		users[t.User] = true
	}
	for u := range users {
		for _, d := range s.trimLocked(u, s.perUser) {
			drop = append(drop, issuedKey(d))
		}
	}
	for _, k := range drop {
		if err := kv.Delete(k); err != nil {
			return nil, fmt.Errorf("yandex: prune issued tokens: %w", err)
		}
	}
	return s, nil
}

// access returns the live access token with digest d.
func (s *issued) access(d [sha256.Size]byte, now time.Time) (issuedToken, bool) {
	s.mu.RLock()
	t, ok := s.toks[d]
	var out issuedToken
	if ok {
		out = *t
	}
	s.mu.RUnlock()
	if !ok || out.Kind != kindAccess || out.expired(now) {
		return issuedToken{}, false
	}
	return out, true
}

// newSecret returns a random token: 32 bytes, base64url (43 characters).
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pair is a freshly issued access and refresh token.
type pair struct {
	access, refresh string
	expiresIn       time.Duration
}

// issue makes a new access and refresh token for a grant, persists them,
// and evicts the user's oldest tokens beyond the bound.
func (s *issued) issue(user, grantID, scope string, now time.Time, accessTTL, refreshTTL time.Duration) (pair, error) {
	p := pair{access: newSecret(), refresh: newSecret(), expiresIn: accessTTL}
	iat := now.UnixMilli()
	s.mu.Lock()
	s.seq += 2
	seq := s.seq
	s.mu.Unlock()
	ad, rd := sha256.Sum256([]byte(p.access)), sha256.Sum256([]byte(p.refresh))
	at := &issuedToken{Kind: kindAccess, User: user, Grant: grantID, Scope: scope, IssuedAt: iat, Expires: now.Add(accessTTL).UnixMilli(), Seq: seq - 1}
	rt := &issuedToken{Kind: kindRefresh, User: user, Grant: grantID, Scope: scope, IssuedAt: iat, Expires: now.Add(refreshTTL).UnixMilli(), Seq: seq}
	if s.kv != nil {
		for _, e := range []struct {
			d [sha256.Size]byte
			t *issuedToken
		}{{rd, rt}, {ad, at}} {
			v, _ := json.Marshal(e.t)
			if err := s.kv.Put(issuedKey(e.d), string(v)); err != nil {
				_ = s.kv.Delete(issuedKey(rd))
				return pair{}, fmt.Errorf("yandex: persist issued token: %w", err)
			}
		}
	}
	s.mu.Lock()
	if _, dead := s.gone[grantID]; dead {
		s.mu.Unlock()
		s.forget([][sha256.Size]byte{ad, rd})
		return pair{}, fmt.Errorf("%w: the account was unlinked", ErrInvalidGrant)
	}
	s.toks[ad], s.toks[rd] = at, rt
	evicted := s.expiredLocked(user, now)
	evicted = append(evicted, s.trimLocked(user, s.perUser)...)
	s.mu.Unlock()
	s.forget(evicted)
	return p, nil
}

// expiredLocked removes user's expired tokens from memory.
func (s *issued) expiredLocked(user string, now time.Time) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for d, t := range s.toks {
		if t.User == user && t.expired(now) {
			delete(s.toks, d)
			out = append(out, d)
		}
	}
	return out
}

// trimLocked removes user's oldest tokens until at most keep remain,
// records of rotated refresh tokens first. Within one issue the access
// token counts as older than its refresh token, so a bound of 2k keeps k
// whole linkings.
func (s *issued) trimLocked(user string, keep int) [][sha256.Size]byte {
	type aged struct {
		d [sha256.Size]byte
		t *issuedToken
	}
	var mine []aged
	for d, t := range s.toks {
		if t.User == user {
			mine = append(mine, aged{d, t})
		}
	}
	if len(mine) <= keep {
		return nil
	}
	// Records of rotated refresh tokens go before any live token.
	slices.SortFunc(mine, func(a, b aged) int {
		if c := cmp.Compare(min(b.t.Rotated, 1), min(a.t.Rotated, 1)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t.IssuedAt, b.t.IssuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.t.Seq, b.t.Seq)
	})
	var out [][sha256.Size]byte
	for _, a := range mine[:len(mine)-keep] {
		delete(s.toks, a.d)
		out = append(out, a.d)
	}
	return out
}

// forget deletes tokens, already gone from memory, from the KV. A failed
// delete only means the entry is pruned at the next start.
func (s *issued) forget(ds [][sha256.Size]byte) error {
	if s.kv == nil {
		return nil
	}
	var first error
	for _, d := range ds {
		if err := s.kv.Delete(issuedKey(d)); err != nil && first == nil {
			first = fmt.Errorf("yandex: delete issued token: %w", err)
		}
	}
	if first != nil {
		s.log.Warn("issued tokens not deleted from the store", "err", first)
	}
	return first
}

// revokeGrant drops every token of one account linking.
func (s *issued) revokeGrant(grantID string, now time.Time) error {
	s.mu.Lock()
	if len(s.gone) >= 4096 {
		clear(s.gone) // only a racing refresh needs it
	}
	s.gone[grantID] = now
	var gone [][sha256.Size]byte
	for d, t := range s.toks {
		if t.Grant == grantID {
			delete(s.toks, d)
			gone = append(gone, d)
		}
	}
	s.mu.Unlock()
	return s.forget(gone)
}

// prune drops every expired token.
func (s *issued) prune(now time.Time) {
	s.mu.Lock()
	for g, at := range s.gone {
		if now.Sub(at) > goneFor {
			delete(s.gone, g)
		}
	}
	s.pruneRotationsLocked(now)
	var gone [][sha256.Size]byte
	for d, t := range s.toks {
		if t.expired(now) {
			delete(s.toks, d)
			gone = append(gone, d)
		}
	}
	s.mu.Unlock()
	s.forget(gone)
}

// count returns how many tokens user holds (all users when user is "").
func (s *issued) count(user string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, t := range s.toks {
		if user == "" || t.User == user {
			n++
		}
	}
	return n
}
