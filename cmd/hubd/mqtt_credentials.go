package main

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mqttAccountsBucket is the store namespace of the MQTT device accounts'
// password hashes: account name -> mqttCredential as JSON.
const mqttAccountsBucket = "mqtt-accounts"

// Device account passwords are hashed as mosquitto_passwd does (its "$7$"
// form: PBKDF2-SHA512, 101 rounds, 12-byte salt), so one hash serves the
// embedded broker and an external Mosquitto's password_file. The
// passwords are random (mqttPasswordBytes), so a slow hash would add
// nothing against guessing and would cost every device's CONNECT.
const (
	mqttHashIterations = 101
	mqttSaltBytes      = 12
	mqttPasswordBytes  = 24 // 192 bits; 32 characters of base64url
)

var errBadMQTTHash = errors.New("hubd: not a mosquitto $7$ password hash")

// mqttCredential is one stored account.
type mqttCredential struct {
	Hash    string    `json:"hash"`
	Changed time.Time `json:"changed"`
}

// newMQTTPassword makes a device account's password.
func newMQTTPassword() (string, error) {
	b := make([]byte, mqttPasswordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashMQTTPassword is pw in mosquitto_passwd's $7$ form.
func hashMQTTPassword(pw string) (string, error) {
	salt := make([]byte, mqttSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha512.New, pw, salt, mqttHashIterations, sha512.Size)
	if err != nil {
		return "", err
	}
	enc := base64.StdEncoding
	return fmt.Sprintf("$7$%d$%s$%s", mqttHashIterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// parseMQTTHash splits a $7$ hash.
func parseMQTTHash(h string) (iter int, salt, key []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return 0, nil, nil, errBadMQTTHash
	}
	iter, err = strconv.Atoi(parts[2])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return 0, nil, nil, errBadMQTTHash
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[3])
	key, err2 := base64.StdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) != sha512.Size {
		return 0, nil, nil, errBadMQTTHash
	}
	return iter, salt, key, nil
}

// checkMQTTHash says whether pw matches the $7$ hash h.
func checkMQTTHash(h string, pw []byte) bool {
	iter, salt, want, err := parseMQTTHash(h)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, string(pw), salt, iter, sha512.Size)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// credKV is the part of a store namespace the credentials use.
type credKV interface {
	Put(key, value string) error
	Delete(key string) error
	All() (map[string]string, error)
}

// mqttCredentials are the device accounts' hashes: kept in the store and,
// for the broker's CONNECT checks, in memory. The store is written first,
// so memory never holds what a restart would lose.
type mqttCredentials struct {
	kv     credKV
	mu     sync.RWMutex
	byName map[string]mqttCredential
	// ledger journals every password taken away (rotated or deleted)
	// outside the store before the store changes, so that an older copy
	// of the store put back can not make it work again; nil (the daemon
	// is stopped): only new passwords can be made.
	ledger revocations
}

// revocations is the part of the ledger (store.Ledger) the credentials
// use.
type revocations interface {
	Revoke(d [sha256.Size]byte, at time.Time) error
	IsRevoked(d [sha256.Size]byte) bool
}

// errNeedsDaemon is returned for a rotate or delete with the daemon
// stopped.
var errNeedsDaemon = errors.New("mqtt-account: rotate and delete need the running daemon, which journals the old password so that an older copy of the store can not bring it back: start hubd and run this again")

// hashDigest names a stored hash in the ledger.
func hashDigest(account, hash string) [sha256.Size]byte {
	return sha256.Sum256([]byte("hubd mqtt-account\x00" + account + "\x00" + hash))
}

// revokeLocked journals the password account has now, if any.
func (c *mqttCredentials) revokeLocked(account string) error {
	old, ok := c.byName[account]
	if !ok {
		return nil
	}
	if c.ledger == nil {
		return errNeedsDaemon
	}
	return c.ledger.Revoke(hashDigest(account, old.Hash), time.Now())
}

// loadMQTTCredentials reads the stored accounts. An entry that is not one
// (a damaged store) is left out, so that account cannot log in until its
// password is made again, and named in bad; the others work.
//
// With ledger set, a stored password the ledger says was taken away (the
// store is an older copy) is left out too and named in revoked.
func loadMQTTCredentials(kv credKV, ledger revocations) (c *mqttCredentials, bad, revoked []string, err error) {
	all, err := kv.All()
	if err != nil {
		return nil, nil, nil, err
	}
	c = &mqttCredentials{kv: kv, byName: make(map[string]mqttCredential, len(all)), ledger: ledger}
	for name, v := range all {
		var cr mqttCredential
		if json.Unmarshal([]byte(v), &cr) != nil {
			bad = append(bad, name)
			continue
		}
		if _, _, _, err := parseMQTTHash(cr.Hash); err != nil {
			bad = append(bad, name)
			continue
		}
		if ledger != nil && ledger.IsRevoked(hashDigest(name, cr.Hash)) {
			revoked = append(revoked, name)
			continue
		}
		c.byName[name] = cr
	}
	sort.Strings(bad)
	sort.Strings(revoked)
	return c, bad, revoked, nil
}

// Check is mqtt.Options.CheckPassword.
func (c *mqttCredentials) Check(account string, pw []byte) bool {
	c.mu.RLock()
	cr, ok := c.byName[account]
	c.mu.RUnlock()
	return ok && checkMQTTHash(cr.Hash, pw)
}

// stamp is mqtt.Options.PasswordStamp: the stored hash, which every new
// password changes (its salt is new).
func (c *mqttCredentials) stamp(account string) string {
	cr, _ := c.get(account)
	return cr.Hash
}

func (c *mqttCredentials) get(account string) (mqttCredential, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cr, ok := c.byName[account]
	return cr, ok
}

// put stores cr as account's password: a new one (replace false), or in
// place of the one it has (replace true), checked under the same lock as
// the write, so two concurrent creates can not both succeed and leave
// the first one's shown password dead.
func (c *mqttCredentials) put(account string, cr mqttCredential, replace bool) error {
	b, err := json.Marshal(cr)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, has := c.byName[account]; has != replace {
		if has {
			return fmt.Errorf("%w: %s", errMQTTAccountExists, account)
		}
		return fmt.Errorf("%w: %s", errMQTTAccountNoPassword, account)
	}
	if err := c.revokeLocked(account); err != nil {
		return err
	}
	if err := c.kv.Put(account, string(b)); err != nil {
		delete(c.byName, account) // the old one is journaled as taken away
		return err
	}
	c.byName[account] = cr
	return nil
}

func (c *mqttCredentials) remove(account string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.revokeLocked(account); err != nil {
		return err
	}
	delete(c.byName, account) // journaled as taken away: gone whatever the store says
	if err := c.kv.Delete(account); err != nil {
		return err
	}
	delete(c.byName, account)
	return nil
}

// names lists the stored accounts, sorted.
func (c *mqttCredentials) names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.byName))
	for n := range c.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
