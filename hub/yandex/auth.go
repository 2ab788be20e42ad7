package yandex

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
)

// User is one account of the platform linked to this hub: its Yandex-side
// user id, the hashes of the bearer tokens it calls with, and, for OAuth
// account linking, the bcrypt hash of the password it logs in with.
type User struct {
	ID string
	// TokenHashes are "sha256:<hex>" digests of the tokens (see HashToken),
	// so the configuration never holds a usable token.
	TokenHashes []string
	// PasswordHash is a bcrypt hash ("$2a$...", as made by htpasswd -B or
	// bcrypt.GenerateFromPassword) of the password typed on the OAuth login
	// page. Empty: the user cannot link an account by logging in.
	PasswordHash string
	// Scope is what the user sees and controls; accounts linked by logging
	// in as this user get it too. The zero Scope covers no device.
	Scope hub.Scope
}

// KV persists small strings; the store package implements it. Revoked token
// hashes are kept in it so an unlink survives restarts.
type KV interface {
	Get(key string) (string, bool, error)
	Put(key, value string) error
	Delete(key string) error
	All() (map[string]string, error)
}

// Journal records revocations of configured tokens outside the store, so
// that a store lost, damaged or put back from an older copy does not
// bring a revoked token back (store.Ledger implements it). It is the
// authority: a token it holds is refused whatever the KV says.
type Journal interface {
	IsRevoked(digest [sha256.Size]byte) bool
	// Revoke records digest, durably, before it returns nil.
	Revoke(digest [sha256.Size]byte, at time.Time) error
}

const hashPrefix = "sha256:"

// HashToken returns the form of a token that configuration files hold.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashPrefix + hex.EncodeToString(sum[:])
}

func parseHash(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	if !strings.HasPrefix(s, hashPrefix) {
		return d, fmt.Errorf("%w: token hash %q does not start with %q", ErrInvalidOptions, clip(s, 16), hashPrefix)
	}
	b, err := hex.DecodeString(s[len(hashPrefix):])
	if err != nil || len(b) != sha256.Size {
		return d, fmt.Errorf("%w: token hash must be %s followed by 64 hex digits", ErrInvalidOptions, hashPrefix)
	}
	copy(d[:], b)
	return d, nil
}

type tokenEntry struct {
	digest [sha256.Size]byte
	user   string
}

// userSet is one immutable version of the configured users; SetUsers
// swaps it whole, so a request sees either the old or the new set.
type userSet struct {
	list     []tokenEntry
	password map[string][]byte // user id -> bcrypt hash; nil hash: no login
	// dummy is the hash a login naming an unknown user is compared with:
	// made on first use, at the cost of the configured hashes
	// (hub.PasswordCost), so that it takes as long as a known user's.
	dummy func() []byte
	scope map[string]hub.Scope
}

func (s *userSet) has(id string) bool {
	_, ok := s.password[id]
	return ok
}

// tokens checks bearer tokens against the configured hashes, the tokens
// issued by the OAuth server, and the set of revoked ones.
type tokens struct {
	users  atomic.Pointer[userSet]
	issued *issued // nil: OAuth is off

	mu      sync.RWMutex
	revoked map[[sha256.Size]byte]bool
	unsaved map[[sha256.Size]byte]bool // revoked, not yet in both journal and KV
	kv      KV
	journal Journal // nil: the KV alone
	// deadLogins are passwords revoked with their user (a check-out):
	// user id -> the bcrypt hash that no longer logs in (scope.go).
	deadLogins map[string]string
	setMu      sync.Mutex // orders replacements of users
}

func buildUsers(users []User) (*userSet, error) {
	set := &userSet{password: make(map[string][]byte, len(users)), scope: make(map[string]hub.Scope, len(users))}
	seenHash := map[[sha256.Size]byte]string{}
	var hashes []string
	for _, u := range users {
		if u.ID == "" {
			return nil, fmt.Errorf("%w: a user has no id", ErrInvalidOptions)
		}
		if _, dup := set.password[u.ID]; dup {
			return nil, fmt.Errorf("%w: user %q is listed twice", ErrInvalidOptions, u.ID)
		}
		var pw []byte
		if u.PasswordHash != "" {
			pw = []byte(u.PasswordHash)
			if _, err := bcrypt.Cost(pw); err != nil {
				return nil, fmt.Errorf("%w: user %q: password hash is not a bcrypt hash", ErrInvalidOptions, u.ID)
			}
			hashes = append(hashes, u.PasswordHash)
		}
		set.password[u.ID] = pw
		set.scope[u.ID] = u.Scope
		for _, h := range u.TokenHashes {
			d, err := parseHash(h)
			if err != nil {
				return nil, fmt.Errorf("user %q: %w", u.ID, err)
			}
			if other, dup := seenHash[d]; dup {
				return nil, fmt.Errorf("%w: users %q and %q share a token", ErrInvalidOptions, other, u.ID)
			}
			seenHash[d] = u.ID
			set.list = append(set.list, tokenEntry{digest: d, user: u.ID})
		}
	}
	cost := hub.PasswordCost(hashes, bcrypt.DefaultCost)
	set.dummy = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
		return h
	})
	return set, nil
}

func newTokens(users []User, kv KV) (*tokens, error) {
	set, err := buildUsers(users)
	if err != nil {
		return nil, err
	}
	t := &tokens{revoked: map[[sha256.Size]byte]bool{}, unsaved: map[[sha256.Size]byte]bool{}, kv: kv, deadLogins: map[string]string{}}
	if kv != nil {
		all, err := kv.All()
		if err != nil {
			return nil, fmt.Errorf("yandex: load revoked tokens: %w", err)
		}
		for k, v := range all {
			if d, err := parseHash(k); err == nil {
				t.revoked[d] = true
			}
			t.loadDeadLogin(k, v)
		}
	}
	t.setUsers(set)
	return t, nil
}

// grant is who a bearer token belongs to: a configured user, and for a
// token the OAuth server issued, the linking it came from.
type grant struct {
	user   string
	scope  hub.Scope
	digest [sha256.Size]byte
	id     string // issued tokens only: the grant (account linking) id
}

// check returns who a token belongs to. Every configured digest is
// compared in constant time, so the time taken says nothing about which
// one matched. Issued tokens are looked up by their digest: they are
// random, so a lookup's timing tells an attacker nothing useful.
func (t *tokens) check(token string, now time.Time) (grant, error) {
	var g grant
	if token == "" || len(token) > maxTokenLen {
		return g, ErrUnauthorized
	}
	g.digest = sha256.Sum256([]byte(token))
	set := t.users.Load()
	match := -1
	for i := range set.list {
		if subtle.ConstantTimeCompare(g.digest[:], set.list[i].digest[:]) == 1 {
			match = i
		}
	}
	if match >= 0 {
		g.user = set.list[match].user
		g.scope = set.scope[g.user]
		t.mu.RLock()
		revoked, unsaved := t.revoked[g.digest], t.unsaved[g.digest]
		t.mu.RUnlock()
		if unsaved {
			return g, errUnsaved
		}
		if revoked || t.journal != nil && t.journal.IsRevoked(g.digest) {
			return g, ErrUnauthorized
		}
		return g, nil
	}
	if t.issued == nil {
		return g, ErrUnauthorized
	}
	it, ok := t.issued.access(g.digest, now)
	if !ok || !set.has(it.User) {
		return g, ErrUnauthorized
	}
	g.user, g.id = it.User, it.Grant
	g.scope = set.scope[g.user]
	return g, nil
}

// revoke makes a token unusable from now on. The revocation takes effect in
// memory at once and is written to both the journal and the KV, each tried
// even when the other fails, so it is recorded wherever it can be. Until
// both hold it the token stays unsaved: check lets an unlink carrying it
// through (errUnsaved), and that retry persists it again.
func (t *tokens) revoke(d [sha256.Size]byte, at time.Time) error {
	t.mu.Lock()
	t.revoked[d] = true
	t.mu.Unlock()
	var jerr, kerr error
	if t.journal != nil {
		if err := t.journal.Revoke(d, at); err != nil {
			jerr = fmt.Errorf("yandex: record revoked token: %w", err)
		}
	}
	if t.kv != nil {
		key := hashPrefix + hex.EncodeToString(d[:])
		if err := t.kv.Put(key, at.UTC().Format(time.RFC3339)); err != nil {
			kerr = fmt.Errorf("yandex: persist revoked token: %w", err)
		}
	}
	err := errors.Join(jerr, kerr)
	t.mu.Lock()
	if err != nil {
		t.unsaved[d] = true
	} else {
		delete(t.unsaved, d)
	}
	t.mu.Unlock()
	return err
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !runeStart(s[n]) {
		n--
	}
	return s[:n]
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }
