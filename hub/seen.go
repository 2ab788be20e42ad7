package hub

import "time"

// A report that changes nothing but when the device was last seen (its
// LastSeen and the Updated times of the values it repeated) is the common
// case: a lamp's periodic telemetry says what it said ten seconds before.
// Writing each one to the store would cost a commit per report for a
// timestamp, so such changes are kept in memory, marked seenDirty, and
// handed to the store together once per Options.SeenEvery (and at Close).
// Every other change (a value, online or offline, identity) is handed over
// at once, carrying the newest LastSeen with it. Queries, the status page
// and subscribers read the hub's memory, so none of them sees an older
// time; only a hub restarted after a power cut may load a LastSeen up to
// SeenEvery older than the device's last report.

// defaultSeenEvery is Options.SeenEvery's zero value.
const defaultSeenEvery = time.Minute

// seenEvery is how often seen-only changes reach the store; zero: each
// report, as every other change.
func (h *Hub) seenEvery() time.Duration {
	if h.opts.Store == nil || h.opts.SeenEvery < 0 {
		return 0
	}
	return h.opts.SeenEvery
}

// persistSeen hands the seen-only changes to the store every SeenEvery
// until the hub closes.
func (h *Hub) persistSeen(every time.Duration) {
	defer h.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.flushSeen()
		}
	}
}

// seenChunk is how many devices flushSeen puts per hold of the hub's
// lock, so reports wait for a few hundred puts at most.
const seenChunk = 256

// flushSeen puts the snapshot of every device whose last seen-only change
// the store does not have yet. It puts while holding the hub's lock, as
// Apply decides what to put under it: a change Apply puts after this is
// the newer one, so the store never ends up with the older snapshot.
func (h *Hub) flushSeen() {
	h.mu.RLock()
	order := h.order
	h.mu.RUnlock()
	for from := 0; from < len(order); from += seenChunk {
		h.mu.Lock()
		for _, id := range order[from:min(from+seenChunk, len(order))] {
			if e, ok := h.devs[id]; ok && e.seenDirty {
				e.seenDirty = false
				h.opts.Store.Put(id, e.snap)
			}
		}
		h.mu.Unlock()
	}
}
