package main

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"hubd/store"
)

// bucketAlarms keeps the integrity alarms until a technician acknowledges
// them, so a gateway that restarts (a power cut after the one that lost
// its state) still says what it found.
const bucketAlarms = "integrity-alarms"

// alarmBook is the daemon's alarms: what the ledger found at this start
// and at earlier ones not yet acknowledged, each with the time it was
// found.
type alarmBook struct {
	mu   sync.Mutex
	kv   *store.KV
	list []string
}

// open keeps what this start found in the store and reads every alarm not
// yet acknowledged. A store that can not be written still shows this
// start's findings.
func (b *alarmBook) open(kv *store.KV, found []string, at time.Time, log *slog.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kv = kv
	stamp := at.UTC().Format("2006-01-02T15:04:05.000000000Z")
	var fresh []string
	for i, f := range found {
		if err := kv.Put(fmt.Sprintf("%s#%04d", stamp, i), f); err != nil {
			log.Warn("integrity alarm not kept in the store", "err", err)
		}
		fresh = append(fresh, stamp[:19]+"Z: "+f)
	}
	all, err := kv.All()
	if err != nil {
		log.Warn("earlier integrity alarms not read", "err", err)
		b.list = fresh
		return
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.list = nil
	for _, k := range keys {
		b.list = append(b.list, k[:min(19, len(k))]+"Z: "+all[k])
	}
}

func (b *alarmBook) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.list...)
}

// ack deletes every alarm and returns how many there were.
func (b *alarmBook) ack() (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.list)
	if b.kv != nil {
		if err := b.kv.Clear(); err != nil {
			return 0, fmt.Errorf("hubd: acknowledge alarms: %w", err)
		}
	}
	b.list = nil
	return n, nil
}

// Alarms are what the ledger found, at this start or earlier ones, until
// a technician acknowledges them; for the status page and /healthz.
func (m *Main) Alarms() []string { return m.alarms.get() }

// AckAlarms clears the alarms; user is the technician who did.
func (m *Main) AckAlarms(user string) (int, error) {
	n, err := m.alarms.ack()
	if err == nil {
		m.Log.Info("state integrity: alarms acknowledged", "user", user, "count", n)
	}
	return n, err
}
