package alexa

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// computePlan compares the targets with the snapshot. It makes no calls.
func (s *Syncer) computePlan(tgts []*target, snap *snapshot, now time.Time) Plan {
	var steps, discover, deletes []Step
	owned := ownedIDs(snap.kv)
	claimed := map[string]bool{}
	resolved := map[*target]string{}
	wantKeys := map[string]bool{}
	wanted := map[string]bool{}
	type candidate struct {
		kind, node, id, key string
		orphan              bool
	}
	var cands []candidate

	for _, t := range tgts {
		key := kindPrefix(t.kind) + t.node.ID
		wantKeys[key] = true
		parentID, parentKnown, parentNode := s.opts.ParentID, true, ""
		if t.parent != nil {
			parentID = resolved[t.parent]
			parentKnown = parentID != ""
			parentNode = t.parent.node.ID
		}
		id := snap.kv[key]
		o, exists := snap.objs[id]
		if id != "" && exists && o.Kind == t.kind && (o.Parent == "" || (parentKnown && o.Parent == parentID)) {
			resolved[t] = id
			wanted[id] = true
			if o.Name != t.node.Name {
				if o.ReadOnly {
					steps = append(steps, Step{Op: OpSkip, Kind: t.kind, Node: t.node.ID, ID: id, Name: t.node.Name, OldName: o.Name,
						Reason: "home is " + o.State + " and read-only, rename to " + quote(t.node.Name) +
							" skipped: rename it in Alexa or change the site back to " + quote(o.Name)})
				} else {
					steps = append(steps, Step{Op: OpRename, Kind: t.kind, Node: t.node.ID, ID: id, Name: t.node.Name, OldName: o.Name})
				}
			}
		} else {
			adopted := ""
			if parentKnown {
				for _, cid := range snap.children[parentID] {
					c := snap.objs[cid]
					if c.Kind == t.kind && c.Name == t.node.Name && !owned[cid] && !claimed[cid] {
						adopted = cid
						break
					}
				}
			}
			if adopted != "" {
				claimed[adopted] = true
				wanted[adopted] = true
				resolved[t] = adopted
				steps = append(steps, Step{Op: OpAdopt, Kind: t.kind, Node: t.node.ID, ID: adopted, Name: t.node.Name})
			} else {
				st := Step{Op: OpCreate, Kind: t.kind, Node: t.node.ID, Name: t.node.Name, Parent: parentNode}
				if id != "" && exists {
					// The node moved (or changed kind): its old object is
					// left behind and deleted once empty.
					st.ID = id
					st.Reason = "moved"
					cands = append(cands, candidate{kind: o.Kind, node: t.node.ID, id: id, key: kvOrphan + o.Kind + "/" + id, orphan: true})
				}
				steps = append(steps, st)
			}
		}
		if s.needsEnablement(t, snap) {
			if uid := resolved[t]; uid == "" || snap.kv[kvEnabled+t.node.ID] != uid {
				steps = append(steps, Step{Op: OpEnable, Kind: t.kind, Node: t.node.ID, ID: uid, Name: t.node.Name})
			}
		}
		if s.opts.SkillID != "" && t.kind != KindCommunity {
			discover = append(discover, s.discoveryStep(t, snap, now)...)
		}
	}

	// Deletes: mapped objects whose node left the site, and orphans.
	for k, v := range snap.kv {
		for _, p := range []string{kvUnit, kvCommunity, kvHome} {
			if strings.HasPrefix(k, p) && !wantKeys[k] {
				cands = append(cands, candidate{kind: kindOf(p), node: strings.TrimPrefix(k, p), id: v, key: k})
			}
		}
		if strings.HasPrefix(k, kvOrphan) {
			kind, id, _ := strings.Cut(strings.TrimPrefix(k, kvOrphan), "/")
			if !slices.ContainsFunc(cands, func(c candidate) bool { return c.key == k }) {
				cands = append(cands, candidate{kind: kind, node: v, id: id, key: k, orphan: true})
			}
		}
	}
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
	gone := map[string]bool{}
	for _, c := range cands {
		o, exists := snap.objs[c.id]
		node := c.node
		if c.orphan {
			node = ""
		}
		switch {
		case wanted[c.id]:
			// Still used by a node of the site: only the stale mapping goes.
			deletes = append(deletes, Step{Op: OpForget, Kind: c.kind, Node: node, ID: c.id, key: c.key})
		case !exists:
			gone[c.id] = true
			deletes = append(deletes, Step{Op: OpForget, Kind: c.kind, Node: node, ID: c.id, key: c.key})
		case o.ReadOnly:
			deletes = append(deletes, Step{Op: OpSkip, Kind: c.kind, Node: node, ID: c.id, Name: o.Name,
				Reason: "home is " + o.State + " and read-only, delete skipped: the enterprise cannot delete it; it is deleted once it is vacant"})
		case snap.endpoints[c.id] > 0:
			n := snap.endpoints[c.id]
			deletes = append(deletes, Step{Op: OpRefuse, Kind: c.kind, Node: node, ID: c.id, Name: o.Name,
				Reason: fmt.Sprintf("%s %q still has %d endpoint(s) associated; Alexa cannot delete it: move or remove its endpoints in Alexa first", c.kind, o.Name, n)})
		default:
			left := 0
			for _, ch := range snap.children[c.id] {
				if !gone[ch] {
					left++
				}
			}
			if left > 0 {
				deletes = append(deletes, Step{Op: OpRefuse, Kind: c.kind, Node: node, ID: c.id, Name: o.Name,
					Reason: "it still has " + strconv.Itoa(left) + " child objects that are not in the site; move or delete them first"})
				continue
			}
			gone[c.id] = true
			deletes = append(deletes, Step{Op: OpDelete, Kind: c.kind, Node: node, ID: c.id, Name: o.Name, key: c.key})
		}
	}
	steps = append(steps, discover...)
	steps = append(steps, deletes...)
	return Plan{Steps: steps}
}

// needsEnablement reports whether t is a property (level 1) unit that needs
// the subscription skill: a unit directly under the configured parent when
// that parent is the organization (level 0).
func (s *Syncer) needsEnablement(t *target, snap *snapshot) bool {
	return s.opts.SubscriptionSkillID != "" && t.kind == KindUnit && t.parent == nil && snap.parentLevel == 0
}

// discoveryStep returns the discovery step for a target, if any.
func (s *Syncer) discoveryStep(t *target, snap *snapshot, now time.Time) []Step {
	if raw, ok := snap.kv[kvSession+t.node.ID]; ok {
		var sess session
		if decodeSession(raw, &sess) && now.Before(sess.Started.Add(DiscoverySessionTTL)) {
			if sess.Location == "" {
				// A start whose reply was lost may have started a session
				// no one can see (the API lists none): wait out its hour.
				// No call is made, so the plan has no step; Status shows it.
				return nil
			}
			return []Step{{Op: OpPoll, Kind: t.kind, Node: t.node.ID, ID: sess.UnitID, Devices: sess.Devices}}
		}
	}
	prev, had := snap.kv[kvDevices+t.node.ID]
	if !had && len(t.devices) == 0 {
		return nil
	}
	if had && slices.Equal(decodeDevices(prev), t.devices) {
		return nil
	}
	return []Step{{Op: OpDiscover, Kind: t.kind, Node: t.node.ID, Devices: slices.Clone(t.devices)}}
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
