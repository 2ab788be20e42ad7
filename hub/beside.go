package hub

// A gateway keeps 10,000 entries, so what only a few devices have at a
// time is not a field of each entry but lives beside them, in maps on the
// Hub by device id, under h.mu: the commands waiting for a device to
// confirm them (while a command is on its way) and the last capability
// disagreement logged (for devices whose config and reports disagree).
// A device has a key only while it has something (a removed device has
// none), so the report path tests len(h.waiters) before it looks.

// addWaiter makes w wait for a report of device id.
func (h *Hub) addWaiter(id string, w *waiter) {
	if h.waiters == nil {
		h.waiters = map[string][]*waiter{}
	}
	h.waiters[id] = append(h.waiters[id], w)
}

// confirmWaiters releases the waiters of device id that r confirms.
func (h *Hub) confirmWaiters(id string, r *State) {
	ws := h.waiters[id]
	kept := ws[:0]
	for _, w := range ws {
		if Confirms(r, &w.want) {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	h.setWaiters(id, ws, len(kept))
}

// removeWaiter stops w waiting for device id, if it still does.
func (h *Hub) removeWaiter(id string, w *waiter) {
	ws := h.waiters[id]
	for i, x := range ws {
		if x == w {
			copy(ws[i:], ws[i+1:])
			h.setWaiters(id, ws, len(ws)-1)
			return
		}
	}
}

// setWaiters keeps the first n of ws, id's waiters, and clears the rest
// so that no released waiter stays reachable; it drops id's key when none
// is left.
func (h *Hub) setWaiters(id string, ws []*waiter, n int) {
	clear(ws[n:])
	if n == 0 {
		delete(h.waiters, id)
		return
	}
	h.waiters[id] = ws[:n]
}

// newClash records msg as the disagreement last logged for device id and
// reports whether it differs from the one before ("" is none).
func (h *Hub) newClash(id, msg string) bool {
	if msg == h.clashes[id] {
		return false
	}
	if msg == "" {
		delete(h.clashes, id)
		return true
	}
	if h.clashes == nil {
		h.clashes = map[string]string{}
	}
	h.clashes[id] = msg
	return true
}

// besideKept returns the waiters and clashes that stay with the devices of
// a new device set m, as setDevices keeps them: every waiter of a device
// that stays, and its clash while its capability report is carried over.
func (h *Hub) besideKept(m map[string]*entry) (map[string][]*waiter, map[string]string) {
	var waiters map[string][]*waiter
	for id, ws := range h.waiters {
		if e, ok := m[id]; ok {
			if waiters == nil {
				waiters = map[string][]*waiter{}
			}
			waiters[e.dev.ID] = ws
		}
	}
	var clashes map[string]string
	for id, msg := range h.clashes {
		if e, ok := m[id]; ok && !e.reported().Fields.Empty() {
			if clashes == nil {
				clashes = map[string]string{}
			}
			clashes[e.dev.ID] = msg
		}
	}
	return waiters, clashes
}
