package alexa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"hubd/hub"
)

// Syncer keeps one site in sync with one organization (or property).
type Syncer struct {
	opts   Options
	client *Client
	log    *slog.Logger

	run sync.Mutex // one Plan or Sync at a time

	mu     sync.Mutex
	site   *hub.Site
	status hub.SyncStatus
	// applying is the plan Sync is applying; Status renders its lines when
	// first asked instead of Sync keeping a second copy of a 10,000-step
	// plan as text, and keeps them in applyingLines until the sync ends:
	// the status page, its live feed and /metrics ask on every device
	// change and scrape, and rendering 10,000 lines each time cost more
	// than keeping them once.
	applying      *Plan
	applyingLines []string
	disc          map[string]string // node -> last discovery status
	// nodeWarn holds the last sync's warning per node (an occupied home).
	nodeWarn map[string]string
}

// Result sums up one Sync.
type Result struct {
	Plan     Plan     // the plan that was applied
	Applied  int      // steps that succeeded
	Failed   int      // steps that failed
	Calls    uint64   // API calls this sync made (retries included)
	Sessions []string // final discovery statuses reached, "node: STATUS"
	Errors   []string // one line per failed step
	Warnings []string // one line per step skipped on purpose (OpSkip)
}

// New returns a Syncer for site. site must be valid (see hub.Site.Validate)
// and at most 15 levels deep.
func New(site *hub.Site, opts Options) (*Syncer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.ParentID == "" {
		return nil, fmt.Errorf("%w: the parent unit (organization or property) id is required", ErrNotConfigured)
	}
	s := &Syncer{opts: o, client: newClient(o), log: o.Logger, disc: map[string]string{}}
	if err := s.SetSite(site); err != nil {
		return nil, err
	}
	s.status.Enabled = true
	s.status.Plan = []string{}
	return s, nil
}

// Client returns the Syncer's API client.
func (s *Syncer) Client() *Client { return s.client }

// SetSite replaces the site (on config reload); the next Plan or Sync uses it.
func (s *Syncer) SetSite(site *hub.Site) error {
	if site == nil {
		return fmt.Errorf("%w: no site", ErrNotConfigured)
	}
	if err := site.Validate(nil); err != nil {
		if errors.Is(err, hub.ErrInvalidSite) && deeper(site) {
			return fmt.Errorf("%w: %w", ErrSiteTooDeep, err)
		}
		return fmt.Errorf("alexa: %w", err)
	}
	if _, err := siteTargets(site, s.opts.Residential); err != nil {
		return err
	}
	s.mu.Lock()
	s.site = site
	s.status.Units = nil // rebuilt from the new site on the next Status
	s.mu.Unlock()
	return nil
}

func deeper(site *hub.Site) bool {
	deep := false
	site.Walk(func(_, _ *hub.Node, d int) bool {
		deep = d > hub.MaxSiteDepth
		return !deep
	})
	return deep
}

// Plan reads the Alexa side and returns what Sync would do. It writes
// nothing, neither to Alexa nor to the id map.
func (s *Syncer) Plan(ctx context.Context) (Plan, error) {
	s.run.Lock()
	defer s.run.Unlock()
	p, _, err := s.plan(ctx)
	if err != nil {
		s.setError(err)
		return Plan{}, err
	}
	s.mu.Lock()
	s.status.Plan = p.Lines()
	s.mu.Unlock()
	return p, nil
}

func (s *Syncer) plan(ctx context.Context) (Plan, *snapshot, error) {
	s.mu.Lock()
	site := s.site
	s.mu.Unlock()
	tgts, err := s.targets(site)
	if err != nil {
		return Plan{}, nil, err
	}
	snap, err := s.readSnapshot(ctx, tgts)
	if err != nil {
		return Plan{}, nil, err
	}
	if err := fitsUnder(tgts, snap.parentLevel); err != nil {
		return Plan{}, nil, err
	}
	now := s.opts.Now()
	p := s.computePlan(tgts, snap, now)
	if p.Count(OpDelete) == 0 {
		return p, snap, nil
	}
	// Units with endpoints cannot be deleted: look, then plan again so a
	// refused unit also keeps its parent.
	if err := s.readEndpoints(ctx, p, snap); err != nil {
		return Plan{}, nil, err
	}
	return s.computePlan(tgts, snap, now), snap, nil
}

// Sync brings Alexa in line with the site: it plans, applies the plan
// (recording each new id before the next call), then polls the discovery
// sessions it started. A failed step does not stop the others; the error
// then wraps ErrSyncFailed and joins the step errors.
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	s.run.Lock()
	defer s.run.Unlock()
	start := s.client.Calls()
	s.mu.Lock()
	s.status.Running = true
	s.status.LastRun = s.opts.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.status.Running = false
		s.status.Calls = s.client.Calls()
		s.status.CallsFailed = s.client.CallsFailed()
		s.mu.Unlock()
	}()

	p, snap, err := s.plan(ctx)
	if err != nil {
		s.setError(err)
		return Result{Calls: s.client.Calls() - start}, err
	}
	s.mu.Lock()
	s.applying, s.applyingLines, s.status.Plan = &p, nil, nil
	s.mu.Unlock()
	if !p.Empty() {
		s.log.Info("alexa: applying plan", "creates", p.Count(OpCreate), "renames", p.Count(OpRename),
			"deletes", p.Count(OpDelete), "discoveries", p.Count(OpDiscover))
	}
	res := Result{Plan: p}
	a := &applier{s: s, snap: snap, polls: sessionNodes(snap.kv), notEnabled: map[string]bool{}, kept: map[string]bool{}}
	out := a.applyAll(ctx, p, &res)
	errs, pending := out.errs, out.pending
	if s.opts.SkillID != "" {
		sessions, perr := s.pollSessions(ctx, a.polls)
		res.Sessions = sessions
		errs = append(errs, perr...)
	}
	for _, st := range out.waits {
		if !a.finishMove(ctx, st) {
			pending = append(pending, st.String())
		}
	}
	res.Calls = s.client.Calls() - start
	s.mu.Lock()
	s.nodeWarn = out.nodeWarn
	s.status.Units = nil // Status rebuilds them from the id map when next asked
	s.applying, s.applyingLines = nil, nil
	s.status.Plan = append([]string{}, pending...)
	s.status.Warnings = slices.Clone(res.Warnings)
	s.mu.Unlock()
	if len(errs) > 0 {
		err := fmt.Errorf("%w: %w", ErrSyncFailed, errors.Join(errs...))
		s.setError(err)
		return res, err
	}
	s.mu.Lock()
	s.status.LastError = ""
	s.status.LastOK = s.opts.Now()
	s.mu.Unlock()
	return res, nil
}

// Run syncs now and then every interval until ctx is done. Errors are
// logged and kept in Status; after ErrInvalidGrant it keeps its schedule
// but the token endpoint is not called again until the refresh token
// changes.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 15 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Sync(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("alexa: sync failed", "err", err, "applied", res.Applied, "failed", res.Failed)
		case err == nil && !res.Plan.Empty():
			s.log.Info("alexa: sync done", "applied", res.Applied, "calls", res.Calls)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Status describes the sync for the status page. It makes no calls.
func (s *Syncer) Status() hub.SyncStatus {
	s.mu.Lock()
	empty := s.status.Units == nil
	s.mu.Unlock()
	if empty {
		s.refreshUnits()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Calls = s.client.Calls()
	st.CallsFailed = s.client.CallsFailed()
	st.Plan = slices.Clone(st.Plan)
	if s.applying != nil {
		if s.applyingLines == nil {
			s.applyingLines = s.applying.Lines()
		}
		st.Plan = slices.Clone(s.applyingLines)
	}
	st.Warnings = slices.Clone(st.Warnings)
	st.Units = slices.Clone(st.Units)
	return st
}

func (s *Syncer) setError(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

// refreshUnits rebuilds the per-node status from the site and the id map.
func (s *Syncer) refreshUnits() {
	kv, err := s.opts.KV.All()
	if err != nil {
		s.log.Warn("alexa: read id map for status", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	units := []hub.UnitStatus{}
	s.site.Walk(func(n, _ *hub.Node, _ int) bool {
		u := hub.UnitStatus{Node: n.ID, Name: n.Name}
		for _, p := range []string{kvUnit, kvHome, kvCommunity} {
			if id := kv[p+n.ID]; id != "" {
				u.UnitID = id
				break
			}
		}
		u.Discovery = kv[kvDiscState+n.ID]
		u.Warning = s.nodeWarn[n.ID]
		if raw, ok := kv[kvSession+n.ID]; ok {
			var sess session
			if decodeSession(raw, &sess) {
				u.Discovery = sess.Status
				if sess.Location == "" {
					u.Discovery = DiscoveryStatusReplyLost
				}
			}
		}
		units = append(units, u)
		return true
	})
	s.status.Units = units
}

// decodeSession decodes a session record: a running session (with its
// Location) or a start whose outcome is unknown (no Location, but the time
// the start was attempted).
func decodeSession(raw string, sess *session) bool {
	return json.Unmarshal([]byte(raw), sess) == nil && (sess.Location != "" || !sess.Started.IsZero())
}

// applied is what applyAll leaves for the rest of Sync.
type applied struct {
	errs     []error
	pending  []string          // steps not done, for the status page
	waits    []Step            // deletes to try after discovery (OpWait)
	nodeWarn map[string]string // node -> its warning
}

// applyAll applies the plan's steps in order; a failed step does not stop
// the others. Skips and read-only homes become warnings.
func (a *applier) applyAll(ctx context.Context, p Plan, res *Result) applied {
	s := a.s
	out := applied{nodeWarn: map[string]string{}}
	warn := func(st Step, msg string) {
		res.Warnings = append(res.Warnings, msg)
		s.log.Warn("alexa: change skipped", "step", msg)
		if st.Node != "" {
			out.nodeWarn[st.Node] = msg
		}
	}
	for _, st := range p.Steps {
		if ctx.Err() != nil {
			out.errs = append(out.errs, fmt.Errorf("alexa: sync interrupted: %w", ctx.Err()))
			out.pending = append(out.pending, st.String())
			continue
		}
		switch st.Op {
		case OpSkip:
			warn(st, st.String())
			continue
		case OpWait:
			out.waits = append(out.waits, st)
			continue
		}
		err := a.apply(ctx, st)
		if errors.Is(err, ErrReadOnlyHome) {
			// An occupied or linked home: a warning for that home, the
			// rest of the sync goes on.
			warn(st, err.Error())
			continue
		}
		if err != nil {
			res.Failed++
			res.Errors = append(res.Errors, err.Error())
			out.errs = append(out.errs, err)
			out.pending = append(out.pending, st.String())
			s.log.Warn("alexa: step failed", "step", st.String(), "err", err)
			continue
		}
		res.Applied++
	}
	return out
}

// applier applies one plan, keeping the id map current as it goes.
type applier struct {
	// s.opts.KV is the id map as it now is: the applier reads the ids it
	// needs (a parent's, a unit's for discovery) from it one key at a time
	// rather than keeping a copy of a whole site's map.
	s    *Syncer
	snap *snapshot
	// polls holds the nodes that had a discovery session recorded when the
	// plan was made, then those this sync starts one for: pollSessions
	// reads their records one by one instead of the whole id map per round.
	polls []string
	// notEnabled holds property nodes whose skill enablement failed in
	// this sync: their children are not created (Alexa would refuse).
	notEnabled map[string]bool
	// kept holds homes whose delete the API refused as read-only.
	kept map[string]bool
}

func (a *applier) put(key, value string) error {
	if err := a.s.opts.KV.Put(key, value); err != nil {
		return fmt.Errorf("alexa: record %s: %w", key, err)
	}
	return nil
}

// id returns the id recorded under key, or "".
func (a *applier) id(key string) (string, error) {
	v, _, err := a.s.opts.KV.Get(key)
	if err != nil {
		return "", fmt.Errorf("alexa: read %s: %w", key, err)
	}
	return v, nil
}

func (a *applier) del(keys ...string) error {
	for _, k := range keys {
		if err := a.s.opts.KV.Delete(k); err != nil {
			return fmt.Errorf("alexa: forget %s: %w", k, err)
		}
	}
	return nil
}

func (a *applier) apply(ctx context.Context, st Step) error {
	s := a.s
	key := kindPrefix(st.Kind) + st.Node
	switch st.Op {
	case OpAdopt:
		if err := a.dropDiscovery(st.Node); err != nil {
			return err
		}
		return a.put(key, st.ID)
	case OpCreate:
		parentID := s.opts.ParentID
		if st.Parent != "" {
			pk := kvUnit + st.Parent
			if st.Kind == KindHome {
				pk = kvCommunity + st.Parent
			}
			var err error
			if parentID, err = a.id(pk); err != nil {
				return err
			}
			if parentID == "" {
				return fmt.Errorf("alexa: create %s %q (node %s): parent node %s has no id yet (its create failed)", st.Kind, st.Name, st.Node, st.Parent)
			}
			if a.notEnabled[st.Parent] {
				return fmt.Errorf("alexa: create %s %q (node %s): the subscription skill is not enabled on property node %s (its enablement failed)", st.Kind, st.Name, st.Node, st.Parent)
			}
		}
		if st.ID != "" {
			if err := a.put(kvOrphan+a.snap.objs[st.ID].Kind+"/"+st.ID, st.Node); err != nil {
				return err
			}
		}
		id, err := a.create(ctx, st.Kind, parentID, st.Name)
		if err != nil {
			return fmt.Errorf("alexa: create %s %q (node %s): %w", st.Kind, st.Name, st.Node, err)
		}
		s.log.Info("alexa: created", "kind", st.Kind, "node", st.Node, "id", id)
		if err := a.dropDiscovery(st.Node); err != nil {
			return err
		}
		return a.put(key, id)
	case OpRename:
		var err error
		switch st.Kind {
		case KindCommunity:
			err = s.client.UpdateCommunity(ctx, Community{ID: st.ID, Name: st.Name, OrganizationID: s.opts.ParentID})
		case KindHome:
			err = s.client.UpdateHome(ctx, Home{ID: st.ID, Name: st.Name, HomeCommunityID: a.snap.objs[st.ID].Parent})
		default:
			err = s.client.RenameUnit(ctx, st.ID, st.Name)
		}
		if err != nil {
			return fmt.Errorf("alexa: rename %s %s (node %s): %w", st.Kind, st.ID, st.Node, err)
		}
		return nil
	case OpEnable:
		return a.enable(ctx, st)
	case OpSkip:
		return nil // reported as a warning by Sync
	case OpDiscover:
		return a.discover(ctx, st)
	case OpPoll:
		return nil // pollSessions does it
	case OpDelete:
		return a.delete(ctx, st)
	case OpForget:
		return a.forget(st)
	case OpRefuse:
		if cause := st.extra().cause; cause != nil {
			a.notEnabled[st.Node] = true
			return fmt.Errorf("alexa: %s: %w", st.String(), cause)
		}
		return fmt.Errorf("alexa: %s: %w", st.String(), ErrUnitNotEmpty)
	}
	return fmt.Errorf("alexa: unknown step %q", st.Op)
}

// delete deletes an object and forgets it. A home the API refuses as
// read-only is kept, and so is its community.
func (a *applier) delete(ctx context.Context, st Step) error {
	s := a.s
	var err error
	switch st.Kind {
	case KindCommunity:
		if home := a.keptChild(st.ID); home != "" {
			return fmt.Errorf("alexa: delete community %s %q (node %s): kept, since its home %s is: %w", st.ID, st.Name, st.Node, home, ErrReadOnlyHome)
		}
		err = s.client.DeleteCommunity(ctx, st.ID)
	case KindHome:
		err = s.client.DeleteHome(ctx, st.ID)
		if errors.Is(err, ErrReadOnlyHome) {
			a.kept[st.ID] = true
			return fmt.Errorf("alexa: delete home %s %q (node %s): refused, the home is occupied or linked: it stays until vacant: %w", st.ID, st.Name, st.Node, err)
		}
	default:
		err = s.client.DeleteUnit(ctx, st.ID)
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadRequest || apiErr.Status == http.StatusConflict) {
		return fmt.Errorf("alexa: delete %s %s %q (node %s): %w; the API refused: %w", st.Kind, st.ID, st.Name, st.Node, ErrUnitNotEmpty, err)
	}
	if err != nil {
		return fmt.Errorf("alexa: delete %s %s (node %s): %w", st.Kind, st.ID, st.Node, err)
	}
	s.log.Info("alexa: deleted", "kind", st.Kind, "node", st.Node, "id", st.ID)
	return a.forget(st)
}

// forget drops the id map entries of a deleted or vanished object.
func (a *applier) forget(st Step) error {
	key := st.extra().key
	if key == "" {
		key = kindPrefix(st.Kind) + st.Node
	}
	keys := []string{key}
	if st.Node != "" && key == kindPrefix(st.Kind)+st.Node {
		keys = append(keys, kvDevices+st.Node, kvSession+st.Node, kvDiscState+st.Node, kvEnabled+st.Node)
	}
	return a.del(keys...)
}

// create creates an object and, when the reply was lost, looks for it under
// the parent by name before trying again: creates are not idempotent.
func (a *applier) create(ctx context.Context, kind, parentID, name string) (string, error) {
	s := a.s
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		var id string
		var err error
		switch kind {
		case KindCommunity:
			id, err = s.client.CreateCommunity(ctx, parentID, name)
		case KindHome:
			id, err = s.client.CreateHome(ctx, parentID, name)
		default:
			id, err = s.client.CreateUnit(ctx, parentID, name)
		}
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, ErrOutcomeUnknown) {
			return "", err
		}
		last = err
		s.log.Warn("alexa: create outcome unknown, looking before trying again", "kind", kind, "parent", parentID, "err", err)
		found, err := a.lookFor(ctx, kind, parentID, name)
		if err != nil {
			return "", fmt.Errorf("%w; then listing the parent failed: %w", last, err)
		}
		if found != "" {
			s.log.Info("alexa: lost create reply recovered by listing", "kind", kind, "id", found)
			return found, nil
		}
		s.log.Warn("alexa: lost create not listed after looking; creating again", "kind", kind, "parent", parentID,
			"looks", s.opts.CreateCheckTries)
	}
	return "", last
}

// lookFor lists the parent's children up to CreateCheckTries times, with
// doubling delays from CreateCheckDelay, looking for an unmapped child
// named name: a list may not show a fresh create at once.
func (a *applier) lookFor(ctx context.Context, kind, parentID, name string) (string, error) {
	s := a.s
	d := s.opts.CreateCheckDelay
	for try := 1; try <= s.opts.CreateCheckTries; try++ {
		if err := sleep(ctx, d); err != nil {
			return "", err
		}
		found, err := a.findChild(ctx, kind, parentID, name)
		if err != nil || found != "" {
			return found, err
		}
		if try < s.opts.CreateCheckTries {
			s.log.Info("alexa: lost create not listed yet, looking again", "kind", kind, "parent", parentID, "try", try)
		}
		d *= 2
	}
	return "", nil
}

// findChild returns the id of an unmapped child of parentID named name.
func (a *applier) findChild(ctx context.Context, kind, parentID, name string) (string, error) {
	var objs []remoteObj
	switch kind {
	case KindCommunity:
		cs, err := a.s.client.ListCommunities(ctx, parentID)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			objs = append(objs, remoteObj{ID: c.ID, Name: c.Name})
		}
	case KindHome:
		hs, err := a.s.client.ListHomes(ctx, parentID)
		if err != nil {
			return "", err
		}
		for _, h := range hs {
			objs = append(objs, remoteObj{ID: h.ID, Name: h.Name})
		}
	default:
		us, err := a.s.client.ListUnits(ctx, ListQuery{ParentID: parentID, Expand: true})
		if err != nil {
			return "", err
		}
		for _, u := range us {
			objs = append(objs, remoteObj{ID: u.ID, Name: u.Name})
		}
	}
	kv, err := a.s.opts.KV.All() // rare (a lost create reply): read when needed
	if err != nil {
		return "", fmt.Errorf("alexa: read id map: %w", err)
	}
	owned := ownedIDs(kv)
	for _, o := range objs {
		if o.Name == name && !owned[o.ID] {
			return o.ID, nil
		}
	}
	return "", nil
}

// discover starts a session for a node's unit, unless one is running.
func (a *applier) discover(ctx context.Context, st Step) error {
	s := a.s
	unitID, err := a.id(kindPrefix(st.Kind) + st.Node)
	if err != nil {
		return err
	}
	if unitID == "" {
		return fmt.Errorf("alexa: discovery for node %s: its %s has no id (its create failed)", st.Node, st.Kind)
	}
	if raw, ok, err := s.opts.KV.Get(kvSession + st.Node); err != nil {
		return fmt.Errorf("alexa: discovery for node %s: %w", st.Node, err)
	} else if ok {
		var sess session
		if decodeSession(raw, &sess) && s.opts.Now().Before(sess.Started.Add(DiscoverySessionTTL)) {
			return fmt.Errorf("alexa: discovery for node %s: %w", st.Node, ErrDiscoveryBusy)
		}
		s.log.Warn("alexa: discovery session expired without a final status; starting a new one", "node", st.Node, "session", sess.Location)
		if err := a.put(kvDiscState+st.Node, "EXPIRED"); err != nil {
			return err
		}
	}
	// Record the attempt first: if its reply is lost (or hubd dies during
	// the call) a session may run that the API does not list, and a second
	// one must not be started for its hour.
	sess := session{UnitID: unitID, Started: s.opts.Now(), Devices: st.Devices, Status: DiscoveryStatusStarting}
	if sess.Devices == nil {
		sess.Devices = []string{}
	}
	if err := a.put(kvSession+st.Node, encodeJSON(sess)); err != nil {
		return err
	}
	a.polls = append(a.polls, st.Node)
	loc, err := s.client.StartDiscovery(ctx, unitID)
	if err != nil {
		var apiErr *APIError
		conflict := errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict
		if errors.Is(err, ErrOutcomeUnknown) || ctx.Err() != nil || conflict {
			sess.Status = DiscoveryStatusReplyLost
			if perr := a.put(kvSession+st.Node, encodeJSON(sess)); perr != nil {
				return fmt.Errorf("alexa: start discovery for node %s (unit %s): %w; %w", st.Node, unitID, err, perr)
			}
			until := sess.Started.Add(DiscoverySessionTTL)
			s.log.Warn("alexa: discovery start outcome unknown; no new session for this unit until the hour is over",
				"node", st.Node, "unit", unitID, "until", until, "err", err)
			return fmt.Errorf("alexa: start discovery for node %s (unit %s): %w; a session may be running that cannot be listed, so none is started for this unit until %s",
				st.Node, unitID, err, until.UTC().Format(time.RFC3339))
		}
		if derr := a.del(kvSession + st.Node); derr != nil {
			return fmt.Errorf("alexa: start discovery for node %s (unit %s): %w; %w", st.Node, unitID, err, derr)
		}
		return fmt.Errorf("alexa: start discovery for node %s (unit %s): %w", st.Node, unitID, err)
	}
	sess.Location, sess.Status = loc, DiscoveryStatusInProgress
	s.log.Info("alexa: discovery started", "node", st.Node, "unit", unitID, "session", loc)
	return a.put(kvSession+st.Node, encodeJSON(sess))
}

// enable enables the subscription skill on a property unit and records it,
// so that a resumed sync does not enable it again.
func (a *applier) enable(ctx context.Context, st Step) error {
	s := a.s
	unitID, err := a.id(kvUnit + st.Node)
	if err != nil {
		return err
	}
	if unitID == "" {
		a.notEnabled[st.Node] = true
		return fmt.Errorf("alexa: enable subscription skill on node %s: its unit has no id (its create failed)", st.Node)
	}
	if err := s.client.EnableSkill(ctx, s.opts.SubscriptionSkillID, unitID, "live"); err != nil {
		a.notEnabled[st.Node] = true
		return fmt.Errorf("alexa: enable subscription skill on property unit %s (node %s): %w", unitID, st.Node, err)
	}
	s.log.Info("alexa: subscription skill enabled", "node", st.Node, "unit", unitID)
	return a.put(kvEnabled+st.Node, unitID)
}

// pollSessions polls the running sessions of nodes until each reaches a
// final status, DiscoveryWait passes, or its hour runs out. It returns
// "node: STATUS" for each session that finished. Each round reads the
// records of the nodes still running, one key each.
func (s *Syncer) pollSessions(ctx context.Context, nodes []string) ([]string, []error) {
	deadline := time.Now().Add(s.opts.DiscoveryWait) // wall clock: Options.Now may stand still in tests
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	var done []string
	var errs []error
	failures := map[string]int{}
	for len(nodes) > 0 {
		running := nodes[:0] // filtered in place: the nodes to poll again
		for _, node := range nodes {
			again, err := s.pollNode(ctx, node, &done)
			if err != nil {
				failures[node]++
				if failures[node] >= 3 || ctx.Err() != nil {
					errs = append(errs, err)
					continue
				}
			}
			if again {
				running = append(running, node)
			}
		}
		nodes = running
		if len(nodes) == 0 || ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		if err := sleep(ctx, s.opts.DiscoveryPoll); err != nil {
			break
		}
	}
	slices.Sort(done)
	return done, errs
}

// pollNode polls the session recorded for node, if any, and reports
// whether it is still running; a finished one is added to done.
func (s *Syncer) pollNode(ctx context.Context, node string, done *[]string) (bool, error) {
	raw, ok, err := s.opts.KV.Get(kvSession + node)
	if err != nil {
		return true, fmt.Errorf("alexa: read discovery session of node %s: %w", node, err)
	}
	if !ok {
		return false, nil
	}
	var sess session
	if !decodeSession(raw, &sess) {
		_ = s.opts.KV.Delete(kvSession + node) // unreadable: drop it so discovery can start again
		return false, nil
	}
	if sess.Location == "" && s.opts.Now().Before(sess.Started.Add(DiscoverySessionTTL)) {
		return false, nil // a start whose reply was lost: nothing to poll, wait out its hour
	}
	final, status, err := s.pollOne(ctx, node, sess)
	if err != nil {
		return true, err
	}
	if final {
		*done = append(*done, node+": "+status)
		return false, nil
	}
	return true, nil
}

// sessionNodes returns the nodes with a discovery session record in kv.
func sessionNodes(kv map[string]string) []string {
	var out []string
	for k := range kv {
		if node, ok := cutPrefix(k, kvSession); ok {
			out = append(out, node)
		}
	}
	return out
}

// pollOne polls one session and records a final status.
func (s *Syncer) pollOne(ctx context.Context, node string, sess session) (bool, string, error) {
	now := s.opts.Now()
	finish := func(status string, devices bool) (bool, string, error) {
		if devices {
			if err := s.opts.KV.Put(kvDevices+node, encodeJSON(sess.Devices)); err != nil {
				return false, "", fmt.Errorf("alexa: record discovered devices of node %s: %w", node, err)
			}
		}
		if err := s.opts.KV.Put(kvDiscState+node, status); err != nil {
			return false, "", fmt.Errorf("alexa: record discovery status of node %s: %w", node, err)
		}
		if err := s.opts.KV.Delete(kvSession + node); err != nil {
			return false, "", fmt.Errorf("alexa: close discovery session of node %s: %w", node, err)
		}
		return true, status, nil
	}
	if !now.Before(sess.Started.Add(DiscoverySessionTTL)) {
		s.log.Warn("alexa: discovery session expired without a final status", "node", node, "session", sess.Location)
		return finish("EXPIRED", false)
	}
	status, err := s.client.DiscoveryStatus(ctx, sess.Location)
	if errors.Is(err, ErrNotFound) {
		s.log.Warn("alexa: discovery session vanished", "node", node, "session", sess.Location)
		return finish("NOT_FOUND", false)
	}
	if err != nil {
		return false, "", fmt.Errorf("alexa: poll discovery of node %s: %w", node, err)
	}
	if status == DiscoveryStatusInProgress {
		if sess.Status != status {
			sess.Status = status
			_ = s.opts.KV.Put(kvSession+node, encodeJSON(sess))
		}
		return false, status, nil
	}
	if !knownStatuses[status] {
		s.log.Warn("alexa: unknown discovery status recorded as final", "node", node, "status", status)
	}
	s.log.Info("alexa: discovery finished", "node", node, "status", status)
	return finish(status, true)
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}
