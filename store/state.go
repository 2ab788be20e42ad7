package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"hubd/hub"
)

// Stats describe the snapshot writer, for metrics.
type Stats struct {
	Puts        uint64        // snapshots handed to Put
	Committed   uint64        // snapshots durably committed
	Coalesced   uint64        // snapshots replaced by a newer one of the same device before commit
	Dropped     uint64        // snapshots Put after Close or with an empty or oversize id
	Pending     int           // devices not yet committed (queued or being written)
	Batches     uint64        // successful commits
	WriteErrors uint64        // failed commits (the batch is kept and retried)
	LastError   string        // the last commit error, "" after a success
	LastErrorAt time.Time     // when LastError happened
	LastCommit  time.Duration // duration of the last successful commit
	MaxCommit   time.Duration // longest successful commit
	CommitTime  time.Duration // total time spent in successful commits
	LastBatch   int           // devices in the last successful commit
	BadRecords  uint64        // undecodable records skipped by LoadAll
}

// writer coalesces snapshots and commits them from one goroutine.
type writer struct {
	db *DB

	// pending and flight hold encoded records, not snapshots: a record is
	// a third of a hub.Snapshot's size or less, the map keeps a slice in
	// its own slots (a value over 128 bytes is allocated one by one), and
	// the commit has nothing left to encode.
	mu      sync.Mutex
	pending map[string][]byte
	flight  map[string][]byte // the batch being committed
	scratch []byte            // Put encodes here
	waiters []chan error
	closed  bool
	stats   Stats

	// failNext, when set by a test, makes commits fail as a stuck disk
	// would, inside the real transaction (which is rolled back).
	failNext func() error
	// gathering counts the times the writer began waiting out a flush
	// interval with a batch under MaxBatch: tests wait on it to know
	// that a non-urgent batch was seen and held back.
	gathering atomic.Int64

	wake chan struct{} // something is pending
	kick chan struct{} // commit now: a batch is full or Flush waits
	quit chan struct{}
	done chan error
}

func (w *writer) init(db *DB) {
	w.db = db
	w.pending = make(map[string][]byte)
	w.wake = make(chan struct{}, 1)
	w.kick = make(chan struct{}, 1)
	w.quit = make(chan struct{})
	w.done = make(chan error, 1)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Put queues snap as the newest state of device id. It never waits for the
// disk; the snapshot is committed within FlushInterval. Snapshots put after
// Close are dropped and counted.
func (db *DB) Put(id string, snap hub.Snapshot) {
	w := &db.w
	w.mu.Lock()
	if w.closed || !validKey(id) {
		// A bad id would fail every batch it joined; hub.Device.Validate
		// keeps them out, so this is only misuse.
		w.stats.Dropped++
		w.mu.Unlock()
		return
	}
	w.stats.Puts++
	// Encode into the scratch buffer, then copy over the record this one
	// replaces (pending's records are its own: a commit takes the whole
	// map) or into a new exact-size one.
	w.scratch = appendSnapshot(w.scratch[:0], &snap)
	if old, ok := w.pending[id]; ok {
		w.stats.Coalesced++
		if cap(old) >= len(w.scratch) {
			w.pending[id] = append(old[:0], w.scratch...)
		} else {
			w.pending[id] = bytes.Clone(w.scratch)
		}
	} else {
		w.pending[id] = bytes.Clone(w.scratch)
	}
	n := len(w.pending)
	w.mu.Unlock()
	if n == 1 {
		signal(w.wake)
	}
	if n >= db.opts.MaxBatch {
		signal(w.kick)
	}
}

// Flush waits until every snapshot put before it is committed, and returns
// the commit error if the commit holding them failed (they stay queued and
// are retried).
func (db *DB) Flush() error {
	w := &db.w
	ch := make(chan error, 1)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.waiters = append(w.waiters, ch)
	w.mu.Unlock()
	signal(w.wake)
	signal(w.kick)
	return <-ch
}

// Committed is how many snapshots have been durably committed.
func (db *DB) Committed() uint64 {
	db.w.mu.Lock()
	defer db.w.mu.Unlock()
	return db.w.stats.Committed
}

// Stats returns the writer's counters.
func (db *DB) Stats() Stats {
	db.w.mu.Lock()
	defer db.w.mu.Unlock()
	s := db.w.stats
	s.Pending = len(db.w.pending)
	for id := range db.w.flight {
		if _, ok := db.w.pending[id]; !ok {
			s.Pending++
		}
	}
	return s
}

func (w *writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// close stops accepting snapshots, commits what is pending and stops the
// writer goroutine.
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	return <-w.done
}

func (w *writer) run() {
	interval := w.db.opts.FlushInterval
	t := time.NewTimer(interval)
	t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-w.wake:
		case <-w.kick:
		case <-w.quit:
			w.done <- w.final()
			return
		}
		if !w.urgent() {
			// Let reports of other devices join this batch.
			w.gathering.Add(1)
			t.Reset(interval)
			select {
			case <-t.C:
			case <-w.kick:
				t.Stop()
			case <-w.quit:
				t.Stop()
			}
		}
		if err := w.commit(); err != nil {
			// The batch went back into pending; retry after a pause that
			// grows while the disk keeps failing.
			backoff = min(max(2*backoff, interval), 5*time.Second)
			t.Reset(backoff)
			select {
			case <-t.C:
			case <-w.quit:
				t.Stop()
			}
			signal(w.wake)
			continue
		}
		backoff = 0
		w.mu.Lock()
		more := len(w.pending) > 0 || len(w.waiters) > 0
		w.mu.Unlock()
		if more {
			signal(w.wake)
		}
	}
}

// final commits what is left when the DB closes. Waiters that arrived
// before Close are answered either way.
func (w *writer) final() error {
	err := w.commit()
	if err != nil {
		// One retry: a transient error should not lose the last states.
		err = w.commit()
	}
	w.mu.Lock()
	waiters := w.waiters
	w.waiters = nil
	lost := len(w.pending)
	w.mu.Unlock()
	for _, ch := range waiters {
		ch <- ErrClosed
	}
	if err != nil {
		return fmt.Errorf("store: close %s: %d device states not saved: %w", w.db.path, lost, err)
	}
	return nil
}

func (w *writer) urgent() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiters) > 0 || len(w.pending) >= w.db.opts.MaxBatch
}

type record struct {
	key, val []byte
}

// commit writes every pending snapshot in one transaction and answers the
// waiters registered before it started.
// stateFill is how full the state bucket's pages are left when one
// splits. A device's record is rewritten in place at about the same size,
// and devices come in id order, so pages need little room to grow:
// bbolt's half-full default made twice the pages, each commit wrote more
// of them (a page is written whole), and the store's reads through the
// file's memory map touched more of the file.
const stateFill = 0.9

func (w *writer) commit() error {
	w.mu.Lock()
	batch := w.pending
	waiters := w.waiters
	if len(batch) > 0 {
		w.pending = make(map[string][]byte, len(batch))
		w.flight = batch
	}
	w.waiters = nil
	w.mu.Unlock()

	if len(batch) == 0 {
		for _, ch := range waiters {
			ch <- nil
		}
		return nil
	}
	// Write in key order: bbolt splits fewer pages when keys arrive
	// sorted. The keys share one buffer, as bbolt wants them as bytes.
	recs := make([]record, 0, len(batch))
	n := 0
	for id := range batch {
		n += len(id)
	}
	keys := make([]byte, 0, n)
	for id, val := range batch {
		keys = append(keys, id...)
		recs = append(recs, record{key: keys[len(keys)-len(id):], val: val})
	}
	slices.SortFunc(recs, func(a, b record) int { return bytes.Compare(a.key, b.key) })

	start := time.Now()
	w.mu.Lock()
	fail := w.failNext
	w.mu.Unlock()
	err := w.db.update("commit states", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if b == nil {
			return fmt.Errorf("%w: %s: state bucket is missing", ErrCorrupt, w.db.path)
		}
		b.FillPercent = stateFill
		for _, r := range recs {
			if err := b.Put(r.key, r.val); err != nil {
				return fmt.Errorf("device %q: %w", r.key, err)
			}
		}
		if fail != nil {
			return fail()
		}
		return nil
	})
	took := time.Since(start)

	w.mu.Lock()
	w.flight = nil
	if err != nil {
		err = fmt.Errorf("store: commit %d device states to %s: %w", len(batch), w.db.path, err)
		// Keep the batch unless a newer snapshot arrived meanwhile.
		for id, s := range batch {
			if _, newer := w.pending[id]; !newer {
				w.pending[id] = s
			}
		}
		w.stats.WriteErrors++
		w.stats.LastError = err.Error()
		w.stats.LastErrorAt = time.Now()
	} else {
		w.stats.Committed += uint64(len(batch))
		w.stats.Batches++
		w.stats.LastCommit = took
		w.stats.MaxCommit = max(w.stats.MaxCommit, took)
		w.stats.CommitTime += took
		w.stats.LastBatch = len(batch)
		w.stats.LastError = ""
	}
	w.mu.Unlock()
	if err != nil {
		w.db.log.Error("store: commit failed, will retry", "devices", len(batch), "err", err)
	}
	for _, ch := range waiters {
		ch <- err
	}
	return err
}

// LoadAll returns the last committed snapshot of every device. Records that
// cannot be decoded are skipped, logged and counted in Stats.BadRecords, so
// that one damaged record does not keep the hub from starting.
func (db *DB) LoadAll() (map[string]hub.Snapshot, error) {
	if db.w.isClosed() {
		return nil, ErrClosed
	}
	out := make(map[string]hub.Snapshot)
	var bad []string
	err := db.view("load states", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if b == nil {
			return fmt.Errorf("%w: %s: state bucket is missing", ErrCorrupt, db.path)
		}
		return b.ForEach(func(k, v []byte) error {
			s, err := decodeSnapshot(v)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%q: %v", k, err))
				return nil
			}
			out[string(k)] = s
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load states: %w", err)
	}
	if len(bad) > 0 {
		db.w.mu.Lock()
		db.w.stats.BadRecords += uint64(len(bad))
		db.w.mu.Unlock()
		for _, b := range bad {
			db.log.Warn("store: skipping undecodable device state", "path", db.path, "record", b)
		}
	}
	return out, nil
}

// Delete removes the saved state of a device that left the configuration.
func (db *DB) Delete(id string) error {
	if !validKey(id) {
		return fmt.Errorf("%w: device id of %d bytes", ErrInvalidKey, len(id))
	}
	if db.w.isClosed() {
		return ErrClosed
	}
	db.w.mu.Lock()
	delete(db.w.pending, id)
	db.w.mu.Unlock()
	return db.update("delete state", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if b == nil {
			return fmt.Errorf("%w: %s: state bucket is missing", ErrCorrupt, db.path)
		}
		return b.Delete([]byte(id))
	})
}
