package alexa

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// boltKV is a KV in a bbolt file, as the daemon's store gives the Syncer
// (store.KV; hub/alexa may not import store): the id map lives in the
// file's pages, not in the Go heap, so the memory benchmark sees the heap
// the daemon would. It skips fsync (NoSync): that changes the time of each
// write, not what the heap holds.
type boltKV struct{ db *bolt.DB }

var _ KV = (*boltKV)(nil)

var boltKVBucket = []byte("alexa")

func newBoltKV(tb testing.TB) *boltKV {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "alexa.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(boltKVBucket); return err }); err != nil {
		tb.Fatal(err)
	}
	return &boltKV{db: db}
}

func (k *boltKV) Get(key string) (v string, ok bool, err error) {
	err = k.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(boltKVBucket).Get([]byte(key)); b != nil {
			v, ok = string(b), true
		}
		return nil
	})
	return v, ok, err
}

func (k *boltKV) Put(key, value string) error {
	return k.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltKVBucket).Put([]byte(key), []byte(value)) })
}

func (k *boltKV) Delete(key string) error {
	return k.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltKVBucket).Delete([]byte(key)) })
}

func (k *boltKV) All() (map[string]string, error) {
	out := map[string]string{}
	err := k.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltKVBucket).ForEach(func(key, v []byte) error {
			out[string(key)] = string(v)
			return nil
		})
	})
	return out, err
}
