package hub

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Found is a device a driver heard of on its bus or broker, configured or
// not: what it is and where it is, in the terms a Device uses.
type Found struct {
	Driver  string `json:"driver"`  // "serial", "mqtt"
	Address string `json:"address"` // as Device.Address: "bus0/5", "tasmota:plug-7"
	Kind    Kind   `json:"kind"`
	Caps    Caps   `json:"-"`
	// Name is what the device calls itself (a Tasmota FriendlyName, a
	// Zigbee2MQTT friendly name), a suggestion for people.
	Name string    `json:"name,omitempty"`
	Info Info      `json:"info"`
	Seen time.Time `json:"seen"`
	// Unsupported, when set, says why the hub can see the device but not
	// drive it yet; such a device can not be adopted.
	Unsupported string `json:"unsupported,omitempty"`
}

// Key identifies a found device across reports.
func (f *Found) Key() string { return f.Driver + " " + f.Address }

// DefaultMaxFound is the size of a Finds table when none is given.
const DefaultMaxFound = 1024

// Finds is the table of found devices, bounded: when it is full a device
// not in it yet is turned away and counted (Dropped), and the ones already
// in it keep being refreshed. A driver that sees a device vanish (a
// Tasmota device clearing its retained discovery message) removes it.
// Safe for concurrent use.
type Finds struct {
	max     int
	dropped atomic.Uint64

	mu sync.Mutex
	m  map[string]Found
}

// NewFinds makes a table of at most max devices; max <= 0: DefaultMaxFound.
func NewFinds(max int) *Finds {
	if max <= 0 {
		max = DefaultMaxFound
	}
	return &Finds{max: max, m: map[string]Found{}}
}

// Put records or refreshes f. It reports false when the table is full and
// f is new.
func (t *Finds) Put(f Found) bool {
	if f.Seen.IsZero() {
		f.Seen = time.Now()
	}
	k := f.Key()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[k]; !ok && len(t.m) >= t.max {
		t.dropped.Add(1)
		return false
	}
	t.m[k] = f
	return true
}

// Remove forgets the device at driver and address.
func (t *Finds) Remove(driver, address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := driver + " " + address
	delete(t.m, k)
}

// Get returns the device at driver and address.
func (t *Finds) Get(driver, address string) (Found, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[driver+" "+address]
	return f, ok
}

// List returns every found device ordered by driver and address.
func (t *Finds) List() []Found {
	t.mu.Lock()
	out := make([]Found, 0, len(t.m))
	for _, f := range t.m {
		out = append(out, f)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Len is how many devices the table holds.
func (t *Finds) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Cap is the table's bound.
func (t *Finds) Cap() int { return t.max }

// Dropped is how many new devices a full table turned away.
func (t *Finds) Dropped() uint64 { return t.dropped.Load() }
