package store

import (
	"encoding/binary"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"hubd/hub"
)

// QueueOptions bound a Queue. The zero value is usable.
type QueueOptions struct {
	// MaxItems is how many values the queue holds; appending past it drops
	// the oldest. Zero: 100,000.
	MaxItems int
	// MaxBytes is how many value bytes the queue holds; appending past it
	// drops the oldest. Zero: 64 MiB.
	MaxBytes int64
}

// Default bounds of a Queue.
const (
	DefaultQueueItems = 100_000
	DefaultQueueBytes = 64 << 20
)

// QueueItem and QueueStats are the hub's, so that a Queue is what the
// fleet uplink consumes without an adapter.
type (
	QueueItem  = hub.QueueItem
	QueueStats = hub.QueueStats
)

// Queue is a durable first-in first-out queue, for values that must outlive
// an outage and a restart (the fleet uplink's events). Every Append and
// Remove is committed when it returns. It lives in the kv bucket as a
// namespace of its own; its name must not be used with Bucket.
type Queue struct {
	kv   *KV
	opts QueueOptions

	mu    sync.Mutex // serialises writers, guards the counts
	stats QueueStats
}

var (
	queueItems   = []byte("items")   // nested bucket: big-endian seq -> value
	queueDropped = []byte("dropped") // big-endian uint64
)

// Queue opens the durable queue called name.
func (db *DB) Queue(name string, opts QueueOptions) (*Queue, error) {
	if opts.MaxItems <= 0 {
		opts.MaxItems = DefaultQueueItems
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultQueueBytes
	}
	q := &Queue{kv: db.Bucket(name), opts: opts}
	err := q.kv.read("queue open", func(b *bolt.Bucket) error {
		if v := b.Get(queueDropped); len(v) == 8 {
			q.stats.Dropped = binary.BigEndian.Uint64(v)
		}
		items := b.Bucket(queueItems)
		if items == nil {
			return nil
		}
		return items.ForEach(func(k, v []byte) error {
			q.stats.Items++
			q.stats.Bytes += int64(len(v))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// Append adds values at the end, in one transaction, and drops the oldest
// while the queue is over a bound. It returns how many were dropped. A
// value larger than MaxValueSize or MaxBytes is refused with ErrTooLarge
// and nothing is appended.
func (q *Queue) Append(vals [][]byte) (dropped int, err error) {
	for _, v := range vals {
		if len(v) > MaxValueSize || int64(len(v)) > q.opts.MaxBytes {
			return 0, fmt.Errorf("%w: queued value of %d bytes", ErrTooLarge, len(v))
		}
	}
	if len(vals) == 0 {
		return 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	err = q.kv.write("queue append", func(b *bolt.Bucket) error {
		items, err := b.CreateBucketIfNotExists(queueItems)
		if err != nil {
			return err
		}
		var key [8]byte
		for _, v := range vals {
			seq, err := items.NextSequence()
			if err != nil {
				return err
			}
			binary.BigEndian.PutUint64(key[:], seq)
			if err := items.Put(key[:], v); err != nil {
				return err
			}
			st.Items++
			st.Bytes += int64(len(v))
		}
		n, err := q.trim(items, &st)
		if err != nil || n == 0 {
			return err
		}
		dropped = n
		st.Dropped += uint64(n)
		binary.BigEndian.PutUint64(key[:], st.Dropped)
		return b.Put(queueDropped, key[:])
	})
	if err != nil {
		return 0, err
	}
	q.stats = st
	return dropped, nil
}

// trim deletes the oldest items while st is over a bound.
func (q *Queue) trim(items *bolt.Bucket, st *QueueStats) (int, error) {
	n := 0
	c := items.Cursor()
	for k, v := c.First(); k != nil && (st.Items > q.opts.MaxItems || st.Bytes > q.opts.MaxBytes); k, v = c.First() {
		st.Items--
		st.Bytes -= int64(len(v))
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Peek returns up to max of the oldest values after seq (0: from the
// oldest), oldest first, copied out.
func (q *Queue) Peek(after uint64, max int) ([]QueueItem, error) {
	var out []QueueItem
	err := q.kv.read("queue peek", func(b *bolt.Bucket) error {
		items := b.Bucket(queueItems)
		if items == nil {
			return nil
		}
		var from [8]byte
		binary.BigEndian.PutUint64(from[:], after+1)
		c := items.Cursor()
		for k, v := c.Seek(from[:]); k != nil && len(out) < max; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: queue key of %d bytes", ErrBadRecord, len(k))
			}
			out = append(out, QueueItem{Seq: binary.BigEndian.Uint64(k), Value: append([]byte(nil), v...)})
		}
		return nil
	})
	return out, err
}

// Remove deletes every value up to and including seq.
func (q *Queue) Remove(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	err := q.kv.write("queue remove", func(b *bolt.Bucket) error {
		items := b.Bucket(queueItems)
		if items == nil {
			return nil
		}
		c := items.Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, v = c.First() {
			st.Items--
			st.Bytes -= int64(len(v))
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.stats = st
	return nil
}

// Stats reports what the queue holds and has dropped.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}
