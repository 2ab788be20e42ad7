package store

import (
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Limits of the key/value namespaces.
const (
	MaxNameLen   = 64      // namespace name, bytes
	MaxKeyLen    = 1024    // key, bytes
	MaxValueSize = 1 << 20 // value, bytes
)

func validKey(k string) bool { return k != "" && len(k) <= MaxKeyLen }

// KV is a small durable key/value namespace for an adapter: the Alexa unit
// id map, revoked API tokens, notifier and sync journals. Every write is
// committed when it returns. Adapters declare the subset of methods they use
// as their own interface.
type KV struct {
	db   *DB
	name string
}

// Bucket returns the namespace called name. It is created on first write;
// an invalid name makes every method return ErrInvalidName.
func (db *DB) Bucket(name string) *KV { return &KV{db: db, name: name} }

// Name is the namespace's name.
func (kv *KV) Name() string { return kv.name }

func (kv *KV) check() error {
	if kv.name == "" || len(kv.name) > MaxNameLen {
		return fmt.Errorf("%w: %q (1..%d bytes)", ErrInvalidName, kv.name, MaxNameLen)
	}
	if kv.db.w.isClosed() {
		return ErrClosed
	}
	return nil
}

func checkPair(k, v string) error {
	if !validKey(k) {
		return fmt.Errorf("%w: key of %d bytes (1..%d)", ErrInvalidKey, len(k), MaxKeyLen)
	}
	if len(v) > MaxValueSize {
		return fmt.Errorf("%w: value of %q is %d bytes, limit %d", ErrTooLarge, k, len(v), MaxValueSize)
	}
	return nil
}

// read runs fn on the namespace's bucket, or not at all if it was never
// written.
func (kv *KV) read(op string, fn func(b *bolt.Bucket) error) error {
	if err := kv.check(); err != nil {
		return err
	}
	err := kv.db.view(op, func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketKV)
		if root == nil {
			return fmt.Errorf("%w: %s: kv bucket is missing", ErrCorrupt, kv.db.path)
		}
		if b := root.Bucket([]byte(kv.name)); b != nil {
			return fn(b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", kv.name, op, err)
	}
	return nil
}

// write runs fn on the namespace's bucket, creating it, and commits.
func (kv *KV) write(op string, fn func(b *bolt.Bucket) error) error {
	if err := kv.check(); err != nil {
		return err
	}
	err := kv.db.update(op, func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketKV)
		if root == nil {
			return fmt.Errorf("%w: %s: kv bucket is missing", ErrCorrupt, kv.db.path)
		}
		b, err := root.CreateBucketIfNotExists([]byte(kv.name))
		if err != nil {
			return err
		}
		return fn(b)
	})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", kv.name, op, err)
	}
	return nil
}

// Get returns the value of key and whether it is present.
func (kv *KV) Get(key string) (string, bool, error) {
	if !validKey(key) {
		return "", false, fmt.Errorf("%w: key of %d bytes (1..%d)", ErrInvalidKey, len(key), MaxKeyLen)
	}
	var val string
	var ok bool
	err := kv.read("get", func(b *bolt.Bucket) error {
		if v := b.Get([]byte(key)); v != nil {
			val, ok = string(v), true // string() copies out of the page
		}
		return nil
	})
	return val, ok, err
}

// Put sets key to value.
func (kv *KV) Put(key, value string) error {
	if err := checkPair(key, value); err != nil {
		return err
	}
	return kv.write("put", func(b *bolt.Bucket) error {
		return b.Put([]byte(key), []byte(value))
	})
}

// PutMany sets every key of m in one transaction: all or none.
func (kv *KV) PutMany(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if err := checkPair(k, v); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return kv.check()
	}
	sort.Strings(keys)
	return kv.write("put", func(b *bolt.Bucket) error {
		for _, k := range keys {
			if err := b.Put([]byte(k), []byte(m[k])); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes key; deleting an absent key is not an error.
func (kv *KV) Delete(key string) error {
	if !validKey(key) {
		return fmt.Errorf("%w: key of %d bytes (1..%d)", ErrInvalidKey, len(key), MaxKeyLen)
	}
	return kv.write("delete", func(b *bolt.Bucket) error {
		return b.Delete([]byte(key))
	})
}

// All returns every key and value of the namespace.
func (kv *KV) All() (map[string]string, error) {
	out := map[string]string{}
	err := kv.read("all", func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return nil // a nested bucket: not ours to show
			}
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Clear removes every key of the namespace in one transaction.
func (kv *KV) Clear() error {
	return kv.write("clear", func(b *bolt.Bucket) error {
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if v != nil {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
