package alexa

import (
	"maps"
	"sync"
)

// KV persists the id map (site node -> Alexa id), the synced device sets,
// running discovery sessions and a rotated refresh token. The store
// provides one; MemKV is the in-memory one for tests.
type KV interface {
	Get(key string) (string, bool, error)
	Put(key, value string) error
	Delete(key string) error
	All() (map[string]string, error)
}

// MemKV is an in-memory KV, safe for concurrent use.
type MemKV struct {
	mu sync.Mutex
	m  map[string]string
}

var _ KV = (*MemKV)(nil)

// NewMemKV returns an empty MemKV.
func NewMemKV() *MemKV { return &MemKV{m: map[string]string{}} }

// Get returns the value of key.
func (k *MemKV) Get(key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

// Put sets key to value.
func (k *MemKV) Put(key, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = value
	return nil
}

// Delete removes key.
func (k *MemKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

// All returns a copy of every pair.
func (k *MemKV) All() (map[string]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.m), nil
}
