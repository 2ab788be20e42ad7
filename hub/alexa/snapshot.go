package alexa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hubd/hub"
)

// KV key prefixes. Ids of site nodes never contain "/" problems: the key is
// prefix + node id, split at the first "/".
const (
	kvUnit      = "unit/"      // node -> unit id
	kvCommunity = "community/" // node -> home community id
	kvHome      = "home/"      // node -> home id
	kvOrphan    = "orphan/"    // kind "/" id -> node: an object left behind by a moved node, to delete
	kvDevices   = "devices/"   // node -> JSON device set last discovered
	kvSession   = "discovery/" // node -> JSON session record while one runs
	kvDiscState = "dstatus/"   // node -> last final discovery status
	kvEnabled   = "enabled/"   // node -> property unit id the subscription skill was enabled on
)

func kindPrefix(kind string) string {
	switch kind {
	case KindCommunity:
		return kvCommunity
	case KindHome:
		return kvHome
	}
	return kvUnit
}

// remoteObj is a unit, community or home as the API reports it.
type remoteObj struct {
	Kind   string
	ID     string
	Name   string
	Parent string // parent unit, organization or community id
	Level  int
}

// snapshot is what the API holds, read once per plan.
type snapshot struct {
	objs     map[string]remoteObj // by id
	children map[string][]string  // parent id -> child ids
	kv       map[string]string
	// endpoints counts the endpoints of units (and homes) the plan would
	// delete; filled by readEndpoints.
	endpoints map[string]int
	// parentLevel is the level of Options.ParentID (0: the organization).
	parentLevel int
}

// add records an object. Home communities and homes are units too
// (residential doc lines 81, 494), so GET /v2/units lists them: a
// community or home seen again in its own list takes over the unit entry,
// so it is neither adopted, created again nor deleted as a plain unit.
func (s *snapshot) add(o remoteObj) {
	if old, ok := s.objs[o.ID]; ok {
		if old.Kind != KindUnit || o.Kind == KindUnit {
			return
		}
		s.children[old.Parent] = slices.DeleteFunc(s.children[old.Parent], func(id string) bool { return id == o.ID })
	}
	s.objs[o.ID] = o
	s.children[o.Parent] = append(s.children[o.Parent], o.ID)
}

// session is a running discovery session, stored under kvSession.
type session struct {
	Location string    `json:"location"`
	UnitID   string    `json:"unit"`
	Started  time.Time `json:"started"`
	Devices  []string  `json:"devices"`
	Status   string    `json:"status"`
}

// target is a site node as it should appear on the Alexa side.
type target struct {
	node    *hub.Node
	kind    string
	parent  *target // nil: under the configured parent
	depth   int     // 1 for a building
	devices []string
	id      string // computePlan: the object the node has or is adopting ("" until created)
}

// targets maps the site onto Alexa objects, parents first.
func (s *Syncer) targets(site *hub.Site) ([]*target, error) {
	return siteTargets(site, s.opts.Residential)
}

// siteTargets maps a site onto Alexa objects, parents first. With
// residential, a building holding homes is a home community and its homes
// are homes; the nodes between them are structure only, and a node with
// devices that is neither a home nor inside one is refused (ErrCommonArea):
// Alexa for Residential has nothing but communities and homes.
func siteTargets(site *hub.Site, residential bool) ([]*target, error) {
	var out []*target
	var err error
	var walk func(n *hub.Node, parent *target, depth int, inCommunity bool)
	walk = func(n *hub.Node, parent *target, depth int, inCommunity bool) {
		if err != nil {
			return
		}
		if depth > hub.MaxSiteDepth {
			err = fmt.Errorf("%w: node %q is at depth %d", ErrSiteTooDeep, n.ID, depth)
			return
		}
		var t *target
		switch {
		case depth == 1 && residential && hasHome(n):
			t = &target{node: n, kind: KindCommunity, depth: depth}
			inCommunity = true
		case inCommunity && n.Kind == hub.NodeHome:
			t = &target{node: n, kind: KindHome, parent: parent, depth: depth}
		case inCommunity && parent != nil && parent.kind == KindHome:
			// Inside a home: its devices are the home's (DESIGN.md, homes).
			parent.devices = append(parent.devices, n.Devices...)
		case inCommunity:
			if len(n.Devices) > 0 {
				err = commonAreaError(n)
				return
			}
		default:
			t = &target{node: n, kind: KindUnit, parent: parent, depth: depth}
		}
		if t != nil && t.kind == KindCommunity && len(n.Devices) > 0 {
			err = commonAreaError(n)
			return
		}
		next := parent
		if t != nil {
			t.devices = append(t.devices, n.Devices...)
			out = append(out, t)
			next = t
		}
		for _, c := range n.Children {
			walk(c, next, depth+1, inCommunity)
		}
	}
	for _, b := range site.Buildings {
		walk(b, nil, 1, false)
	}
	for _, t := range out {
		slices.Sort(t.devices)
		t.devices = slices.Compact(t.devices)
	}
	return out, err
}

func commonAreaError(n *hub.Node) error {
	return fmt.Errorf("%w: node %q (%s) holds %d device(s) but is neither a home nor inside one; "+
		"Alexa for Residential has only home communities and homes (residential doc lines 5, 301), so they could not reach Alexa: "+
		"move them into a home, or sync this site with residential off", ErrCommonArea, n.ID, n.Name, len(n.Devices))
}

// CheckSite reports whether site can be synced: with residential as in
// Options.Residential, under a parent unit at parentLevel (0: the
// organization, 1: a property). Units may be at most MaxLevel levels below
// the root (units doc line 4), so a building under a property has one level
// less than under the organization.
func CheckSite(site *hub.Site, residential bool, parentLevel int) error {
	tgts, err := siteTargets(site, residential)
	if err != nil {
		return err
	}
	return fitsUnder(tgts, parentLevel)
}

// NeedsSubscriptionSkill reports whether syncing site under the
// organization creates units below a property (a building synced as a
// unit, with children), which Alexa refuses until a subscription skill is
// enabled on the property (REFERENCE.md section 2).
func NeedsSubscriptionSkill(site *hub.Site, residential bool) bool {
	tgts, _ := siteTargets(site, residential)
	for _, t := range tgts {
		if t.parent != nil && t.parent.parent == nil && t.parent.kind == KindUnit {
			return true
		}
	}
	return false
}

// MaxLevel is the deepest level a unit may have; the organization is level 0.
const MaxLevel = 15

// fitsUnder refuses targets whose units would lie deeper than MaxLevel
// under a parent at parentLevel.
func fitsUnder(tgts []*target, parentLevel int) error {
	for _, t := range tgts {
		if t.kind == KindUnit && parentLevel+t.depth > MaxLevel {
			return fmt.Errorf("%w: node %q (%s) would be a unit at level %d (the configured parent is at level %d, the limit is %d)",
				ErrSiteTooDeep, t.node.ID, t.node.Name, parentLevel+t.depth, parentLevel, MaxLevel)
		}
	}
	return nil
}

func hasHome(n *hub.Node) bool {
	if n.Kind == hub.NodeHome {
		return true
	}
	for _, c := range n.Children {
		if hasHome(c) {
			return true
		}
	}
	return false
}

// readSnapshot lists the remote objects under the configured parent and
// confirms mapped ids the lists miss (read-after-write lag).
func (s *Syncer) readSnapshot(ctx context.Context, tgts []*target) (*snapshot, error) {
	kv, err := s.opts.KV.All()
	if err != nil {
		return nil, fmt.Errorf("alexa: read id map: %w", err)
	}
	snap := &snapshot{objs: map[string]remoteObj{}, children: map[string][]string{}, kv: kv,
		endpoints: map[string]int{}}
	units, err := s.client.ListUnits(ctx, ListQuery{ParentID: s.opts.ParentID, All: true, Expand: true})
	if err != nil {
		return nil, fmt.Errorf("alexa: list units under the configured parent: %w", err)
	}
	for _, u := range units {
		snap.add(remoteObj{Kind: KindUnit, ID: u.ID, Name: u.Name, Parent: u.ParentID, Level: u.Level})
	}
	// The level is needed for the subscription skill (is the parent the
	// organization?) and for the depth limit, counted from the root: both
	// concern units only, so a site of home communities and homes alone
	// does not read it.
	if slices.ContainsFunc(tgts, func(t *target) bool { return t.kind == KindUnit }) {
		if snap.parentLevel, err = s.parentLevel(ctx, units); err != nil {
			return nil, err
		}
	}
	residential := s.opts.Residential
	for k := range kv {
		if strings.HasPrefix(k, kvCommunity) || strings.HasPrefix(k, kvHome) {
			residential = true // objects to keep or delete even if the option was turned off
		}
	}
	if residential {
		comms, err := s.client.ListCommunities(ctx, s.opts.ParentID)
		if err != nil {
			return nil, fmt.Errorf("alexa: list home communities: %w", err)
		}
		want := map[string]bool{}
		for _, t := range tgts {
			if t.kind == KindCommunity {
				want[t.node.Name] = true
			}
		}
		owned := ownedIDs(kv)
		for _, c := range comms {
			snap.add(remoteObj{Kind: KindCommunity, ID: c.ID, Name: c.Name, Parent: s.opts.ParentID, Level: 1})
			if !owned[c.ID] && !want[c.Name] {
				continue // someone else's: do not read its homes
			}
			homes, err := s.client.ListHomes(ctx, c.ID)
			if err != nil {
				return nil, fmt.Errorf("alexa: list homes of community %s: %w", c.ID, err)
			}
			for _, h := range homes {
				snap.add(homeObj(h, c.ID))
			}
		}
	}
	// Confirm mapped ids missing from the lists one by one: a fresh create
	// may not be listed yet, and must not be created twice.
	for k, id := range kv {
		kind := ""
		switch {
		case strings.HasPrefix(k, kvUnit):
			kind = KindUnit
		case strings.HasPrefix(k, kvCommunity):
			kind = KindCommunity
		case strings.HasPrefix(k, kvHome):
			kind = KindHome
		case strings.HasPrefix(k, kvOrphan):
			kind, id, _ = strings.Cut(strings.TrimPrefix(k, kvOrphan), "/")
		default:
			continue
		}
		if o, ok := snap.objs[id]; ok || id == "" {
			if ok && o.Kind == KindUnit && kind != KindUnit {
				// A community or home of ours that only the units list
				// showed (the lists lag apart): the id map knows its kind.
				o.Kind = kind
				snap.objs[id] = o
			}
			continue
		}
		o, found, err := s.getObj(ctx, kind, id)
		if err != nil {
			return nil, err
		}
		if found {
			snap.add(o)
		}
	}
	return snap, nil
}

// parentLevel returns the level of the configured parent: a child's level
// minus one when the (expanded) list shows a child, else the level GET
// /v2/units/{ParentID} reports. When the parent cannot be read (404, 403:
// some organizations may not be readable as units), it is taken to be the
// organization, which is what a fresh property tree is created under.
func (s *Syncer) parentLevel(ctx context.Context, units []Unit) (int, error) {
	for _, u := range units {
		if u.ParentID == s.opts.ParentID && u.Level > 0 {
			return u.Level - 1, nil
		}
	}
	u, err := s.client.GetUnit(ctx, s.opts.ParentID)
	switch {
	case err == nil:
		return u.Level, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnauthorized):
		s.log.Warn("alexa: cannot read the configured parent unit; taking it to be the organization (level 0)", "parent", s.opts.ParentID, "err", err)
		return 0, nil
	}
	return 0, fmt.Errorf("alexa: read the level of the configured parent: %w", err)
}

// readEndpoints counts the endpoints of every unit and home the plan would
// delete: Alexa refuses to delete them, and the plan must say so instead.
// A listing that fails (other than by cancellation) leaves the delete to
// the API, which refuses a unit with endpoints anyway.
func (s *Syncer) readEndpoints(ctx context.Context, p Plan, snap *snapshot) error {
	for _, st := range p.Steps {
		if st.Op != OpDelete || st.Kind == KindCommunity {
			continue
		}
		if _, done := snap.endpoints[st.ID]; done {
			continue
		}
		eps, err := s.client.ListEndpoints(ctx, st.ID)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("alexa: list endpoints of %s %s: %w", st.Kind, st.ID, err)
			}
			s.log.Warn("alexa: cannot list endpoints before delete; leaving it to the API", "kind", st.Kind, "id", st.ID, "err", err)
			continue
		}
		snap.endpoints[st.ID] = len(eps)
	}
	return nil
}

func homeObj(h Home, community string) remoteObj {
	if h.HomeCommunityID != "" {
		community = h.HomeCommunityID
	}
	return remoteObj{Kind: KindHome, ID: h.ID, Name: h.Name, Parent: community, Level: 2}
}

// getObj fetches one object; found is false when the API says 404.
func (s *Syncer) getObj(ctx context.Context, kind, id string) (remoteObj, bool, error) {
	var o remoteObj
	var err error
	switch kind {
	case KindCommunity:
		var c Community
		if c, err = s.client.GetCommunity(ctx, id); err == nil {
			o = remoteObj{Kind: KindCommunity, ID: c.ID, Name: c.Name, Parent: c.OrganizationID, Level: 1}
		}
	case KindHome:
		var h Home
		if h, err = s.client.GetHome(ctx, id); err == nil {
			o = homeObj(h, "")
		}
	default:
		var u Unit
		if u, err = s.client.GetUnit(ctx, id); err == nil {
			o = remoteObj{Kind: KindUnit, ID: u.ID, Name: u.Name, Parent: u.ParentID, Level: u.Level}
		}
	}
	if errors.Is(err, ErrNotFound) {
		return remoteObj{}, false, nil
	}
	if err != nil {
		return remoteObj{}, false, fmt.Errorf("alexa: confirm %s %s: %w", kind, id, err)
	}
	o.ID = id
	return o, true, nil
}

// ownedIDs returns every Alexa id the id map holds.
func ownedIDs(kv map[string]string) map[string]bool {
	out := map[string]bool{}
	for k, v := range kv {
		switch {
		case strings.HasPrefix(k, kvUnit), strings.HasPrefix(k, kvCommunity), strings.HasPrefix(k, kvHome):
			out[v] = true
		case strings.HasPrefix(k, kvOrphan):
			_, id, _ := strings.Cut(strings.TrimPrefix(k, kvOrphan), "/")
			out[id] = true
		}
	}
	return out
}

func decodeDevices(v string) []string {
	var d []string
	_ = json.Unmarshal([]byte(v), &d) // a damaged entry reads as "no devices": rediscovery is harmless
	return d
}

func encodeJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
