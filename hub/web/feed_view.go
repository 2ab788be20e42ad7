package web

import (
	"fmt"
	"sync"
	"time"

	"hubd/hub"
)

// client is one live-feed stream and the view it follows: the query of the
// page its viewer shows and the ids of that page's devices. Only changes
// of those devices are sent to it; a change that may move another device
// into or out of its query earns it a "list" hint, to fetch its page again.
type client struct {
	ch    chan []byte
	gone  chan struct{} // closed when the feed drops the client
	addr  string        // hub.AddrKey of the client's address
	id    string        // names the stream in GET /api/devices?feed=
	owner string        // the session it was opened in; "": none

	mu      sync.Mutex
	q       deviceQuery
	ids     map[string]struct{}  // at most Options.MaxFeedDevices
	seen    map[string]time.Time // last-seen times sent, of ids
	hintDue bool                 // a "list" hint waits
	hintAt  time.Time            // when the last one was sent
	ver     uint64               // moved by every setView
}

// setView makes q, and the page of it with ids, what c follows.
func (c *client) setView(q deviceQuery, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ver++
	c.applyView(q, ids)
}

// keepView is setView for a fresh page of view version ver, which stays
// the version: a page the viewer asked for meanwhile stands.
func (c *client) keepView(ver uint64, q deviceQuery, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ver == ver {
		c.applyView(q, ids)
	}
}

// view is what c follows, and its version. c.mu is not held.
func (c *client) view() (deviceQuery, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q, c.ver
}

// applyView sets the view; c.mu is held.
func (c *client) applyView(q deviceQuery, ids []string) {
	c.q = q
	c.ids = make(map[string]struct{}, len(ids))
	for _, id := range ids {
		c.ids[id] = struct{}{}
	}
	c.seen = map[string]time.Time{}
	c.hintDue = false
}

// deltas is c's part of a flush: the messages of the dirty devices it
// shows. A device whose class changed and that matches c's words and room
// makes a hint due, when c's query filters or orders by class.
func (c *client) deltas(dirty map[string]struct{}, changed []string, idx *devIndex, msg func(id string) []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var buf []byte
	if len(dirty) <= len(c.ids) {
		for id := range dirty {
			if _, ok := c.ids[id]; ok {
				buf = append(buf, msg(id)...)
			}
		}
	} else {
		for id := range c.ids {
			if _, ok := dirty[id]; ok {
				buf = append(buf, msg(id)...)
			}
		}
	}
	if c.hintDue || !c.q.dynamic() {
		return buf
	}
	for _, id := range changed {
		if e := idx.entry(id); e != nil && c.q.matchStatic(e) {
			c.hintDue = true
			break
		}
	}
	return buf
}

// hintNow reports whether a hint is due and may go at now, and if so
// counts it sent.
func (c *client) hintNow(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hintDue || now.Sub(c.hintAt) < headerEvery {
		return false
	}
	c.hintDue, c.hintAt = false, now
	return true
}

// seenSince returns the last-seen times of c's devices that moved since
// the last tick; nil when none did.
func (c *client) seenSince(h *hub.Hub) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]time.Time
	for id := range c.ids {
		_, snap, ok := h.Snapshot(id)
		if !ok || snap.LastSeen.Equal(c.seen[id]) {
			continue
		}
		c.seen[id] = snap.LastSeen
		if out == nil {
			out = map[string]time.Time{}
		}
		out[id] = snap.LastSeen
	}
	return out
}

// find returns the stream named id for a viewer: a stream opened in a
// session answers only to that session; one opened without may be steered
// by anyone who may view (its id is the secret).
func (f *feed) find(id, viewer string) (*client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.byID[id]
	if !ok || (c.owner != "" && c.owner != viewer) {
		return nil, fmt.Errorf("%w: no live feed %q", hub.ErrNotFound, id)
	}
	return c, nil
}

// entry returns the index entry of device id, or nil.
func (idx *devIndex) entry(id string) *devEntry {
	i, ok := idx.byID[id]
	if !ok {
		return nil
	}
	return &idx.entries[i]
}

// classes is every device's class now, the feed's starting point.
func (s *Server) classes() map[string]devClass {
	l := s.links()
	idx := s.index()
	out := make(map[string]devClass, len(idx.entries))
	for _, e := range idx.entries {
		if c, ok := s.classOf(e.id, &l); ok {
			out[e.id] = c
		}
	}
	return out
}
