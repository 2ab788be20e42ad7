package alexa

import (
	"fmt"
	"strings"
)

// Op is what one plan step does.
type Op string

const (
	OpCreate   Op = "create"   // create the node's unit, community or home
	OpAdopt    Op = "adopt"    // an existing, unmapped object of the same name and parent: record its id, no call
	OpRename   Op = "rename"   // PUT the new name
	OpDiscover Op = "discover" // start a discovery session: the node's devices changed
	OpPoll     Op = "poll"     // a discovery session is still running: poll it, start none
	OpDelete   Op = "delete"   // delete an object whose node left the site (bottom-up)
	OpForget   Op = "forget"   // the object is already gone: drop it from the id map, no call
	OpRefuse   Op = "refuse"   // a change that must not be made (children or endpoints left): the sync fails
	OpEnable   Op = "enable"   // enable the subscription skill on a property unit before its children are created
	OpSkip     Op = "skip"     // a change hubd may not or cannot make (occupied home, endpoints only a person can move): a warning, not a failure
	OpWait     Op = "wait"     // delete the old object of a moved node once discovery on its new one has taken its endpoints: tried again after this sync's discovery
)

// Object kinds on the Alexa side.
const (
	KindUnit      = "unit"
	KindCommunity = "community"
	KindHome      = "home"
)

// Step is one change of a Plan. A first sync of a 5,000-room site plans
// about 10,000 steps (a create and a discovery per room), so what only
// renames, refusals, skips and deletes need is kept apart (see OldName,
// Reason, Moved): a step is 128 bytes, not 208.
type Step struct {
	Op      Op
	Kind    string   // KindUnit, KindCommunity or KindHome
	Node    string   // site node id ("" for an orphan: a unit left behind by a moved node)
	Name    string   // the name to set (create, rename) or the current one
	ID      string   // Alexa id, when known
	Parent  string   // create: parent node id; "" for the configured parent
	Devices []string // discover: the device set the session is for
	more    *stepMore
}

// stepMore holds what few steps need.
type stepMore struct {
	oldName string // rename: the remote name
	reason  string // refuse, skip, wait: why; create: "moved" when the node's old object is left behind
	moved   string // delete, wait, skip of an orphan: the node that moved away from it
	key     string // delete, forget: the id map key the object is under
	cause   error  // refuse: the sentinel error the step fails with
}

var noMore stepMore

func (s Step) extra() *stepMore {
	if s.more == nil {
		return &noMore
	}
	return s.more
}

// OldName is a rename's remote name.
func (s Step) OldName() string { return s.extra().oldName }

// Reason says why a refuse, skip or wait step is one; a create's is "moved"
// when the node's old object is left behind.
func (s Step) Reason() string { return s.extra().reason }

// Moved is the node that moved away from the object of a delete, wait or
// skip step on an orphan.
func (s Step) Moved() string { return s.extra().moved }

// writes reports whether the step makes a write call.
func (s Step) writes() bool {
	switch s.Op {
	case OpCreate, OpRename, OpDiscover, OpDelete, OpEnable:
		return true
	}
	return false
}

func (s Step) String() string {
	node := s.Node
	if node == "" {
		node = "orphan"
	}
	switch s.Op {
	case OpCreate:
		parent := "the configured parent"
		if s.Parent != "" {
			parent = "node " + s.Parent
		}
		if s.Reason() == "moved" {
			return fmt.Sprintf("create %s %q for node %s under %s (moved: its old %s %s stays until its endpoints have followed)", s.Kind, s.Name, node, parent, s.Kind, s.ID)
		}
		return fmt.Sprintf("create %s %q for node %s under %s", s.Kind, s.Name, node, parent)
	case OpAdopt:
		return fmt.Sprintf("adopt existing %s %s %q for node %s", s.Kind, s.ID, s.Name, node)
	case OpRename:
		return fmt.Sprintf("rename %s %s (node %s) from %q to %q", s.Kind, s.ID, node, s.OldName(), s.Name)
	case OpDiscover:
		return fmt.Sprintf("start discovery for node %s (%d devices: %s)", node, len(s.Devices), strings.Join(s.Devices, ", "))
	case OpPoll:
		return fmt.Sprintf("poll running discovery session for node %s", node)
	case OpDelete:
		if s.Moved() != "" {
			return fmt.Sprintf("delete old %s %s %q of moved node %s", s.Kind, s.ID, s.Name, s.Moved())
		}
		return fmt.Sprintf("delete %s %s %q (node %s)", s.Kind, s.ID, s.Name, node)
	case OpWait:
		what := "node " + node
		if s.Moved() != "" {
			what = "moved node " + s.Moved()
		}
		return fmt.Sprintf("delete old %s %s %q of %s after discovery: %s", s.Kind, s.ID, s.Name, what, s.Reason())
	case OpForget:
		return fmt.Sprintf("forget %s %s (node %s): already gone", s.Kind, s.ID, node)
	case OpRefuse:
		return fmt.Sprintf("refuse to change %s %s %q (node %s): %s", s.Kind, s.ID, s.Name, node, s.Reason())
	case OpEnable:
		id := s.ID
		if id == "" {
			id = "(being created)"
		}
		return fmt.Sprintf("enable the subscription skill on property unit %s %q (node %s)", id, s.Name, node)
	case OpSkip:
		if s.Moved() != "" {
			return fmt.Sprintf("skip deleting old %s %s %q of moved node %s: %s", s.Kind, s.ID, s.Name, s.Moved(), s.Reason())
		}
		return fmt.Sprintf("skip %s %s %q (node %s): %s", s.Kind, s.ID, s.Name, node, s.Reason())
	}
	return fmt.Sprintf("%s %s %s", s.Op, s.Kind, node)
}

// Plan is the list of changes that brings Alexa in line with the site, in
// the order they are applied: creates top-down, renames, discovery, then
// deletes bottom-up.
type Plan struct {
	Steps []Step
}

// Count returns how many steps do op.
func (p Plan) Count(op Op) int {
	n := 0
	for _, s := range p.Steps {
		if s.Op == op {
			n++
		}
	}
	return n
}

// Writes returns how many steps make a write call.
func (p Plan) Writes() int {
	n := 0
	for _, s := range p.Steps {
		if s.writes() {
			n++
		}
	}
	return n
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Steps) == 0 }

// Lines returns one human-readable line per step.
func (p Plan) Lines() []string {
	out := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.String()
	}
	return out
}

// String renders the plan for an operator.
func (p Plan) String() string {
	if p.Empty() {
		return "alexa plan: in sync, nothing to do\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "alexa plan: %d create, %d adopt, %d rename, %d discover, %d delete, %d forget, %d refused, %d polls",
		p.Count(OpCreate), p.Count(OpAdopt), p.Count(OpRename), p.Count(OpDiscover), p.Count(OpDelete),
		p.Count(OpForget), p.Count(OpRefuse), p.Count(OpPoll))
	// Only when present, so plans without them read as before.
	if n := p.Count(OpEnable); n > 0 {
		fmt.Fprintf(&b, ", %d skill enablements", n)
	}
	if n := p.Count(OpSkip); n > 0 {
		fmt.Fprintf(&b, ", %d skipped (warnings)", n)
	}
	if n := p.Count(OpWait); n > 0 {
		fmt.Fprintf(&b, ", %d deletes after discovery", n)
	}
	b.WriteByte('\n')
	for _, l := range p.Lines() {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
