package hub

import "slices"

// walkChunk is how many devices Walk copies under one hold of the read
// lock. A Device and its Snapshot are about 500 bytes, so a chunk's
// buffer fits the 16 KB size class (under the 32 KB past which the
// runtime allocates each object on its own), and a 10,000-device walk
// takes the lock some 300 times instead of once per device.
const walkChunk = 32

// walkPair is one device of a chunk, as Walk hands it to fn.
type walkPair struct {
	dev  Device
	snap Snapshot
}

// Walk calls fn with every device and what is known of it now, ordered by
// id as Devices is, until fn returns false. It copies the devices a chunk
// at a time under the read lock into one small buffer and calls fn with
// the lock released, so a walk of a 10,000-device gateway neither copies
// the whole list nor takes the lock once per device, and fn may call back
// into the hub (Snapshot, Apply, even Reconfigure).
//
// d and s point into that buffer: they are valid until fn returns, and fn
// must copy what it keeps (strings and the slices a Device holds are the
// hub's and may be kept).
//
// Each chunk is consistent in itself, the walk as a whole is not: a
// report applied meanwhile may or may not be seen, as with Devices
// followed by a Snapshot each. After a reload the walk goes on after the
// last device it visited, in the new device set: each device is visited
// at most once, one added or removed meanwhile may or may not be.
func (h *Hub) Walk(fn func(d *Device, s *Snapshot) bool) {
	var buf []walkPair
	var last string // the last id visited; "" before the first chunk
	for first := true; ; first = false {
		h.mu.RLock()
		i := 0
		if !first {
			var found bool
			i, found = slices.BinarySearch(h.order, last)
			if found {
				i++
			}
		}
		n := min(len(h.order)-i, walkChunk)
		if buf == nil {
			buf = make([]walkPair, 0, n)
		}
		buf = buf[:0]
		for _, id := range h.order[i : i+n] {
			e := h.devs[id]
			buf = append(buf, walkPair{e.dev, e.snap})
		}
		h.mu.RUnlock()
		for k := range buf {
			if !fn(&buf[k].dev, &buf[k].snap) {
				return
			}
		}
		if len(buf) < walkChunk {
			return
		}
		last = buf[len(buf)-1].dev.ID
	}
}
