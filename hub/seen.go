package hub

import (
	"slices"
	"time"
)

// A report that changes nothing but when the device was last seen (its
// LastSeen and the Updated times of the values it repeated) is the common
// case: a lamp's periodic telemetry says what it said ten seconds before.
// Writing each one to the store would cost a commit per report for a
// timestamp, so such changes are kept in memory, marked seenDirty, and
// handed to the store within Options.SeenEvery, a share of the devices at
// a time (and all at Close).
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

// seenSteps is how many steps persistSeen spreads each SeenEvery over:
// each step puts the seen-only changes of the next share of the devices,
// in id order. Put all at once, the changes of 10,000 devices were a
// burst of 10,000 records for the store (some 5 MB of encoded records,
// tree pages and page buffers held at once, every minute) and rewrote
// every page of the state file in two commits, whose new places the
// next flush then read through the file's memory map: resident memory
// went up by that much at every flush, and by some 4 MB for good. In
// twelve shares each rides along with the store's other commits.
// minSeenStep bounds the steps of a short SeenEvery.
const (
	seenSteps   = 12
	minSeenStep = time.Second
)

// seenStepping is the pause between persistSeen's steps and how many
// shares a SeenEvery of every is cut into.
func seenStepping(every time.Duration) (time.Duration, int) {
	steps := max(1, min(seenSteps, int(every/minSeenStep)))
	return every / time.Duration(steps), steps
}

// persistSeen hands the seen-only changes to the store until the hub
// closes: every device's within SeenEvery, a share of the devices at a
// time (seenSteps).
func (h *Hub) persistSeen(every time.Duration) {
	defer h.wg.Done()
	step, steps := seenStepping(every)
	t := time.NewTicker(step)
	defer t.Stop()
	next := ""
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			next = h.flushSeenShare(next, steps)
		}
	}
}

// seenChunk is how many devices flushSeen puts per hold of the hub's
// lock, so reports wait for a few hundred puts at most.
const seenChunk = 256

// flushSeen puts the snapshot of every device whose last seen-only change
// the store does not have yet: all of them as one share.
func (h *Hub) flushSeen() { h.flushSeenShare("", 1) }

// flushSeenShare puts the seen-only changes of one of steps shares of the
// devices: those from id from on in id order (from the first when from
// is ""), and returns the id the next share starts at ("" after the
// last). A device added or removed meanwhile moves no other device's
// turn by more than a share.
func (h *Hub) flushSeenShare(from string, steps int) string {
	h.mu.RLock()
	order := h.order
	h.mu.RUnlock()
	i, _ := slices.BinarySearch(order, from)
	if i >= len(order) {
		i = 0
	}
	end := min(i+(len(order)+steps-1)/steps, len(order))
	h.flushSeenOf(order[i:end])
	if end >= len(order) {
		return ""
	}
	return order[end]
}

// flushSeenOf puts the seen-only changes of the devices ids. It puts
// while holding the hub's lock, as Apply decides what to put under it: a
// change Apply puts after this is the newer one, so the store never ends
// up with the older snapshot.
func (h *Hub) flushSeenOf(ids []string) {
	for from := 0; from < len(ids); from += seenChunk {
		h.mu.Lock()
		for _, id := range ids[from:min(from+seenChunk, len(ids))] {
			if e, ok := h.devs[id]; ok && e.seenDirty {
				e.seenDirty = false
				h.opts.Store.Put(id, e.snap)
			}
		}
		h.mu.Unlock()
	}
}
