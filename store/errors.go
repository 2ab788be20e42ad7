package store

import "errors"

var (
	// ErrLocked is returned by Open when another process (or another DB in
	// this process) holds the file's lock past Options.LockTimeout.
	ErrLocked = errors.New("store: database file is in use")

	// ErrCorrupt is returned when the file is not a bbolt file, is truncated,
	// or has damaged pages.
	ErrCorrupt = errors.New("store: database file is corrupt")

	// ErrForeign is returned by Open when the file is a valid bbolt file that
	// was not written by hubd (no magic key, or buckets hubd does not know).
	ErrForeign = errors.New("store: not a hubd database")

	// ErrSchemaTooNew is returned by Open when the file was written by a newer
	// hubd with a schema this build does not understand.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this hubd")

	// ErrClosed is returned when the DB has been closed.
	ErrClosed = errors.New("store: closed")

	// ErrBadRecord is returned when a stored or supplied record cannot be
	// decoded: garbage, truncated, an unknown version, or out-of-range values.
	ErrBadRecord = errors.New("store: bad record")

	// ErrInvalidName is returned when a key/value namespace name is empty or
	// too long.
	ErrInvalidName = errors.New("store: invalid namespace name")

	// ErrInvalidKey is returned when a key is empty or too long.
	ErrInvalidKey = errors.New("store: invalid key")

	// ErrTooLarge is returned when a value exceeds MaxValueSize.
	ErrTooLarge = errors.New("store: value too large")
)

var (
	// ErrLedger is returned when the ledger's files in the data directory
	// (the integrity key, the revocation journal, the generation sidecar)
	// can not be read or written.
	ErrLedger = errors.New("store: ledger")
)
