package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"hubd/hub"
)

// SchemaVersion is the layout of the file this build writes. Open refuses a
// file with a higher version and migrates a lower one.
const SchemaVersion = 1

// magic identifies a hubd store in the meta bucket.
const magic = "hubd-store"

// Top-level buckets. Open refuses a file holding any other.
var (
	bucketMeta  = []byte("meta")
	bucketState = []byte("state")
	bucketSite  = []byte("site")
	bucketKV    = []byte("kv")

	keyMagic  = []byte("magic")
	keySchema = []byte("schema")
	keySite   = []byte("current")
)

var knownBuckets = map[string]bool{"meta": true, "state": true, "site": true, "kv": true}

// Options configure Open. The zero value is what production uses.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another
	// process. Zero: 1s. Negative: fail at once if locked.
	LockTimeout time.Duration
	// FlushInterval is how long Put lets snapshots coalesce before the
	// writer commits them. Zero: 100ms.
	FlushInterval time.Duration
	// MaxBatch commits at once when this many devices are pending, without
	// waiting for FlushInterval. Zero: 5000.
	MaxBatch int
	// NoSync skips fsync on commit. Tests only: a power cut may lose or
	// corrupt the file.
	NoSync bool
	// SkipCheck skips the consistency check that Open runs on an existing
	// file. Zero: the check runs (it reads every page once).
	SkipCheck bool
	// MoveAsideCorrupt makes Open rename a corrupt file to
	// "<path>.corrupt-<time>" and start with an empty store instead of
	// failing, so that a gateway recovers by itself. Zero: Open fails with
	// ErrCorrupt. Foreign and newer-schema files are never moved.
	MoveAsideCorrupt bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// DB is hubd's store. It implements hub.Store. Its methods are safe for
// concurrent use.
type DB struct {
	path string
	bolt *bolt.DB
	log  *slog.Logger
	opts Options

	w writer

	// created: Open laid out a new store (no file, an empty one, or a
	// corrupt one moved aside to movedAside).
	created    bool
	movedAside string

	closeOnce sync.Once
	closeErr  error
}

var _ hub.Store = (*DB)(nil)

// Open opens or creates the store at path. The parent directory is created
// (mode 0700) when missing and the file is created with mode 0600.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.LockTimeout < 0 {
		// bbolt treats 0 as "wait forever"; the shortest real wait is one
		// poll.
		opts.LockTimeout = time.Millisecond
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 5000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: create directory: %w", path, err)
	}
	b, created, err := openBolt(path, opts)
	var aside string
	if errors.Is(err, ErrCorrupt) && opts.MoveAsideCorrupt {
		aside = fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w (moving it aside failed: %v)", err, rerr)
		}
		syncDir(filepath.Dir(path))
		opts.Logger.Error("store: corrupt database moved aside, starting empty", "path", path, "moved_to", aside, "err", err)
		b, created, err = openBolt(path, opts)
	}
	if err != nil {
		return nil, err
	}
	db := &DB{path: path, bolt: b, log: opts.Logger, opts: opts, created: created, movedAside: aside}
	db.w.init(db)
	go db.w.run()
	return db, nil
}

// openBolt checks the file, opens it, and verifies or creates the schema.
// created reports that it laid out a new store.
func openBolt(path string, opts Options) (b *bolt.DB, created bool, err error) {
	fresh, err := preflight(path)
	if err != nil {
		return nil, false, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, fmt.Errorf("store: open %s: restrict permissions: %w", path, err)
		}
	}

	// bbolt reads the meta and freelist pages during Open and may panic on
	// damaged ones. Capture the file so that a panic does not leak the
	// descriptor, and with it the lock.
	var file *os.File
	bopts := &bolt.Options{
		Timeout:      opts.LockTimeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			file = f
			return f, err
		},
	}
	err = guard(path, "open", func() error {
		var err error
		b, err = bolt.Open(path, 0o600, bopts)
		return err
	})
	if err != nil {
		if b == nil && file != nil && errors.Is(err, ErrCorrupt) {
			file.Close()
		}
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, false, fmt.Errorf("%w: %s is locked by another process (waited %v)", ErrLocked, path, opts.LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		case errors.Is(err, ErrCorrupt):
			return nil, false, err
		}
		return nil, false, fmt.Errorf("store: open %s: %w", path, err)
	}
	if fresh {
		syncDir(filepath.Dir(path))
	}
	created, err = checkSchema(b, path, !opts.SkipCheck)
	if err != nil {
		b.Close()
		return nil, false, err
	}
	return b, created, nil
}

// preflight validates an existing file before bbolt maps it (see
// validateFile). It reports whether the file is new (absent or empty).
func preflight(path string) (fresh bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("store: open %s: not a regular file", path)
	}
	if fi.Size() == 0 {
		return true, nil
	}
	return false, validateFile(path)
}

const boltMagic = 0xED0CDAED

// boltMeta mirrors the meta page layout of bbolt's file format version 2:
// a 16-byte page header, then magic, version, page size, flags, root bucket
// (root page, sequence), freelist page, high-water page, txid, checksum.
type boltMeta struct {
	magic, version, pageSize uint32
	root, freelist, pgid     uint64
	txid, checksum           uint64
	sum                      uint64
}

func (m *boltMeta) valid() bool {
	return m.magic == boltMagic && m.version == 2 && m.checksum == m.sum &&
		m.pageSize >= 512 && m.pageSize <= 1<<16 && m.pageSize&(m.pageSize-1) == 0
}

func readMeta(f *os.File, off int64) (*boltMeta, error) {
	var buf [80]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("file too short")
		}
		return nil, err
	}
	le := binary.LittleEndian
	m := &boltMeta{
		magic:    le.Uint32(buf[16:]),
		version:  le.Uint32(buf[20:]),
		pageSize: le.Uint32(buf[24:]),
		root:     le.Uint64(buf[32:]),
		freelist: le.Uint64(buf[48:]),
		pgid:     le.Uint64(buf[56:]),
		txid:     le.Uint64(buf[64:]),
		checksum: le.Uint64(buf[72:]),
	}
	h := fnv.New64a()
	h.Write(buf[16:72])
	m.sum = h.Sum64()
	return m, nil
}

// checkSchema verifies the meta bucket of an existing file, or lays out an
// empty one, and optionally runs bbolt's consistency check.
func checkSchema(b *bolt.DB, path string, check bool) (created bool, err error) {
	var empty bool
	var version uint32
	err = guard(path, "read schema", func() error {
		return b.View(func(tx *bolt.Tx) error {
			var names []string
			tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, fmt.Sprintf("%q", name))
				return nil
			})
			if len(names) == 0 {
				empty = true
				return nil
			}
			var unknown []string
			for _, n := range names {
				if !knownBuckets[strings.Trim(n, `"`)] {
					unknown = append(unknown, n)
				}
			}
			meta := tx.Bucket(bucketMeta)
			if meta == nil || !bytes.Equal(meta.Get(keyMagic), []byte(magic)) {
				sort.Strings(names)
				return fmt.Errorf("%w: %s has no hubd magic key (buckets: %s)", ErrForeign, path, strings.Join(names, ", "))
			}
			if len(unknown) > 0 {
				return fmt.Errorf("%w: %s has unknown buckets %s", ErrForeign, path, strings.Join(unknown, ", "))
			}
			v := meta.Get(keySchema)
			if len(v) != 4 {
				return fmt.Errorf("%w: %s: schema version is %d bytes, want 4", ErrCorrupt, path, len(v))
			}
			version = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	if err != nil {
		return false, err
	}
	if !empty && version > SchemaVersion {
		return false, fmt.Errorf("%w: %s has schema %d, this hubd reads up to %d", ErrSchemaTooNew, path, version, SchemaVersion)
	}
	if !empty && version == 0 {
		return false, fmt.Errorf("%w: %s: schema version 0", ErrCorrupt, path)
	}
	if !empty && check {
		if err := checkFile(b, path); err != nil {
			return false, err
		}
	}
	if empty || version < SchemaVersion {
		return empty, guard(path, "write schema", func() error {
			return b.Update(func(tx *bolt.Tx) error {
				for _, name := range [][]byte{bucketMeta, bucketState, bucketSite, bucketKV} {
					if _, err := tx.CreateBucketIfNotExists(name); err != nil {
						return err
					}
				}
				// Migrations from older schemas go here, one step per
				// version, before the version is raised.
				meta := tx.Bucket(bucketMeta)
				if err := meta.Put(keyMagic, []byte(magic)); err != nil {
					return err
				}
				var v [4]byte
				binary.BigEndian.PutUint32(v[:], SchemaVersion)
				return meta.Put(keySchema, v[:])
			})
		})
	}
	return false, nil
}

// errRollback ends a write transaction that only held the write lock.
var errRollback = errors.New("store: rollback")

// checkFile validates the page structure (validateFile), then runs bbolt's
// consistency check. Both run inside a write transaction, so that no commit
// changes the file between them.
func checkFile(b *bolt.DB, path string) error {
	err := guard(path, "check", func() error {
		return b.Update(func(tx *bolt.Tx) error {
			if err := validateFile(path); err != nil {
				return err
			}
			var errs []error
			for err := range tx.Check() {
				if len(errs) < 5 {
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%w: %s: consistency check: %w", ErrCorrupt, path, errors.Join(errs...))
			}
			return errRollback
		})
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// guard runs fn and turns a panic in it (bbolt panics on damaged pages, and
// a fault on a mapped page becomes a panic here) into ErrCorrupt.
func guard(path, op string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %s: %v", ErrCorrupt, path, op, r)
		}
	}()
	return fn()
}

// view runs fn in a read transaction under guard.
func (db *DB) view(op string, fn func(tx *bolt.Tx) error) error {
	return closedErr(guard(db.path, op, func() error { return db.bolt.View(fn) }))
}

// update runs fn in a write transaction under guard.
func (db *DB) update(op string, fn func(tx *bolt.Tx) error) error {
	return closedErr(guard(db.path, op, func() error { return db.bolt.Update(fn) }))
}

// closedErr maps bbolt's error for a closed file, met when a call races
// with Close, to ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Path is the file the DB was opened from.
func (db *DB) Path() string { return db.path }

// Size is the file's size in bytes.
func (db *DB) Size() (int64, error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, fmt.Errorf("store: size: %w", err)
	}
	return fi.Size(), nil
}

// Check runs bbolt's consistency check over the whole file.
func (db *DB) Check() error {
	if db.w.isClosed() {
		return ErrClosed
	}
	return checkFile(db.bolt, db.path)
}

// Backup writes a consistent copy of the store to path: a temporary file in
// the same directory, fsynced, then renamed over path.
func (db *DB) Backup(path string) error {
	if db.w.isClosed() {
		return ErrClosed
	}
	return db.view("backup", func(tx *bolt.Tx) error {
		return writeFileAtomic(path, 0o600, func(w io.Writer) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
}

// Close commits what is pending and closes the file. Later calls return the
// first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		err := db.w.close()
		if cerr := db.bolt.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("store: close %s: %w", db.path, cerr)
		}
		db.closeErr = err
	})
	return db.closeErr
}

// writeFileAtomic writes path through a temporary file in its directory,
// fsyncs it, renames it over path and fsyncs the directory, so that a power
// cut leaves either the old file or the new one.
func writeFileAtomic(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename or file creation in dir durable. Errors are ignored:
// some filesystems do not support syncing a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
