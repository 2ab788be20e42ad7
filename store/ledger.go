package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The ledger is what the data directory must never forget, kept so that a
// lost, damaged or rolled-back store never brings a revoked credential
// back:
//
//   - a journal of revoked credentials (JournalFile), append-only,
//     fsynced, each record authenticated and chained (see revocation);
//   - a generation, a counter raised at every start and after every change
//     to credentials held in the store, kept both in the store's meta
//     bucket and in a sidecar file (SidecarFile) next to it, written
//     store first: a store older than the sidecar was put back or lost;
//   - the key both are authenticated with (KeyFile).
//
// OpenLedger compares them. What it finds is reported (Findings) and
// handled failing closed before the generation moves on, so a crash half
// way finds the same again at the next start:
//
//   - the journal can not be trusted (missing, cut short, a record that
//     fails its check, the key or the sidecar lost): the records that
//     verify are kept and every credential LedgerOptions.Suspects names
//     is added as revoked; the damaged file is kept aside;
//   - the store is not the one the gateway last wrote (empty, new, moved
//     aside as corrupt, older generation, or the sidecar lost):
//     LedgerOptions.Distrust drops what the store held that may have been
//     revoked since.
//
// A data directory emptied as a whole looks like a new gateway: nothing
// outside it remembers.

// LedgerOptions configure OpenLedger.
type LedgerOptions struct {
	// Suspects returns the credentials (sha256 digests) to treat as
	// revoked when the journal can not be trusted. Nil: none.
	Suspects func() [][sha256.Size]byte
	// Distrust drops the credentials the store holds, when the store may
	// be older than the last one written. Nil: nothing to drop.
	Distrust func() error
	// Logger; nil discards.
	Logger *slog.Logger
	// Now; nil: time.Now.
	Now func() time.Time
}

// Ledger is the open ledger of a store's data directory. Its methods are
// safe for concurrent use.
type Ledger struct {
	db   *DB
	dir  string
	log  *slog.Logger
	now  func() time.Time
	opts LedgerOptions

	mu      sync.Mutex
	key     []byte
	gen     uint64
	records uint64
	head    [sha256.Size]byte
	revoked map[[sha256.Size]byte]bool
	// view is a copy of revoked, replaced (never changed) under mu after
	// every change, so IsRevoked reads it without waiting for a write
	// that holds mu across its fsyncs.
	view atomic.Pointer[map[[sha256.Size]byte]bool]

	created      bool
	findings     []string
	journalBad   bool
	storeSuspect bool
}

// OpenLedger opens the ledger in db's directory, creating it on the first
// start, checks it against db, handles what it finds and raises the
// generation.
func OpenLedger(db *DB, opts LedgerOptions) (*Ledger, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Ledger{db: db, dir: filepath.Dir(db.path), log: opts.Logger, now: opts.Now, opts: opts,
		revoked: map[[sha256.Size]byte]bool{}}
	dbGen, err := db.Generation()
	if err != nil {
		return nil, err
	}
	if l.absent() {
		err = l.create(dbGen)
	} else {
		err = l.check(dbGen)
	}
	if err != nil {
		return nil, err
	}
	if err := l.handle(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.publishLocked()
	if err := l.advanceLocked(); err != nil {
		return nil, err
	}
	for _, f := range l.findings {
		l.log.Error("state integrity: "+f, "data_dir", l.dir)
	}
	return l, nil
}

func (l *Ledger) path(name string) string { return filepath.Join(l.dir, name) }

// absent reports that no file of the ledger exists: a new gateway, or the
// first start of a hubd that keeps one.
func (l *Ledger) absent() bool {
	for _, n := range []string{KeyFile, JournalFile, SidecarFile} {
		if _, err := os.Lstat(l.path(n)); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// create starts a ledger: a key and an empty journal.
func (l *Ledger) create(dbGen uint64) error {
	key, err := newKey(l.dir)
	if err != nil {
		return fmt.Errorf("%w: create key: %w", ErrLedger, err)
	}
	if err := appendRecords(l.path(JournalFile), nil); err != nil {
		return fmt.Errorf("%w: create journal: %w", ErrLedger, err)
	}
	l.key, l.gen, l.created = key, dbGen, true
	switch {
	case dbGen > 0:
		// The store was written with a ledger that is gone now: neither
		// the journal nor the store's generation can be vouched for, as
		// when the key alone is lost.
		l.find("the ledger files (%s, %s, %s) were deleted from a gateway at generation %d", KeyFile, JournalFile, SidecarFile, dbGen)
		l.journalBad, l.storeSuspect, l.created = true, true, false
	case !l.db.created:
		l.log.Info("state integrity: ledger started for an existing store", "data_dir", l.dir)
	}
	return nil
}

// check reads the ledger and compares it with the store.
func (l *Ledger) check(dbGen uint64) error {
	l.gen = dbGen
	key, err := readKey(l.dir)
	if err != nil {
		l.find("the integrity key %s is missing or unreadable (%v): neither the journal nor the generation can be verified", KeyFile, err)
		l.journalBad, l.storeSuspect = true, true
		if l.key, err = newKey(l.dir); err != nil {
			return fmt.Errorf("%w: replace key: %w", ErrLedger, err)
		}
		return nil
	}
	l.key = key
	side, serr := readSidecar(l.path(SidecarFile), key)
	if serr != nil {
		l.find("the generation file %s is missing or damaged (%v): a rolled-back store or a cut journal can not be ruled out", SidecarFile, serr)
		l.journalBad, l.storeSuspect = true, true
	}
	recs, jerr := readJournal(l.path(JournalFile), key)
	if jerr != nil {
		l.find("the revocation journal %s is damaged: %v", JournalFile, jerr)
		l.journalBad = true
	}
	for _, r := range recs {
		l.revoked[r.digest] = true
	}
	l.records = uint64(len(recs))
	if len(recs) > 0 {
		l.head = recs[len(recs)-1].mac
	}
	if serr == nil {
		l.compare(side, recs, dbGen)
	}
	return nil
}

// compare checks the journal's length and the store's generation against
// the sidecar.
func (l *Ledger) compare(side sidecar, recs []revocation, dbGen uint64) {
	switch n := uint64(len(recs)); {
	case n < side.Records && !l.journalBad:
		l.find("the revocation journal %s holds %d records, %d were written: records were lost", JournalFile, n, side.Records)
		l.journalBad = true
	case side.Records > 0 && n >= side.Records && hex.EncodeToString(recs[side.Records-1].mac[:]) != side.Head:
		l.find("the revocation journal %s does not continue the one last written", JournalFile)
		l.journalBad = true
	}
	switch {
	case l.db.created && l.db.movedAside != "":
		l.find("hubd.db was corrupt and was moved aside to %s; the gateway started with an empty store (it had state at generation %d)", filepath.Base(l.db.movedAside), side.Generation)
		l.storeSuspect = true
	case l.db.created:
		l.find("hubd.db was missing or empty on a gateway that had state (generation %d): device states, account links and sync maps were lost", side.Generation)
		l.storeSuspect = true
	case dbGen < side.Generation:
		l.find("hubd.db is older than the last one this gateway wrote (generation %d, want %d): an older copy was put back", dbGen, side.Generation)
		l.storeSuspect = true
	}
	l.gen = max(dbGen, side.Generation)
}

func (l *Ledger) find(format string, args ...any) {
	l.findings = append(l.findings, fmt.Sprintf(format, args...))
}

// handle fails closed on what check found: it rewrites a damaged journal
// with the suspects revoked, and distrusts a suspect store.
func (l *Ledger) handle() error {
	if l.journalBad {
		if err := l.rewriteJournal(); err != nil {
			return err
		}
	}
	if l.storeSuspect && l.opts.Distrust != nil {
		if err := l.opts.Distrust(); err != nil {
			return fmt.Errorf("%w: drop credentials of a suspect store: %w", ErrLedger, err)
		}
		l.find("account links and codes held in hubd.db were dropped: linked accounts must be linked again")
	}
	return nil
}

// rewriteJournal keeps the damaged journal aside and writes a new one:
// the records that verified, then every suspect not among them.
func (l *Ledger) rewriteJournal() error {
	var suspects [][sha256.Size]byte
	if l.opts.Suspects != nil {
		suspects = l.opts.Suspects()
	}
	at := l.now().Unix()
	old := l.revoked
	l.revoked, l.records, l.head = map[[sha256.Size]byte]bool{}, 0, [sha256.Size]byte{}
	var recs []revocation
	add := func(d [sha256.Size]byte) {
		if !l.revoked[d] {
			recs = append(recs, l.nextLocked(d, at))
		}
	}
	for d := range old {
		add(d)
	}
	added := 0
	for _, d := range suspects {
		if !old[d] {
			added++
		}
		add(d)
	}
	p := l.path(JournalFile)
	aside := fmt.Sprintf("%s.damaged-%s", p, l.now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(p, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: move the damaged journal aside: %w", ErrLedger, err)
	}
	if err := appendRecords(p, recs); err != nil {
		return fmt.Errorf("%w: rewrite journal: %w", ErrLedger, err)
	}
	syncDir(l.dir)
	l.find("%d configured credentials that a lost record may have named are now treated as revoked; give the platform new ones (the damaged journal is kept as %s)", added, filepath.Base(aside))
	return nil
}

// nextLocked makes the next record of the chain for d and counts it.
func (l *Ledger) nextLocked(d [sha256.Size]byte, at int64) revocation {
	r := revocation{at: at, digest: d}
	r.mac = recordMAC(l.key, l.records, l.head, at, d)
	l.records++
	l.head = r.mac
	l.revoked[d] = true
	return r
}

// publishLocked makes the revoked set as it is now the one IsRevoked and
// Revoked read.
func (l *Ledger) publishLocked() {
	m := make(map[[sha256.Size]byte]bool, len(l.revoked))
	for d := range l.revoked {
		m[d] = true
	}
	l.view.Store(&m)
}

// advanceLocked raises the generation: the store first, then the sidecar.
func (l *Ledger) advanceLocked() error {
	next := l.gen + 1
	if err := l.db.setGeneration(next); err != nil {
		return err
	}
	s := sidecar{Generation: next, Records: l.records}
	if l.records > 0 {
		s.Head = hex.EncodeToString(l.head[:])
	}
	if err := writeSidecar(l.path(SidecarFile), s, l.key); err != nil {
		return fmt.Errorf("%w: %w", ErrLedger, err)
	}
	l.gen = next
	return nil
}

// Revoke records d as revoked for good: in the journal (fsynced), then a
// new generation. Revoking twice is a no-op.
func (l *Ledger) Revoke(d [sha256.Size]byte, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.revoked[d] {
		return nil
	}
	saved := l.records
	savedHead := l.head
	r := l.nextLocked(d, at.Unix())
	if err := appendRecords(l.path(JournalFile), []revocation{r}); err != nil {
		// A partial line is found damaged at the next start: fail closed.
		l.records, l.head = saved, savedHead
		delete(l.revoked, d)
		return fmt.Errorf("%w: append revocation: %w", ErrLedger, err)
	}
	l.publishLocked()
	return l.advanceLocked()
}

// Bump raises the generation after credentials held in the store changed,
// so that a copy of the store from before the change is noticed.
func (l *Ledger) Bump() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.advanceLocked()
}

// Revoked returns every credential the journal holds.
func (l *Ledger) Revoked() [][sha256.Size]byte {
	m := *l.view.Load()
	out := make([][sha256.Size]byte, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	return out
}

// IsRevoked reports whether the journal holds d. It takes no lock: a
// request asking it never waits for a Bump's or a Revoke's fsyncs.
func (l *Ledger) IsRevoked(d [sha256.Size]byte) bool {
	return (*l.view.Load())[d]
}

// SubKey derives a key for label from the ledger's key (HMAC-SHA256), for
// other records of the data directory that must be tamper-evident. It is
// stable across starts and changes only when the key file is replaced
// (which OpenLedger reports and handles as a suspect store).
func (l *Ledger) SubKey(label string) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("hubd subkey\x00"))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Findings are what OpenLedger found wrong, in words for a technician;
// nil when all was well.
func (l *Ledger) Findings() []string { return append([]string(nil), l.findings...) }

// Created reports that OpenLedger found no ledger and started one, on a
// store that never had one.
func (l *Ledger) Created() bool { return l.created }

// Distrusted reports that the store was found lost or older than the last
// one written.
func (l *Ledger) Distrusted() bool { return l.storeSuspect }

// Generation is the current generation.
func (l *Ledger) Generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

var keyGeneration = []byte("generation")

// Generation returns the ledger generation the store holds; zero for a
// store that never had one.
func (db *DB) Generation() (uint64, error) {
	var n uint64
	err := db.view("generation", func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyGeneration); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		} else if v != nil {
			return fmt.Errorf("%w: %s: generation is %d bytes", ErrCorrupt, db.path, len(v))
		}
		return nil
	})
	return n, err
}

func (db *DB) setGeneration(n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return db.update("generation", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyGeneration, v[:])
	})
}
