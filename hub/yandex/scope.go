package yandex

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"hubd/hub"
)

// Recipient is a linked user the notifier writes to, with what it may see.
type Recipient struct {
	UserID string
	Scope  hub.Scope
}

// Recipients returns the configured users that are linked now: they hold a
// configured token that was not revoked, or a live token the OAuth server
// issued, and their scope covers something. Ordered by user id.
func (h *Handler) Recipients() []Recipient {
	set := h.tokens.users.Load()
	linked := map[string]bool{}
	h.tokens.mu.RLock()
	for _, e := range set.list {
		if !h.tokens.revoked[e.digest] {
			linked[e.user] = true
		}
	}
	h.tokens.mu.RUnlock()
	if h.tokens.issued != nil {
		for u := range h.tokens.issued.holders(h.hub.Now()) {
			if set.has(u) {
				linked[u] = true
			}
		}
	}
	out := make([]Recipient, 0, len(linked))
	for u := range linked {
		if sc := set.scope[u]; sc.Staff || len(sc.Homes) > 0 {
			out = append(out, Recipient{UserID: u, Scope: sc})
		}
	}
	slices.SortFunc(out, func(a, b Recipient) int {
		switch {
		case a.UserID < b.UserID:
			return -1
		case a.UserID > b.UserID:
			return 1
		}
		return 0
	})
	return out
}

// RevokeHome ends every access of a home's residents: each configured
// user whose scope names home (staff users are not residents) loses its
// configured tokens and every token the OAuth server issued to it. It
// returns the users it revoked, so the caller can tell the platform. A
// revocation takes effect in memory even when persisting it fails; the
// first such error is returned.
func (h *Handler) RevokeHome(home string) ([]string, error) {
	set := h.tokens.users.Load()
	var users []string
	for u, sc := range set.scope {
		if !sc.Staff && sc.HasHome(home) {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	var first error
	for _, u := range users {
		if err := h.RevokeUser(u); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return users, fmt.Errorf("yandex: revoke home %q: %w", home, first)
	}
	return users, nil
}

// holders returns the users that hold a live issued token.
func (s *issued) holders(now time.Time) map[string]bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]bool{}
	for _, t := range s.toks {
		if !t.expired(now) {
			out[t.User] = true
		}
	}
	return out
}

// revokeUser drops every token of every account linking of user.
func (s *issued) revokeUser(user string, now time.Time) error {
	s.mu.RLock()
	grants := map[string]bool{}
	for _, t := range s.toks {
		if t.User == user {
			grants[t.Grant] = true
		}
	}
	s.mu.RUnlock()
	var first error
	for g := range grants {
		if err := s.revokeGrant(g, now); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RevokeUser ends every access of one configured user: its configured
// tokens, every token the OAuth server issued to it, and its password on
// the login page, until its configuration gives it another one.
func (h *Handler) RevokeUser(user string) error {
	now := h.hub.Now()
	set := h.tokens.users.Load()
	first := h.tokens.killLogin(user)
	for _, e := range set.list {
		if e.user == user {
			if err := h.tokens.revoke(e.digest, now); err != nil && first == nil {
				first = err
			}
		}
	}
	if h.tokens.issued != nil {
		if err := h.tokens.issued.revokeUser(user, now); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("yandex: revoke user %q: %w", user, first)
	}
	return nil
}

// RevokedLoginPrefix starts the Revoked KV key of a revoked password (the
// other keys there are "sha256:" token digests):
// "login/<user id>" -> its bcrypt hash.
const RevokedLoginPrefix = "login/"

func (t *tokens) loadDeadLogin(k, v string) {
	if u, ok := strings.CutPrefix(k, RevokedLoginPrefix); ok && u != "" && v != "" {
		t.deadLogins[u] = v
	}
}

// setUsers makes set (nil: the current users) the users, without the
// passwords revoked with them.
func (t *tokens) setUsers(set *userSet) {
	t.setMu.Lock()
	defer t.setMu.Unlock()
	if set == nil {
		set = t.users.Load()
	}
	t.mu.RLock()
	var dead []string
	for u, h := range t.deadLogins {
		if pw := set.password[u]; pw != nil && string(pw) == h {
			dead = append(dead, u)
		}
	}
	t.mu.RUnlock()
	if len(dead) > 0 {
		cp := *set
		cp.password = maps.Clone(set.password)
		for _, u := range dead {
			cp.password[u] = nil
		}
		set = &cp
	}
	t.users.Store(set)
}

// killLogin revokes user's current password: it logs in no more, also
// after a restart, until the configuration sets another hash.
func (t *tokens) killLogin(user string) error {
	pw := t.users.Load().password[user]
	if pw == nil {
		return nil
	}
	t.mu.Lock()
	t.deadLogins[user] = string(pw)
	t.mu.Unlock()
	t.setUsers(nil)
	if t.kv == nil {
		return nil
	}
	if err := t.kv.Put(RevokedLoginPrefix+user, string(pw)); err != nil {
		return fmt.Errorf("yandex: persist revoked login: %w", err)
	}
	return nil
}
