package hub

import (
	"fmt"
	"slices"
	"time"
)

// Scope is what one user of a voice platform may see and control: the
// whole site (staff), or the devices of some homes. The zero Scope covers
// nothing: there is no implicit "everything".
type Scope struct {
	// Staff covers every device of the site, homes and common areas alike.
	Staff bool
	// Homes are ids of site nodes of kind NodeHome; the scope covers the
	// devices of each home's node and of everything under it.
	Homes []string
}

// Covers reports whether a device that sits in the given homes (as
// HomesOf returns them) is in the scope.
func (s Scope) Covers(homes []string) bool {
	if s.Staff {
		return true
	}
	for _, h := range homes {
		if slices.Contains(s.Homes, h) {
			return true
		}
	}
	return false
}

// HasHome reports whether the scope names home (staff names none).
func (s Scope) HasHome(home string) bool { return slices.Contains(s.Homes, home) }

// IsHome reports whether n is a home.
func (n *Node) IsHome() bool { return n.Kind == NodeHome }

// Homes returns every home of the site, parents before children.
func (s *Site) Homes() []*Node {
	var out []*Node
	if s == nil {
		return nil
	}
	s.Walk(func(n, _ *Node, _ int) bool {
		if n.IsHome() {
			out = append(out, n)
		}
		return true
	})
	return out
}

// DevicesUnder returns the ids of the devices of node id and of every node
// under it, or nil when there is no such node.
func (s *Site) DevicesUnder(id string) []string {
	if s == nil {
		return nil
	}
	n := s.Find(id)
	if n == nil {
		return nil
	}
	var out []string
	var walk func(n *Node)
	walk = func(n *Node) {
		out = append(out, n.Devices...)
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return out
}

// homesOf maps each device to the homes it sits in: every home on the path
// from its building down to its node (homes may nest).
func (s *Site) homesOf() map[string][]string {
	out := map[string][]string{}
	var walk func(n *Node, homes []string)
	walk = func(n *Node, homes []string) {
		if n.IsHome() {
			homes = append(homes[:len(homes):len(homes)], n.ID)
		}
		for _, d := range n.Devices {
			if len(homes) > 0 {
				out[d] = homes
			}
		}
		for _, c := range n.Children {
			walk(c, homes)
		}
	}
	for _, b := range s.Buildings {
		walk(b, nil)
	}
	return out
}

// CheckScope returns an error naming the first id of sc.Homes that is not
// a home of the site.
func (s *Site) CheckScope(sc Scope) error {
	for _, id := range sc.Homes {
		n := s.Find(id)
		switch {
		case n == nil:
			return fmt.Errorf("%w: %q is not a site node", ErrNotHome, id)
		case !n.IsHome():
			return fmt.Errorf("%w: site node %q is of kind %q", ErrNotHome, id, n.Kind)
		}
	}
	return nil
}

// HomesOf returns the homes device id sits in (nil for a common area or
// an unknown id).
func (h *Hub) HomesOf(id string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if e, ok := h.devs[id]; ok {
		return slices.Clone(e.homes()) // the entry's own slice stays the hub's
	}
	return nil
}

// InScope reports whether device id exists and sc covers it.
func (h *Hub) InScope(sc Scope, id string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.devs[id]
	return ok && sc.Covers(e.homes())
}

// DevicesIn returns the devices sc covers, ordered by id.
func (h *Hub) DevicesIn(sc Scope) []Device {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]Device, 0, len(h.order))
	for _, id := range h.order {
		if e := h.devs[id]; sc.Covers(e.homes()) {
			out = append(out, e.dev)
		}
	}
	return out
}

// HomeStatus is a home as the people who manage residents see it. It
// never holds a secret.
type HomeStatus struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Devices []string `json:"devices"`
	// Login is the account-linking login name of the home's residents;
	// empty: none was given.
	Login      string    `json:"login,omitempty"`
	LoginSetAt time.Time `json:"login_set_at,omitzero"`
	LoginSetBy string    `json:"login_set_by,omitempty"`
}

// HomeCredentials is a home's new resident login. The password exists
// only in this value: it is shown once and stored hashed.
type HomeCredentials struct {
	Home     string `json:"home"`
	Login    string `json:"login"`
	Password string `json:"password"`
	// Revoked names the accounts whose tokens a check-out revoked.
	Revoked []string `json:"revoked,omitempty"`
}
