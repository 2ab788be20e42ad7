package alexa

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// candidate is an object the plan may delete: mapped to a node that left
// the site, or left behind by a node that moved (orphan).
type candidate struct {
	kind, node, id, key string
	orphan              bool
}

// computePlan compares the targets with the snapshot. It makes no calls.
// The object steps are worked out twice, once to count them and once to
// keep them, so the plan (some 10,000 steps for a 5,000-room site) is
// allocated once at its size rather than grown and copied.
func (s *Syncer) computePlan(tgts []*target, snap *snapshot, now time.Time) Plan {
	fresh := make([]bool, len(tgts)) // the node gets a new object: its discovery records are the old one's
	n := 0
	obj := s.objectSteps(tgts, snap, fresh, func(Step) { n++ })
	var discoveries []int // indexes of targets with a discovery step
	for i, t := range tgts {
		if s.opts.SkillID == "" {
			break // no skill, no discovery
		}
		if _, ok := s.discoveryStep(t, snap, now, fresh[i]); ok {
			discoveries = append(discoveries, i)
		}
	}
	cands := append(obj.cands, leftBehind(snap.kv, obj.wantKeys, obj.cands)...)
	discovering := map[string]bool{} // orphans' nodes with a discovery step in this plan
	for _, c := range cands {
		if c.orphan {
			discovering[c.node] = false
		}
	}
	deletes := planDeletes(cands, snap, obj.wanted, s.markDiscovering(tgts, discoveries, snap, now, fresh, discovering))
	steps := make([]Step, 0, n+len(discoveries)+len(deletes))
	s.objectSteps(tgts, snap, fresh, func(st Step) { steps = append(steps, st) })
	for _, i := range discoveries {
		d, _ := s.discoveryStep(tgts[i], snap, now, fresh[i])
		steps = append(steps, d)
	}
	return Plan{Steps: append(steps, deletes...)}
}

// markDiscovering marks the watched nodes that get a discovery step.
func (s *Syncer) markDiscovering(tgts []*target, discoveries []int, snap *snapshot, now time.Time, fresh []bool, discovering map[string]bool) map[string]bool {
	for _, i := range discoveries {
		t := tgts[i]
		if _, watched := discovering[t.node.ID]; watched {
			d, _ := s.discoveryStep(t, snap, now, fresh[i])
			discovering[t.node.ID] = d.Op == OpDiscover
		}
	}
	return discovering
}

// objectPass is what objectSteps leaves for the rest of the plan.
type objectPass struct {
	wantKeys map[string]bool // the id map's keys the site still has a node for
	wanted   map[string]bool // ids a node of the site keeps or adopts
	cands    []candidate     // objects left behind by moved nodes
}

// objectSteps emits, parents first, each target's create, adopt or rename
// and its subscription skill step, and sets fresh[i] when target i gets a
// new object.
func (s *Syncer) objectSteps(tgts []*target, snap *snapshot, fresh []bool, emit func(Step)) objectPass {
	owned := ownedIDs(snap.kv)
	claimed := map[string]bool{}
	out := objectPass{wantKeys: map[string]bool{}, wanted: map[string]bool{}}
	for i, t := range tgts {
		key := kindPrefix(t.kind) + t.node.ID
		if _, ok := snap.kv[key]; ok {
			out.wantKeys[key] = true
		}
		t.id, fresh[i] = "", false
		parentID, parentKnown, parentNode := s.opts.ParentID, true, ""
		if t.parent != nil {
			parentID = t.parent.id
			parentKnown = parentID != ""
			parentNode = t.parent.node.ID
		}
		id := snap.kv[key]
		o, exists := snap.objs[id]
		if id != "" && exists && o.Kind == t.kind && (o.Parent == "" || (parentKnown && o.Parent == parentID)) {
			t.id = id
			out.wanted[id] = true
			if o.Name != t.node.Name {
				emit(Step{Op: OpRename, Kind: t.kind, Node: t.node.ID, ID: id, Name: t.node.Name, more: &stepMore{oldName: o.Name}})
			}
		} else if adopted := adoptable(t, parentID, parentKnown, snap, owned, claimed); adopted != "" {
			claimed[adopted] = true
			out.wanted[adopted] = true
			t.id = adopted
			fresh[i] = adopted != id
			emit(Step{Op: OpAdopt, Kind: t.kind, Node: t.node.ID, ID: adopted, Name: t.node.Name})
		} else {
			fresh[i] = true
			st := Step{Op: OpCreate, Kind: t.kind, Node: t.node.ID, Name: t.node.Name, Parent: parentNode}
			if id != "" && exists {
				// The node moved (or changed kind): the API cannot move a
				// unit (PUT changes only the name, units doc line 384), so
				// its old object is left behind and deleted once empty.
				st.ID = id
				st.more = &stepMore{reason: "moved"}
				out.cands = append(out.cands, candidate{kind: o.Kind, node: t.node.ID, id: id, key: kvOrphan + o.Kind + "/" + id, orphan: true})
			}
			emit(st)
		}
		for _, st := range s.enableSteps(t, snap, t.id) {
			emit(st)
		}
	}
	return out
}

// adoptable returns an existing, unmapped object of t's kind and name under
// its parent, or "".
func adoptable(t *target, parentID string, parentKnown bool, snap *snapshot, owned, claimed map[string]bool) string {
	if !parentKnown {
		return ""
	}
	for _, cid := range snap.children[parentID] {
		c := snap.objs[cid]
		if c.Kind == t.kind && c.Name == t.node.Name && !owned[cid] && !claimed[cid] {
			return cid
		}
	}
	return ""
}

// leftBehind returns the mapped objects whose node left the site, and the
// orphans of earlier moves not yet in cands.
func leftBehind(kv map[string]string, wantKeys map[string]bool, cands []candidate) []candidate {
	var out []candidate
	for k, v := range kv {
		for _, p := range []string{kvUnit, kvCommunity, kvHome} {
			if strings.HasPrefix(k, p) && !wantKeys[k] {
				out = append(out, candidate{kind: kindOf(p), node: strings.TrimPrefix(k, p), id: v, key: k})
			}
		}
		if strings.HasPrefix(k, kvOrphan) {
			kind, id, _ := strings.Cut(strings.TrimPrefix(k, kvOrphan), "/")
			if !slices.ContainsFunc(cands, func(c candidate) bool { return c.key == k }) {
				out = append(out, candidate{kind: kind, node: v, id: id, key: k, orphan: true})
			}
		}
	}
	return out
}

// planDeletes orders the candidates bottom-up and decides for each: delete,
// forget (gone already), wait (an orphan whose endpoints discovery on the
// moved node's new unit is taking over), or refuse.
func planDeletes(cands []candidate, snap *snapshot, wanted, discovering map[string]bool) []Step {
	rank := map[string]int{KindHome: 0, KindUnit: 1, KindCommunity: 2}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.kind != b.kind {
			return rank[a.kind] - rank[b.kind]
		}
		la, lb := snap.objs[a.id].Level, snap.objs[b.id].Level
		if la != lb {
			return lb - la // deepest first
		}
		return strings.Compare(a.key, b.key)
	})
	var out []Step
	gone, waiting := map[string]bool{}, map[string]bool{}
	for _, c := range cands {
		o, exists := snap.objs[c.id]
		node := c.node
		if c.orphan {
			node = ""
		}
		more := &stepMore{key: c.key, moved: movedNode(c)}
		st := Step{Kind: c.kind, Node: node, ID: c.id, Name: o.Name, more: more}
		left, wait := 0, false
		for _, ch := range snap.children[c.id] {
			if waiting[ch] {
				wait = true
			} else if !gone[ch] {
				left++
			}
		}
		switch eps := snap.endpoints[c.id]; {
		case wanted[c.id] || !exists:
			// Still used by a node of the site (only the stale mapping
			// goes), or already gone.
			gone[c.id] = !exists
			st.Op = OpForget
		case eps > 0 && c.orphan && (discovering[c.node] || sessionRunning(snap, c.node)):
			waiting[c.id] = true
			st.Op, more.reason = OpWait, fmt.Sprintf("its %d endpoint(s) move to the new %s once discovery there finishes", eps, c.kind)
		case eps > 0 && c.orphan:
			st.Op, more.reason = OpSkip, fmt.Sprintf("old %s of moved node %s still has %d endpoint(s) after discovery on its new %s: "+
				"only a person can finish the move: remove them from %s %s in the Alexa Smart Properties console; the next sync deletes it",
				c.kind, c.node, eps, c.kind, c.kind, c.id)
		case eps > 0:
			st.Op, more.reason = OpRefuse, fmt.Sprintf("%s %q still has %d endpoint(s) associated; Alexa cannot delete it: move or remove its endpoints in Alexa first", c.kind, o.Name, eps)
		case wait:
			waiting[c.id] = true
			st.Op, more.reason = OpWait, "deleted after its children, which wait for discovery"
		case left > 0:
			st.Op, more.reason = OpRefuse, "it still has "+strconv.Itoa(left)+" child objects that are not in the site; move or delete them first"
		default:
			gone[c.id] = true
			st.Op = OpDelete
		}
		out = append(out, st)
	}
	return out
}

func movedNode(c candidate) string {
	if c.orphan {
		return c.node
	}
	return ""
}

// sessionRunning reports whether a discovery session is recorded for node.
func sessionRunning(snap *snapshot, node string) bool {
	_, ok := snap.kv[kvSession+node]
	return ok
}

// enableSteps returns the subscription skill step of a property target:
// enable it, or, with no skill configured, refuse (the API would answer
// 403 to every child, units doc line 100).
func (s *Syncer) enableSteps(t *target, snap *snapshot, uid string) []Step {
	if t.kind != KindUnit || t.parent != nil || snap.parentLevel != 0 {
		return nil
	}
	if s.opts.SubscriptionSkillID == "" {
		if len(t.node.Children) == 0 {
			return nil
		}
		return []Step{{Op: OpRefuse, Kind: t.kind, Node: t.node.ID, ID: uid, Name: t.node.Name, more: &stepMore{cause: ErrNoSubscriptionSkill,
			reason: "the configured parent is the organization, so this building is a property unit, and Alexa creates no units under a property " +
				"until a subscription skill is enabled on it: set alexa.subscription_skill_id"}}}
	}
	if uid == "" || snap.kv[kvEnabled+t.node.ID] != uid {
		return []Step{{Op: OpEnable, Kind: t.kind, Node: t.node.ID, ID: uid, Name: t.node.Name}}
	}
	return nil
}

// discoveryStep returns the discovery step for a target, if any.
// fresh: the node gets a new object, so records of discovery on its old
// one do not count.
func (s *Syncer) discoveryStep(t *target, snap *snapshot, now time.Time, fresh bool) (Step, bool) {
	if t.kind == KindCommunity {
		return Step{}, false // a community has no devices of its own
	}
	discover := Step{Op: OpDiscover, Kind: t.kind, Node: t.node.ID, Devices: t.devices}
	if fresh {
		return discover, len(t.devices) > 0
	}
	if raw, ok := snap.kv[kvSession+t.node.ID]; ok {
		var sess session
		if decodeSession(raw, &sess) && now.Before(sess.Started.Add(DiscoverySessionTTL)) {
			if sess.Location == "" {
				// A start whose reply was lost may have started a session
				// no one can see (the API lists none): wait out its hour.
				// No call is made, so the plan has no step; Status shows it.
				return Step{}, false
			}
			return Step{Op: OpPoll, Kind: t.kind, Node: t.node.ID, ID: sess.UnitID, Devices: sess.Devices}, true
		}
	}
	prev, had := snap.kv[kvDevices+t.node.ID]
	if !had && len(t.devices) == 0 {
		return Step{}, false
	}
	if had && slices.Equal(decodeDevices(prev), t.devices) {
		return Step{}, false
	}
	return discover, true
}

func kindOf(prefix string) string {
	switch prefix {
	case kvCommunity:
		return KindCommunity
	case kvHome:
		return KindHome
	}
	return KindUnit
}

func quote(s string) string { return `"` + s + `"` }
