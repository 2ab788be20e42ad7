package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"hubd/hub/yandex"
	"hubd/store"
)

// Buckets of the store that hold credentials.
const (
	bucketRevoked = "yandex-revoked" // configured tokens revoked by unlink
	bucketTokens  = "yandex-tokens"  // tokens and codes of the OAuth server
)

// openLedger opens the data directory's ledger (see store.OpenLedger) and
// makes what it found the daemon's alarms. It fails closed: a journal that
// can not be trusted revokes every configured token, and a store lost or
// older than the last one written loses its account links and resident
// logins.
func (m *Main) openLedger() error {
	l, err := store.OpenLedger(m.DB, store.LedgerOptions{
		Suspects: func() [][sha256.Size]byte { return configuredDigests(m.Config) },
		// A store that can not be trusted may hold tokens and resident
		// logins that were taken away since: both go, and homes get
		// their logins anew.
		Distrust: func() error {
			return errors.Join(m.DB.Bucket(bucketTokens).Clear(), m.DB.Bucket(residentsBucket).Clear())
		},
		Logger: m.Log.With("component", "store"),
	})
	if err != nil {
		return err
	}
	m.Ledger = l
	found := l.Findings()
	if a := m.syncRevokedBucket(); a != "" {
		m.Log.Error("state integrity: "+a, "data_dir", m.Config.DataDir)
		found = append(found, a)
	}
	m.alarms.open(m.DB.Bucket(bucketAlarms), found, m.started, m.Log)
	return nil
}

// syncRevokedBucket merges the store's revocations with the journal's:
// revocations only accumulate. Every revocation the store names is taken
// into the journal (the first start with a ledger, a crash between the two
// writes, a journal write that failed while the store's succeeded), and
// the journal's missing from the store are put back. A key that is not a
// digest revokes nothing: it is reported and deleted.
func (m *Main) syncRevokedBucket() (alarm string) {
	kv := m.DB.Bucket(bucketRevoked)
	all, err := kv.All()
	if err != nil {
		return fmt.Sprintf("the revocations in hubd.db can not be read: %v", err)
	}
	have := map[[sha256.Size]byte]bool{}
	var bad, added int
	for k := range all {
		if strings.HasPrefix(k, yandex.RevokedLoginPrefix) {
			continue // a password revoked at check-out, not a token digest
		}
		d, ok := parseDigest(k)
		if !ok {
			bad++
			if err := kv.Delete(k); err != nil {
				m.Log.Warn("unreadable revocation record not deleted", "err", err)
			}
			continue
		}
		have[d] = true
		if m.Ledger.IsRevoked(d) {
			continue
		}
		if err := m.Ledger.Revoke(d, m.started); err != nil {
			return fmt.Sprintf("the revocations in hubd.db could not be taken into the journal: %v", err)
		}
		added++
	}
	if added > 0 && !m.Ledger.Created() {
		m.Log.Warn("state integrity: revocations found only in hubd.db were added to the journal", "count", added)
	}
	for _, d := range m.Ledger.Revoked() {
		if !have[d] {
			if err := kv.Put("sha256:"+hex.EncodeToString(d[:]), m.started.UTC().Format("2006-01-02T15:04:05Z")); err != nil {
				m.Log.Warn("revocation not copied into the store", "err", err)
			}
		}
	}
	if bad > 0 {
		return fmt.Sprintf("%d revocation records in hubd.db are unreadable: the store was changed; the journal %s is trusted for what they named", bad, store.JournalFile)
	}
	return ""
}

// configuredDigests are the digests of every configured bearer token: the
// credentials a lost journal record may have revoked.
func configuredDigests(c *Config) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, u := range c.Yandex.Users {
		for _, t := range u.Tokens {
			if d, ok := parseDigest(t); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

func parseDigest(s string) ([sha256.Size]byte, bool) {
	var d [sha256.Size]byte
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 2*sha256.Size {
		return d, false
	}
	_, err := hex.Decode(d[:], []byte(h))
	return d, err == nil
}

// guardedKV is a store bucket holding credentials: every write that can
// take a credential away (a delete, an entry rewritten: a refresh token
// marked rotated, a code marked used) raises the ledger's generation, so a
// copy of the store from before it is noticed. A new entry does not: a
// copy without it only lacks a credential. A raise costs a store commit and
// a sidecar write, about 10 ms with fsyncs.
type guardedKV struct {
	*store.KV
	ledger *store.Ledger
}

func (g guardedKV) Put(key, value string) error {
	_, existed, err := g.KV.Get(key)
	if err != nil {
		return err
	}
	if err := g.KV.Put(key, value); err != nil || !existed {
		return err
	}
	return g.ledger.Bump()
}

func (g guardedKV) Delete(key string) error {
	if err := g.KV.Delete(key); err != nil {
		return err
	}
	return g.ledger.Bump()
}
