package hub

import "fmt"

// MaxSiteDepth is the deepest a site tree may go (building at depth 1).
// It matches the Alexa property hierarchy's limit of 15 levels of units.
const MaxSiteDepth = 15

// NodeKind says what a site node is. The Alexa reconciler maps buildings to
// property units (or home communities) and homes to residential homes.
type NodeKind string

const (
	NodeBuilding NodeKind = "building"
	NodeFloor    NodeKind = "floor"
	NodeWing     NodeKind = "wing"
	NodeRoom     NodeKind = "room"
	NodeHome     NodeKind = "home" // an apartment: an Alexa for Residential home
)

// Node is one place in the building: a building, floor, room or home.
type Node struct {
	ID       string // stable local id; never shown to voice platforms
	Name     string
	Kind     NodeKind
	Devices  []string // ids of the devices in this place
	Children []*Node
}

// Site is the building's room tree. A gateway may serve several buildings.
type Site struct {
	Buildings []*Node
}

// Walk calls fn for every node, parents before children, with the node's
// parent (nil for a top-level node) and depth (1 for a top-level node). It
// stops early when fn returns false.
func (s *Site) Walk(fn func(n, parent *Node, depth int) bool) {
	var walk func(n, p *Node, d int) bool
	walk = func(n, p *Node, d int) bool {
		if !fn(n, p, d) {
			return false
		}
		for _, c := range n.Children {
			if !walk(c, n, d+1) {
				return false
			}
		}
		return true
	}
	for _, b := range s.Buildings {
		if !walk(b, nil, 1) {
			return
		}
	}
}

// Find returns the node with the given id.
func (s *Site) Find(id string) *Node {
	var found *Node
	s.Walk(func(n, _ *Node, _ int) bool {
		if n.ID == id {
			found = n
			return false
		}
		return true
	})
	return found
}

// RoomOf returns the node that holds device id, and the path of nodes from
// its building down to it.
func (s *Site) RoomOf(id string) (*Node, []*Node) {
	var path []*Node
	var find func(n *Node) bool
	find = func(n *Node) bool {
		path = append(path, n)
		for _, d := range n.Devices {
			if d == id {
				return true
			}
		}
		for _, c := range n.Children {
			if find(c) {
				return true
			}
		}
		path = path[:len(path)-1]
		return false
	}
	for _, b := range s.Buildings {
		if find(b) {
			return path[len(path)-1], path
		}
	}
	return nil, nil
}

// Paths returns RoomOf's path for every device the site places, in one
// walk of the tree: RoomOf searches the tree, so asking it for each
// device of a site of 10,000 costs 10,000 searches through all of them.
// Devices of the same node share its path; callers must not modify it.
func (s *Site) Paths() map[string][]*Node {
	out := map[string][]*Node{}
	var walk func(n *Node, above []*Node)
	walk = func(n *Node, above []*Node) {
		path := append(above[:len(above):len(above)], n) // a copy: siblings do not share it
		for _, d := range n.Devices {
			if _, seen := out[d]; !seen { // RoomOf's answer: the first node in walk order
				out[d] = path
			}
		}
		for _, c := range n.Children {
			walk(c, path)
		}
	}
	for _, b := range s.Buildings {
		walk(b, nil)
	}
	return out
}

// Validate checks that ids are unique and non-empty, names are non-empty,
// the tree is at most MaxSiteDepth deep, and each device sits in one node.
// known, when not nil, reports whether a device id is configured.
func (s *Site) Validate(known func(id string) bool) error {
	ids := map[string]bool{}
	devs := map[string]string{}
	var err error
	s.Walk(func(n, _ *Node, depth int) bool {
		switch {
		case n.ID == "":
			err = fmt.Errorf("%w: a node named %q has no id", ErrInvalidSite, n.Name)
		case ids[n.ID]:
			err = fmt.Errorf("%w: node id %q is used twice", ErrInvalidSite, n.ID)
		case n.Name == "":
			err = fmt.Errorf("%w: node %q has no name", ErrInvalidSite, n.ID)
		case depth > MaxSiteDepth:
			err = fmt.Errorf("%w: node %q is at depth %d, deeper than %d levels", ErrInvalidSite, n.ID, depth, MaxSiteDepth)
		}
		if err != nil {
			return false
		}
		ids[n.ID] = true
		for _, d := range n.Devices {
			if prev, ok := devs[d]; ok {
				err = fmt.Errorf("%w: device %q is in both %q and %q", ErrInvalidSite, d, prev, n.ID)
				return false
			}
			if known != nil && !known(d) {
				err = fmt.Errorf("%w: node %q lists unknown device %q", ErrInvalidSite, n.ID, d)
				return false
			}
			devs[d] = n.ID
		}
		return true
	})
	return err
}
