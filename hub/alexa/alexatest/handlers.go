package alexatest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type wireName struct {
	Type  string `json:"type"`
	Value struct {
		Text string `json:"text"`
	} `json:"value"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenCalls++
	s.seq++
	w.Header().Set("X-Amzn-RequestId", "sim-tok-"+strconv.Itoa(s.seq))
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "malformed form"})
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant != "refresh_token" && grant != "authorization_code" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "refresh_token or authorization_code"})
		return
	}
	if f.Get("client_id") != s.opts.ClientID || f.Get("client_secret") != s.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
		return
	}
	rt := f.Get("refresh_token")
	if grant == "authorization_code" {
		// An administrator's one-time login (REFERENCE.md section 2): the
		// code is good once, and only with the redirect_uri it was issued for.
		redirect, ok := s.authCodes[f.Get("code")]
		delete(s.authCodes, f.Get("code"))
		if !ok || redirect != f.Get("redirect_uri") {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "the authorization code is invalid, used or for another redirect_uri"})
			return
		}
		rt = s.nextID("Atzr|sim-refresh-")
		s.refresh[rt] = true
	}
	if !s.refresh[rt] {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "the refresh token is invalid or revoked"})
		return
	}
	access := s.nextID("Atza|sim-access-")
	s.tokens[access] = s.opts.Now().Add(s.opts.TokenTTL)
	reply := map[string]any{"access_token": access, "token_type": "bearer", "expires_in": int(s.opts.TokenTTL / time.Second)}
	if s.opts.RotateRefreshToken && grant == "refresh_token" {
		next := s.nextID("Atzr|sim-refresh-")
		delete(s.refresh, rt)
		s.refresh[next] = true
		reply["refresh_token"] = next
	} else {
		reply["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, reply)
}

// ---- units ----

func (s *Server) unitJSON(u *unit, expand bool) map[string]any {
	m := map[string]any{"id": u.id, "name": nil, "parentId": nil, "level": nil}
	if expand {
		var n wireName
		n.Type = "PLAIN"
		n.Value.Text = u.name
		m["name"] = n
		if u.parent != "" {
			m["parentId"] = u.parent
		}
		m["level"] = u.level
	}
	return m
}

// addUnit creates a unit; msg is a client error. Called with mu held.
func (s *Server) addUnit(parentID, name string) (*unit, int, string) {
	p, ok := s.units[parentID]
	if !ok {
		return nil, http.StatusNotFound, "parent unit not found"
	}
	if !nameOK(name) {
		return nil, http.StatusBadRequest, "name must be 1.." + strconv.Itoa(MaxNameLength) + " characters"
	}
	if p.level+1 > MaxLevel {
		return nil, http.StatusBadRequest, "a hierarchy has at most 15 levels"
	}
	return s.attach(&unit{id: s.nextID("amzn1.alexa.unit.did.sim-"), name: name, kind: kindUnit}, p), 0, ""
}

// attach makes u a child of p. Called with mu held.
func (s *Server) attach(u, p *unit) *unit {
	u.parent, u.level = p.id, p.level+1
	s.units[u.id] = u
	p.children = append(p.children, u.id)
	return u
}

// detach removes a unit (of any kind) and its endpoints. Called with mu held.
func (s *Server) detach(id string) {
	u := s.units[id]
	delete(s.enabled, id)
	delete(s.endpoints, id)
	delete(s.units, id)
	if p := s.units[u.parent]; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c string) bool { return c == id })
	}
}

func nameOK(name string) bool {
	return strings.TrimSpace(name) != "" && len(name) <= MaxNameLength
}

func (s *Server) createUnit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name     wireName `json:"name"`
		ParentID string   `json:"parentId"`
	}
	if err := readBody(r, &body); err != nil || body.ParentID == "" || body.Name.Type != "PLAIN" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "name (PLAIN) and parentId are required")
		return
	}
	s.mu.Lock()
	if p, ok := s.units[body.ParentID]; ok && !s.opts.Relax.NoEnablement && p.level == 1 && p.kind == kindUnit && !s.enabled[p.id] {
		s.mu.Unlock()
		// 403: "the requested operation isn't allowed" (units doc line 100).
		s.fail(w, http.StatusForbidden, "FORBIDDEN", "enable the subscription skill on the property unit before creating units under it")
		return
	}
	u, status, msg := s.addUnit(body.ParentID, body.Name.Value.Text)
	lose := msg == "" && s.loseReply()
	if msg == "" {
		u.visibleAt = s.listCalls + s.opts.ListLag
	}
	s.mu.Unlock()
	if msg != "" {
		typ := "BAD_REQUEST"
		if status == http.StatusNotFound {
			typ = "NOT_FOUND"
		}
		s.fail(w, status, typ, msg)
		return
	}
	if lose {
		hangUp(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": u.id})
}

func (s *Server) getUnit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[r.PathValue("id")]
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "unit not found")
		return
	}
	writeJSON(w, http.StatusOK, s.unitJSON(u, true))
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("parentId") == "" && !s.opts.Relax.ParentID404 {
		// parentId is required (units doc lines 276-282): a malformed
		// request, 400, not a missing resource.
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "parentId is required")
		return
	}
	p, ok := s.units[q.Get("parentId")]
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "parent unit not found")
		return
	}
	s.listCalls++
	depth := 1
	switch v := q.Get("queryDepth"); v {
	case "", "1":
	case "all":
		depth = MaxLevel + 1
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "invalid queryDepth")
			return
		}
		depth = n
	}
	var all []*unit
	var walk func(u *unit, d int)
	walk = func(u *unit, d int) {
		if d > depth {
			return
		}
		for _, c := range u.children {
			if s.units[c].kind != kindUnit && s.opts.Relax.HideResidentialUnits {
				continue
			}
			if s.units[c].visibleAt < s.listCalls {
				all = append(all, s.units[c])
			}
			walk(s.units[c], d+1)
		}
	}
	walk(p, 1)
	items, next, msg := page(all, r, 10)
	if msg != "" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", msg)
		return
	}
	expand := q.Get("expand") == "all"
	results := make([]map[string]any, 0, len(items))
	for _, u := range items {
		results = append(results, s.unitJSON(u, expand))
	}
	reply := map[string]any{"results": results}
	if next != "" {
		reply["paginationContext"] = map[string]string{"nextToken": next}
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) renameUnit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name wireName `json:"name"`
	}
	err := readBody(r, &body)
	strict := !s.opts.Relax.LoosePut
	if err != nil || strings.TrimSpace(body.Name.Value.Text) == "" ||
		strict && (body.Name.Type != "PLAIN" || !nameOK(body.Name.Value.Text)) {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "name (PLAIN, 1.."+strconv.Itoa(MaxNameLength)+" characters) is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[r.PathValue("id")]
	if !ok || u.level == 0 {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "unit not found")
		return
	}
	if h, ok := s.homes[u.id]; ok && readOnly(h) {
		s.readOnlyHit++
		s.fail(w, http.StatusForbidden, "FORBIDDEN", "the home is "+h.state)
		return
	}
	u.name = body.Name.Value.Text
	// Communities and homes are units: one object, one name.
	if c, ok := s.communities[u.id]; ok {
		c.name = u.name
	}
	if h, ok := s.homes[u.id]; ok {
		h.name = u.name
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteUnit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	u, ok := s.units[id]
	if !ok || u.level == 0 {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "unit not found")
		return
	}
	if len(u.children) > 0 {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "a unit with child units cannot be deleted")
		return
	}
	if len(s.endpoints[id]) > 0 {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "a unit with endpoints cannot be deleted")
		return
	}
	if h, ok := s.homes[id]; ok && readOnly(h) {
		s.readOnlyHit++
		s.fail(w, http.StatusForbidden, "FORBIDDEN", "the home is "+h.state)
		return
	}
	delete(s.communities, id)
	delete(s.homes, id)
	s.detach(id)
	w.WriteHeader(http.StatusNoContent)
}

// listEndpoints serves GET /v2/endpoints?associatedUnits.id= (REFERENCE.md
// section 2 names only the path): the reply's shape, {"results":[{"id",
// "associatedUnits"}]} paged like units, is the simulator's assumption.
func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	unitID := r.URL.Query().Get("associatedUnits.id")
	if unitID == "" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "associatedUnits.id is required")
		return
	}
	items, next, msg := page(s.endpoints[unitID], r, 10)
	if msg != "" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", msg)
		return
	}
	results := []map[string]any{}
	for _, e := range items {
		results = append(results, map[string]any{"id": e, "associatedUnits": []map[string]string{{"id": unitID}}})
	}
	reply := map[string]any{"results": results}
	if next != "" {
		reply["paginationContext"] = map[string]string{"nextToken": next}
	}
	writeJSON(w, http.StatusOK, reply)
}

// enableSkill enables a subscription skill on a property (level 1) unit.
// Only the path and body come from REFERENCE.md section 2; its statuses
// (204 done, 404 other skill, 400 not a property, 409 below) are the
// simulator's assumptions, in the units API's set except 409;
// a second enablement answers 409 CONFLICT.
func (s *Server) enableSkill(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UnitID string `json:"unitId"`
		Stage  string `json:"stage"`
	}
	if err := readBody(r, &body); err != nil || body.UnitID == "" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "unitId is required")
		return
	}
	if st := s.stageCase(body.Stage); st != "live" && st != "development" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "stage must be live or development")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if skill := r.PathValue("skill"); s.opts.SubscriptionSkillID != "" && skill != s.opts.SubscriptionSkillID {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "skill not found")
		return
	}
	u, ok := s.units[body.UnitID]
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "unit not found")
		return
	}
	if u.level != 1 {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "a subscription skill is enabled on a property (level 1) unit")
		return
	}
	if s.enabled[u.id] {
		// Invented: no document says what a second enablement answers.
		// 409 lets a client that repeats an enablement after a lost reply
		// tell "already done" from a refusal.
		s.fail(w, http.StatusConflict, "CONFLICT", "the skill is already enabled on this unit")
		return
	}
	s.enabled[u.id] = true
	s.enableCalls++
	w.WriteHeader(http.StatusNoContent)
}

// ---- discovery ----

func (s *Server) startDiscovery(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EndpointReporter struct {
			Type  string `json:"type"`
			Value struct {
				SkillID    string `json:"skillId"`
				SkillStage string `json:"skillStage"`
			} `json:"value"`
		} `json:"endpointReporter"`
	}
	if err := readBody(r, &body); err != nil || body.EndpointReporter.Type != "SKILL" {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "endpointReporter of type SKILL is required")
		return
	}
	stage := s.stageCase(body.EndpointReporter.Value.SkillStage)
	if body.EndpointReporter.Value.SkillID != s.opts.SkillID || (stage != "" && stage != "live" && stage != "development") {
		s.fail(w, http.StatusBadRequest, "BAD_REQUEST", "unknown skill or stage")
		return
	}
	unitID := r.URL.Query().Get("unit")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.units[unitID]; !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "unit not found")
		return
	}
	for _, d := range s.sessions {
		if d.unit == unitID && d.status == "IN_PROGRESS" && !s.expired(d) {
			// Invented: the documents only say not to start overlapping
			// sessions (REFERENCE.md section 2); 409 is the simulator's
			// choice, which hubd treats as "a session may be running".
			s.overlaps++
			s.fail(w, http.StatusConflict, "CONFLICT", "a discovery session is already running for this unit")
			return
		}
	}
	d := &dsession{id: s.nextID("amzn1.alexa.discoverySession.sim-"), unit: unitID, status: "IN_PROGRESS", started: s.opts.Now()}
	s.sessions[d.id] = d
	s.started[unitID]++
	if s.loseDisc > 0 {
		s.loseDisc--
		s.lostDisc++
		hangUp(w)
		return
	}
	w.Header().Set("Location", "/v1/discoverySessions/"+url.PathEscape(d.id))
	writeJSON(w, http.StatusCreated, map[string]string{"id": d.id})
}

func (s *Server) getDiscovery(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.sessions[r.PathValue("id")]
	if ok && s.expired(d) {
		// Its hour is over (discovery doc line 90): what the API then
		// answers is not documented; 404 is the simulator's choice.
		delete(s.sessions, d.id)
		ok = false
	}
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "discovery session not found")
		return
	}
	if d.status == "IN_PROGRESS" {
		d.polls++
		if d.polls > s.opts.DiscoveryPolls {
			d.status = s.opts.DiscoveryFinal
			s.associate(d.unit)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": map[string]string{"value": d.status}})
}

// stageCase returns a skill stage as the strict check sees it: as sent, or
// lower-cased when any case is allowed.
func (s *Server) stageCase(stage string) string {
	if s.opts.Relax.AnyStageCase {
		return strings.ToLower(stage)
	}
	return stage
}

// associate gives a unit the endpoints its succeeded discovery found,
// taking them from any unit that had them. Called with mu held.
func (s *Server) associate(unitID string) {
	u, ok := s.units[unitID]
	if !ok || s.opts.Relax.NoDiscoveryEndpoints || s.opts.DiscoveryFinal == "FAILED" {
		return
	}
	found := s.opts.Reporter(u.id, u.name)
	for id, eps := range s.endpoints {
		eps = slices.DeleteFunc(eps, func(e string) bool { return slices.Contains(found, e) })
		if len(eps) == 0 {
			delete(s.endpoints, id)
		} else {
			s.endpoints[id] = eps
		}
	}
	if len(found) > 0 {
		s.endpoints[unitID] = slices.Clone(found)
	}
}

// ---- residential ----

func (s *Server) createCommunity(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name           string `json:"name"`
		OrganizationID string `json:"organizationId"`
	}
	if err := readBody(r, &body); err != nil || !nameOK(body.Name) || body.OrganizationID == "" {
		s.failResidential(w, http.StatusBadRequest, "name and organizationId are required")
		return
	}
	s.mu.Lock()
	if body.OrganizationID != s.opts.OrgID {
		s.mu.Unlock()
		s.failResidential(w, http.StatusForbidden, "no access to this organization")
		return
	}
	c := &community{id: s.nextID("amzn1.alexa.unit.did.sim-hc-"), name: body.Name, org: body.OrganizationID,
		visibleAt: s.listCalls + s.opts.ListLag}
	s.communities[c.id] = c
	// A home community is a unit (residential doc line 81) under the
	// organization.
	s.attach(&unit{id: c.id, name: c.name, kind: kindCommunity, visibleAt: c.visibleAt}, s.units[s.opts.OrgID])
	lose := s.loseReply()
	s.mu.Unlock()
	if lose {
		hangUp(w)
		return
	}
	w.Header().Set("Location", "/enterprise/residential/v1/homeCommunities/"+c.id)
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.id})
}

func communityJSON(c *community) map[string]string {
	return map[string]string{"id": c.id, "name": c.name, "organizationId": c.org}
}

func (s *Server) getCommunity(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.communities[r.PathValue("id")]
	if !ok {
		s.failResidential(w, http.StatusNotFound, "home community not found")
		return
	}
	writeJSON(w, http.StatusOK, communityJSON(c))
}

func (s *Server) listCommunities(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org := r.URL.Query().Get("organizationId")
	if org == "" {
		s.failResidential(w, http.StatusBadRequest, "organizationId is required")
		return
	}
	s.listCalls++
	var all []*community
	for _, c := range s.communities {
		if c.org == org && c.visibleAt < s.listCalls {
			all = append(all, c)
		}
	}
	sortByID(all, func(c *community) string { return c.id })
	items, next, msg := page(all, r, 10)
	if msg != "" {
		s.failResidential(w, http.StatusBadRequest, msg)
		return
	}
	out := []map[string]string{}
	for _, c := range items {
		out = append(out, communityJSON(c))
	}
	reply := map[string]any{"homeCommunities": out}
	if next != "" {
		reply["paginationContext"] = map[string]string{"nextToken": next}
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) updateCommunity(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		OrganizationID string `json:"organizationId"`
	}
	// id, organizationId and name are all required (residential doc
	// lines 208-211).
	if err := readBody(r, &body); err != nil || !nameOK(body.Name) || body.ID != r.PathValue("id") || body.OrganizationID == "" {
		s.failResidential(w, http.StatusBadRequest, "id, organizationId and name are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.communities[r.PathValue("id")]
	if !ok {
		s.failResidential(w, http.StatusNotFound, "home community not found")
		return
	}
	c.name = body.Name
	s.units[c.id].name = body.Name
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteCommunity(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.communities[id]; !ok {
		s.failResidential(w, http.StatusNotFound, "home community not found")
		return
	}
	for _, h := range s.homes {
		if h.community == id {
			// Assumed, as for units (units doc line 110): a parent with
			// children is not deleted; 400 is the documented "malformed".
			s.failResidential(w, http.StatusBadRequest, "the home community still has homes")
			return
		}
	}
	delete(s.communities, id)
	s.detach(id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createHome(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name            string `json:"name"`
		HomeCommunityID string `json:"homeCommunityId"`
	}
	if err := readBody(r, &body); err != nil || !nameOK(body.Name) || body.HomeCommunityID == "" {
		s.failResidential(w, http.StatusBadRequest, "name and homeCommunityId are required")
		return
	}
	s.mu.Lock()
	if _, ok := s.communities[body.HomeCommunityID]; !ok {
		s.mu.Unlock()
		s.failResidential(w, http.StatusBadRequest, "unknown home community")
		return
	}
	h := &home{id: s.nextID("amzn1.alexa.unit.did.sim-home-"), name: body.Name, community: body.HomeCommunityID, state: "VACANT",
		visibleAt: s.listCalls + s.opts.ListLag}
	s.homes[h.id] = h
	// A home is a unit (residential doc line 494) under its community:
	// discovery and endpoints work on it.
	s.attach(&unit{id: h.id, name: h.name, kind: kindHome, visibleAt: h.visibleAt}, s.units[h.community])
	lose := s.loseReply()
	s.mu.Unlock()
	if lose {
		hangUp(w)
		return
	}
	w.Header().Set("Location", "/enterprise/residential/v1/homes/"+h.id)
	writeJSON(w, http.StatusCreated, map[string]string{"id": h.id})
}

// homeJSON is the documented home object (residential doc lines 389-398):
// no state.
func homeJSON(h *home) map[string]string {
	return map[string]string{"id": h.id, "name": h.name, "homeCommunityId": h.community}
}

func (s *Server) getHome(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.homes[r.PathValue("id")]
	if !ok {
		s.failResidential(w, http.StatusNotFound, "home not found")
		return
	}
	writeJSON(w, http.StatusOK, homeJSON(h))
}

func (s *Server) listHomes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cid := r.URL.Query().Get("homeCommunityId")
	if cid == "" {
		s.failResidential(w, http.StatusBadRequest, "homeCommunityId is required")
		return
	}
	s.listCalls++
	var all []*home
	for _, h := range s.homes {
		if h.community == cid && h.visibleAt < s.listCalls {
			all = append(all, h)
		}
	}
	sortByID(all, func(h *home) string { return h.id })
	items, next, msg := page(all, r, 10)
	if msg != "" {
		s.failResidential(w, http.StatusBadRequest, msg)
		return
	}
	out := []map[string]string{}
	for _, h := range items {
		out = append(out, homeJSON(h))
	}
	reply := map[string]any{"homes": out}
	if next != "" {
		reply["nextToken"] = next // top-level here, in paginationContext for communities: both occur
	}
	writeJSON(w, http.StatusOK, reply)
}

func readOnly(h *home) bool { return h.state == "OCCUPIED" || h.state == "LINKED" }

func (s *Server) updateHome(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID              string `json:"id"`
		Name            string `json:"name"`
		HomeCommunityID string `json:"homeCommunityId"`
	}
	// id, homeCommunityId and name are all required (residential doc
	// lines 504-509).
	if err := readBody(r, &body); err != nil || !nameOK(body.Name) || body.ID != r.PathValue("id") || body.HomeCommunityID == "" {
		s.failResidential(w, http.StatusBadRequest, "id, homeCommunityId and name are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.homes[r.PathValue("id")]
	if !ok {
		s.failResidential(w, http.StatusNotFound, "home not found")
		return
	}
	if readOnly(h) {
		s.readOnlyHit++
		s.failResidential(w, http.StatusForbidden, "the home is "+h.state)
		return
	}
	h.name = body.Name
	s.units[h.id].name = body.Name
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteHome(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.homes[r.PathValue("id")]
	if !ok {
		s.failResidential(w, http.StatusNotFound, "home not found")
		return
	}
	if readOnly(h) {
		s.readOnlyHit++
		s.failResidential(w, http.StatusForbidden, "the home is "+h.state)
		return
	}
	if len(s.endpoints[h.id]) > 0 {
		// Assumed: a home is a unit (residential doc line 494), and a unit
		// with endpoints cannot be deleted (units doc line 110).
		s.failResidential(w, http.StatusBadRequest, "a home with endpoints cannot be deleted")
		return
	}
	delete(s.homes, h.id)
	s.detach(h.id)
	w.WriteHeader(http.StatusNoContent)
}

func sortByID[T any](xs []T, id func(T) string) {
	slices.SortFunc(xs, func(a, b T) int {
		if idLess(id(a), id(b)) {
			return -1
		}
		if idLess(id(b), id(a)) {
			return 1
		}
		return 0
	})
}

// idLess orders ids by their numeric suffix (creation order).
func idLess(a, b string) bool {
	na, nb := suffixNum(a), suffixNum(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

func suffixNum(s string) int {
	i := strings.LastIndexByte(s, '-')
	n, _ := strconv.Atoi(s[i+1:])
	return n
}
