// Package store keeps hubd's durable state in one bbolt file: the last
// snapshot of every device, the site tree last applied, and small key/value
// namespaces that other adapters use for their id maps and journals.
//
// Device snapshots arrive at the rate devices report (thousands a second on
// a busy building) while one bbolt commit costs two fsyncs, which on a
// gateway's flash can take tens of milliseconds. DB.Put therefore never
// touches the disk: it records the snapshot in a map keyed by device id, so
// that only the newest snapshot of each device is kept, and one writer
// goroutine commits the map in a single transaction every FlushInterval or as
// soon as MaxBatch devices are pending. Memory stays bounded by the number of
// devices even when the disk stalls. DB.Flush waits for everything put before
// it to be committed.
//
// The file carries a meta bucket with a magic value and a schema version, so
// that a foreign bbolt file or one written by a newer hubd is refused with a
// clear error instead of being misread. Corrupt and truncated files are
// detected before bbolt maps them where possible, and every transaction runs
// under a guard that turns bbolt's panics on damaged pages into errors.
//
// All access goes through View/Update closures; bytes are copied out before a
// transaction ends.
//
// Next to the file, the ledger (OpenLedger, ledger.go) keeps what must
// survive the file's loss: an authenticated journal of revoked credentials
// and a generation that is also kept in the file, so that a file lost,
// damaged or put back from an older copy is found at start and can never
// bring a revoked credential back.
package store
