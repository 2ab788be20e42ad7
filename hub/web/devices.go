package web

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"hubd/hub"
)

// The device list is served a page at a time (GET /api/devices), filtered
// and searched on the gateway: at 10,000 devices the page must not carry
// them all, and a viewer's live feed carries only the devices of its page.
const (
	// defaultPageSize is the page a query that names no limit gets.
	defaultPageSize = 50
	// maxQueryText bounds the search text, maxRawQuery the whole query
	// string, maxOffset how far a page may start.
	maxQueryText = 200
	maxRawQuery  = 2048
	maxOffset    = 1 << 20
	// summaryProblems is how many of the worst problems the summary at the
	// top of the page lists; the rest are a click on "Only problems" away.
	summaryProblems = 20
)

// deviceQuery is what a viewer asks of the device list.
type deviceQuery struct {
	Words         []string // search words, lower case; each must match
	Room          string   // site node id: the node's devices and those under it
	Problems      bool     // only devices with a diagnosis
	State         string   // "", "online" or "offline" (reachable or not)
	ProblemsFirst bool     // order by severity before room
	Offset, Limit int
}

// dynamic reports whether which devices match, or their order, depends on
// their state and not only on their names and places.
func (q *deviceQuery) dynamic() bool { return q.Problems || q.ProblemsFirst || q.State != "" }

// queryKeys are the parameters the device list takes; feed names the
// viewer's live feed (GET /api/devices only).
var queryKeys = map[string]bool{"q": true, "room": true, "problems": true, "state": true, "sort": true, "offset": true, "limit": true, "feed": true}

// parseQuery reads a device query from the URL. limit above maxLimit is cut
// to it; capped reports so.
func parseQuery(raw string, maxLimit int) (q deviceQuery, feedID string, capped bool, err error) {
	bad := func(format string, args ...any) (deviceQuery, string, bool, error) {
		return deviceQuery{}, "", false, fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
	}
	if len(raw) > maxRawQuery {
		return bad("query string of %d bytes, at most %d", len(raw), maxRawQuery)
	}
	v, perr := url.ParseQuery(raw)
	if perr != nil {
		return bad("query string: %v", perr)
	}
	for k, vals := range v {
		if !queryKeys[k] {
			return bad("unknown parameter %q", k)
		}
		if len(vals) != 1 {
			return bad("parameter %q given %d times", k, len(vals))
		}
	}
	text := v.Get("q")
	if len(text) > maxQueryText {
		return bad("search text of %d bytes, at most %d", len(text), maxQueryText)
	}
	q.Words = strings.Fields(strings.ToLower(text))
	q.Room = v.Get("room")
	if len(q.Room) > 256 {
		return bad("room id too long")
	}
	if err := q.parseState(v); err != nil {
		return deviceQuery{}, "", false, err
	}
	num := func(key string, def, hi int) (int, error) {
		s := v.Get(key)
		if s == "" {
			return def, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > hi {
			return 0, fmt.Errorf("%w: %s must be a whole number from 0 to %d", ErrBadRequest, key, hi)
		}
		return n, nil
	}
	if q.Offset, err = num("offset", 0, maxOffset); err != nil {
		return deviceQuery{}, "", false, err
	}
	if q.Limit, err = num("limit", min(defaultPageSize, maxLimit), maxOffset); err != nil {
		return deviceQuery{}, "", false, err
	}
	if q.Limit == 0 {
		return bad("limit must be at least 1")
	}
	if q.Limit > maxLimit {
		q.Limit, capped = maxLimit, true
	}
	feedID = v.Get("feed")
	if len(feedID) > 64 {
		return bad("feed id too long")
	}
	return q, feedID, capped, nil
}

// parseState reads the filters and order that depend on devices' state.
func (q *deviceQuery) parseState(v url.Values) error {
	switch v.Get("problems") {
	case "", "0":
	case "1":
		q.Problems = true
	default:
		return fmt.Errorf("%w: problems must be 0 or 1", ErrBadRequest)
	}
	switch q.State = v.Get("state"); q.State {
	case "", "online", "offline":
	default:
		return fmt.Errorf("%w: state must be online or offline", ErrBadRequest)
	}
	switch v.Get("sort") {
	case "", "room":
	case "problems":
		q.ProblemsFirst = true
	default:
		return fmt.Errorf("%w: sort must be room or problems", ErrBadRequest)
	}
	return nil
}

// devEntry is one device in the list's order, with what a search matches.
type devEntry struct {
	id    string
	text  string   // id, name, address, driver, kind and room names, lower case
	nodes []string // the site nodes above the device, building first
	name  string
}

// devIndex is the device list in page order: by room path, then name,
// then id. It is rebuilt when the site or device set changes.
type devIndex struct {
	site    *hub.Site
	entries []devEntry
	byID    map[string]int // index into entries
}

type indexCache struct {
	mu  sync.Mutex
	idx *devIndex
}

// invalidate drops the index (the device set changed).
func (c *indexCache) invalidate() {
	c.mu.Lock()
	c.idx = nil
	c.mu.Unlock()
}

// index returns the current device index, building it if needed.
func (s *Server) index() *devIndex {
	c := &s.devIdx
	site := s.h.Site()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idx != nil && c.idx.site == site {
		return c.idx
	}
	devs := s.h.Devices()
	idx := &devIndex{site: site, entries: make([]devEntry, 0, len(devs))}
	keys := make(map[string]string, len(devs))
	for _, d := range devs {
		name := d.Name
		if name == "" {
			name = d.ID
		}
		e := devEntry{id: d.ID, name: name}
		var path []string
		for _, n := range s.h.RoomPath(d.ID) {
			path = append(path, n.Name)
			e.nodes = append(e.nodes, n.ID)
		}
		e.text = strings.ToLower(strings.Join(append([]string{d.ID, name, d.Address, d.Driver, string(d.Kind)}, path...), " "))
		key := "\uffff"
		if path != nil {
			key = strings.Join(path, "\x00")
		}
		keys[d.ID] = key + "\x01" + name + "\x01" + d.ID
		idx.entries = append(idx.entries, e)
	}
	slices.SortFunc(idx.entries, func(a, b devEntry) int { return strings.Compare(keys[a.id], keys[b.id]) })
	idx.byID = make(map[string]int, len(idx.entries))
	for i, e := range idx.entries {
		idx.byID[e.id] = i
	}
	c.idx = idx
	return idx
}

// matchStatic reports whether e matches the query's words and room.
func (q *deviceQuery) matchStatic(e *devEntry) bool {
	for _, w := range q.Words {
		if !strings.Contains(e.text, w) {
			return false
		}
	}
	return q.Room == "" || slices.Contains(e.nodes, q.Room)
}

// devClass is what of a device's state filters and orders by: its
// severity rank (0 error, 1 warning, 2 fine) and whether it is reachable.
type devClass struct {
	rank      int
	reachable bool
	code      hub.CauseCode
}

func (s *Server) classOf(id string, l *links) (devClass, bool) {
	_, snap, ok := s.h.Snapshot(id)
	if !ok {
		return devClass{}, false
	}
	r := s.h.Reachable(&snap)
	c := devClass{rank: 2, reachable: r}
	if f := s.fault(&snap, r, l); f != nil {
		c.rank, c.code = 1, f.Code
		if f.Severity == hub.SeverityError {
			c.rank = 0
		}
	}
	return c, true
}

// matchDynamic reports whether a device of class c matches the query's
// state filters.
func (q *deviceQuery) matchDynamic(c devClass) bool {
	if q.Problems && c.rank == 2 {
		return false
	}
	return q.State == "" || (q.State == "online") == c.reachable
}

// DevicePage is one page of the device list.
type DevicePage struct {
	Devices []DeviceView `json:"devices"`
	PageInfo
}

// PageInfo says where a page of the device list sits.
type PageInfo struct {
	Total  int `json:"total"`  // devices matching the query
	Offset int `json:"offset"` // of the first device shown
	Limit  int `json:"limit"`  // the page size used (after the cap)
}

// match lists the ids matching q, in page order.
func (s *Server) match(q *deviceQuery, l *links) []string {
	idx := s.index()
	type hit struct {
		id   string
		rank int
	}
	hits := make([]hit, 0, len(idx.entries))
	for i := range idx.entries {
		e := &idx.entries[i]
		if !q.matchStatic(e) {
			continue
		}
		h := hit{id: e.id}
		if q.dynamic() {
			c, ok := s.classOf(e.id, l)
			if !ok || !q.matchDynamic(c) {
				continue
			}
			h.rank = c.rank
		}
		hits = append(hits, h)
	}
	if q.ProblemsFirst {
		slices.SortStableFunc(hits, func(a, b hit) int { return cmp.Compare(a.rank, b.rank) })
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	return ids
}

// devicePage answers q; hold, when set, is called with the page's ids before
// their views are built, so that a change racing the page is sent again
// by the feed rather than lost.
func (s *Server) devicePage(q *deviceQuery, l *links, hold func(ids []string)) DevicePage {
	ids := s.match(q, l)
	p := DevicePage{Devices: []DeviceView{}, PageInfo: PageInfo{Total: len(ids), Offset: q.Offset, Limit: q.Limit}}
	if q.Offset < len(ids) {
		ids = ids[q.Offset:min(len(ids), q.Offset+q.Limit)]
	} else {
		ids = nil
	}
	if hold != nil {
		hold(ids)
	}
	for _, id := range ids {
		if v, ok := s.deviceView(id, l); ok {
			p.Devices = append(p.Devices, v)
		}
	}
	return p
}

// ProblemView is a device in the summary of problems.
type ProblemView struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	RoomPath []string   `json:"room_path,omitempty"`
	Fault    *hub.Fault `json:"fault"`
}

// problems lists the worst summaryProblems diagnoses: errors before
// warnings, the oldest first.
func (s *Server) problems(l *links) []ProblemView {
	out := []ProblemView{}
	type p struct {
		v    ProblemView
		rank int
	}
	var all []p
	at := s.instant()
	for _, e := range s.index().entries {
		_, snap, ok := s.h.Snapshot(e.id)
		if !ok {
			continue
		}
		f := s.fault(&snap, at.reachable(&snap), l)
		if f == nil {
			continue
		}
		rank := 1
		if f.Severity == hub.SeverityError {
			rank = 0
		}
		all = append(all, p{v: ProblemView{ID: e.id, Name: e.name, Fault: f}, rank: rank})
	}
	slices.SortStableFunc(all, func(a, b p) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), a.v.Fault.Since.Compare(b.v.Fault.Since))
	})
	for _, x := range all[:min(len(all), summaryProblems)] {
		for _, n := range s.h.RoomPath(x.v.ID) {
			x.v.RoomPath = append(x.v.RoomPath, n.Name)
		}
		out = append(out, x.v)
	}
	return out
}

// serveDevices answers one page of the device list; with feed=ID it also
// makes that page what the viewer's live feed carries.
func (s *Server) serveDevices(w http.ResponseWriter, r *http.Request) {
	if !s.canView(r) {
		s.writeError(w, r, ErrUnauthorized)
		return
	}
	q, feedID, capped, err := parseQuery(r.URL.RawQuery, s.opts.MaxFeedDevices)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if capped {
		s.feed.capped.Add(1)
	}
	var hold func([]string)
	if feedID != "" {
		c, err := s.feed.find(feedID, s.viewer(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		hold = func(ids []string) { c.setView(q, ids) }
	}
	l := s.links()
	writeJSON(w, http.StatusOK, s.devicePage(&q, &l, hold))
}

// viewer names who asks: the session's token, or "" without one.
func (s *Server) viewer(r *http.Request) string {
	tok, _, ok := s.auth.session(r)
	if !ok {
		return ""
	}
	return tok
}
