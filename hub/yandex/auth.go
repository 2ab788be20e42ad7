package yandex

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
)

// User is one account of the platform linked to this hub: its Yandex-side
// user id and the hashes of the bearer tokens it calls with.
type User struct {
	ID string
	// TokenHashes are "sha256:<hex>" digests of the tokens (see HashToken),
	// so the configuration never holds a usable token.
	TokenHashes []string
}

// KV persists small strings; the store package implements it. Revoked token
// hashes are kept in it so an unlink survives restarts.
type KV interface {
	Get(key string) (string, bool, error)
	Put(key, value string) error
	Delete(key string) error
	All() (map[string]string, error)
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

// tokens checks bearer tokens against the configured hashes and the set of
// revoked ones.
type tokens struct {
	list []tokenEntry

	mu      sync.RWMutex
	revoked map[[sha256.Size]byte]bool
	kv      KV
}

func newTokens(users []User, kv KV) (*tokens, error) {
	t := &tokens{revoked: map[[sha256.Size]byte]bool{}, kv: kv}
	seenUser := map[string]bool{}
	seenHash := map[[sha256.Size]byte]string{}
	for _, u := range users {
		if u.ID == "" {
			return nil, fmt.Errorf("%w: a user has no id", ErrInvalidOptions)
		}
		if seenUser[u.ID] {
			return nil, fmt.Errorf("%w: user %q is listed twice", ErrInvalidOptions, u.ID)
		}
		seenUser[u.ID] = true
		for _, h := range u.TokenHashes {
			d, err := parseHash(h)
			if err != nil {
				return nil, fmt.Errorf("user %q: %w", u.ID, err)
			}
			if other, dup := seenHash[d]; dup {
				return nil, fmt.Errorf("%w: users %q and %q share a token", ErrInvalidOptions, other, u.ID)
			}
			seenHash[d] = u.ID
			t.list = append(t.list, tokenEntry{digest: d, user: u.ID})
		}
	}
	if kv != nil {
		all, err := kv.All()
		if err != nil {
			return nil, fmt.Errorf("yandex: load revoked tokens: %w", err)
		}
		for k := range all {
			if d, err := parseHash(k); err == nil {
				t.revoked[d] = true
			}
		}
	}
	return t, nil
}

// check returns the user a token belongs to. Every configured digest is
// compared in constant time, so the time taken says nothing about which
// one matched.
func (t *tokens) check(token string) (user string, digest [sha256.Size]byte, err error) {
	if token == "" {
		return "", digest, ErrUnauthorized
	}
	digest = sha256.Sum256([]byte(token))
	match := -1
	for i := range t.list {
		if subtle.ConstantTimeCompare(digest[:], t.list[i].digest[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", digest, ErrUnauthorized
	}
	t.mu.RLock()
	revoked := t.revoked[digest]
	t.mu.RUnlock()
	if revoked {
		return "", digest, ErrUnauthorized
	}
	return t.list[match].user, digest, nil
}

// revoke makes a token unusable from now on. The revocation takes effect in
// memory even when persisting it fails; the error is returned so the caller
// answers 500 and the platform retries.
func (t *tokens) revoke(d [sha256.Size]byte, at time.Time) error {
	t.mu.Lock()
	t.revoked[d] = true
	t.mu.Unlock()
	if t.kv == nil {
		return nil
	}
	key := hashPrefix + hex.EncodeToString(d[:])
	if err := t.kv.Put(key, at.UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("yandex: persist revoked token: %w", err)
	}
	return nil
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
