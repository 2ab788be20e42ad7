// Package alexatest is an in-process simulator of the Alexa Smart Properties
// and Alexa for Residential APIs the hub uses: the Login with Amazon token
// endpoint, units, home communities and homes, discovery sessions and
// endpoints. It serves real HTTP on loopback so the client under test runs
// unchanged, and it can inject throttling, server errors and lost create
// replies. hubd demo syncs its demo site to it.
package alexatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Demo credentials and ids (DESIGN.md).
const (
	DemoClientID     = "demo-client"
	DemoClientSecret = "demo-secret"
	DemoRefreshToken = "demo-refresh"
	DemoOrg          = "amzn1.alexa.unit.did.demo-org"
	DemoSkill        = "amzn1.ask.skill.demo"
	// DemoSubscriptionSkill is the subscription skill the demo enables on
	// its property unit before creating floors under it.
	DemoSubscriptionSkill = "amzn1.ask.skill.demo-subscription"

	// TokenPath is where the token endpoint is served.
	TokenPath = "/auth/o2/token"

	// MaxLevel is the deepest unit level (the organization is level 0):
	// "up to 15 levels of units" (units doc line 4; REFERENCE.md section 2).
	MaxLevel = 15

	// MaxNameLength bounds unit, community and home names. The documents
	// give no limit; this one is the simulator's own assumption, applied
	// alike to creates and renames so a client that checks names on one
	// path and not the other is caught.
	MaxNameLength = 256
)

// Relax turns off one strict rule each, for tests that focus on something
// else. The zero value is strict: the simulator enforces what the documents
// in ../shared/specs say, as the real service does.
type Relax struct {
	// HideResidentialUnits keeps home communities and homes out of
	// GET /v2/units lists. Strict: they are listed, since they are units
	// ("amzn1.alexa.unit.did..." ids, residential doc lines 81, 199, 494).
	HideResidentialUnits bool
	// NoEnablement lets units be created under a property (level 1) unit
	// without the subscription skill. Strict: 403, since "a subscription
	// skill must be enabled on it before children can be created"
	// (REFERENCE.md section 2) and the operation is "not allowed" (units
	// doc line 100).
	NoEnablement bool
	// NoDiscoveryEndpoints makes discovery sessions find nothing. Strict: a
	// session that succeeds associates the endpoints Reporter gives with
	// its unit, so GET /v2/endpoints?associatedUnits.id= lists them and the
	// unit cannot be deleted (units doc line 110).
	NoDiscoveryEndpoints bool
	// LoosePut accepts PUT /v2/units names that are not of type PLAIN or
	// are too long. Strict: the same NameValue rules as on POST (units doc
	// lines 415-429, 474-488).
	LoosePut bool
	// BareToken accepts an Authorization header without the "Bearer "
	// prefix. Strict: "Authorization: Bearer {access token}" (units doc
	// line 46).
	BareToken bool
	// AnyStageCase accepts skill stages in any letter case. Strict: the
	// documented "live" / "development" (discovery doc line 59,
	// REFERENCE.md section 2 for enablements).
	AnyStageCase bool
	// ParentID404 answers a units list without parentId with 404 as the
	// simulator used to. Strict: 400, a required parameter is missing
	// (units doc lines 276-282, 370).
	ParentID404 bool
}

// Reporter returns the endpoints the skill reports for a unit when a
// discovery session on it succeeds.
type Reporter func(unitID, unitName string) []string

// NameReporter is the default Reporter: one endpoint per unit, named after
// the unit's name. It stands for a skill that reports a room's devices; a
// room recreated under another parent keeps its name, so discovery on the
// new unit takes its endpoint over from the old one.
func NameReporter(_, unitName string) []string { return []string{"sim-endpoint:" + unitName} }

// Options configure a Server; zero values give the demo setup.
type Options struct {
	ClientID, ClientSecret, RefreshToken string
	OrgID                                string
	SkillID                              string
	// TokenTTL is the expires_in of access tokens; default one hour.
	TokenTTL time.Duration
	// RotateRefreshToken makes every grant return a new refresh token and
	// revoke the old one.
	RotateRefreshToken bool
	// DiscoveryPolls is how many polls a session answers IN_PROGRESS before
	// its final status; default 2.
	DiscoveryPolls int
	// DiscoveryFinal is the final status; default "SUCCEEDED".
	DiscoveryFinal string
	// SubscriptionSkillID is the subscription skill whose enablement
	// counts; empty: an enablement of any skill counts.
	SubscriptionSkillID string
	// ListLag models read-after-write lag ("changes can take minutes to
	// propagate", REFERENCE.md section 2): a unit, home community or home
	// created through the API stays out of every list for the next ListLag
	// list calls (GET of the object itself sees it at once). Zero: no lag.
	ListLag int
	// Reporter gives the endpoints a successful discovery session finds;
	// default NameReporter. An endpoint belongs to one unit at a time:
	// discovering it for another unit moves it there.
	Reporter Reporter
	// Relax turns off strict rules one by one; zero: strict.
	Relax Relax
	// Now is the simulator's clock, for access token expiry and the hour
	// a discovery session's Location is valid; default time.Now.
	Now func() time.Time
}

// SessionTTL is how long a discovery session's Location answers: "The URL
// is valid for one hour" (discovery doc line 90). After it, GET answers
// 404 and a new session may be started for the unit.
const SessionTTL = time.Hour

// Server is the simulator.
type Server struct {
	hs   *httptest.Server
	opts Options

	mu          sync.Mutex
	seq         int
	units       map[string]*unit
	tokens      map[string]time.Time // access token -> expiry
	refresh     map[string]bool
	calls       map[string]int
	total       int
	tokenCalls  int
	failEvery   int
	failStatus  int
	retryAfter  string
	loseCreates int
	loseDisc    int
	lost        int
	lostDisc    int
	listCalls   int
	enabled     map[string]bool // unit -> subscription skill enabled
	enableCalls int
	sessions    map[string]*dsession
	started     map[string]int // unit -> sessions started
	overlaps    int
	endpoints   map[string][]string
	communities map[string]*community
	homes       map[string]*home
	readOnlyHit int
	authCodes   map[string]string // authorization code -> redirect_uri
}

// Kinds of units: home communities and homes are units too.
const (
	kindUnit      = "unit"
	kindCommunity = "community"
	kindHome      = "home"
)

type unit struct {
	id, name, parent string
	kind             string
	level            int
	children         []string
	visibleAt        int // list calls up to this number do not show the unit
}

type dsession struct {
	id, unit string
	polls    int
	status   string
	started  time.Time
}

// expired reports whether a session's hour is over. Called with mu held.
func (s *Server) expired(d *dsession) bool {
	return !s.opts.Now().Before(d.started.Add(SessionTTL))
}

type community struct {
	id, name, org string
	visibleAt     int
}

// home keeps its occupancy to itself: the documented home object has no
// state (residential doc lines 389-398); the API shows it only by refusing
// changes with 403.
type home struct {
	id, name, community, state string
	visibleAt                  int
}

// New starts a simulator on loopback.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DemoClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DemoClientSecret
	}
	if opts.RefreshToken == "" {
		opts.RefreshToken = DemoRefreshToken
	}
	if opts.OrgID == "" {
		opts.OrgID = DemoOrg
	}
	if opts.SkillID == "" {
		opts.SkillID = DemoSkill
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.DiscoveryPolls <= 0 {
		opts.DiscoveryPolls = 2
	}
	if opts.DiscoveryFinal == "" {
		// Invented: the documents name only IN_PROGRESS (discovery doc
		// line 164); a final value is needed, and hubd treats any other
		// value as final.
		opts.DiscoveryFinal = "SUCCEEDED"
	}
	if opts.Reporter == nil {
		opts.Reporter = NameReporter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:        opts,
		units:       map[string]*unit{opts.OrgID: {id: opts.OrgID, name: "Organization", kind: kindUnit}},
		authCodes:   map[string]string{},
		tokens:      map[string]time.Time{},
		refresh:     map[string]bool{opts.RefreshToken: true},
		calls:       map[string]int{},
		sessions:    map[string]*dsession{},
		started:     map[string]int{},
		endpoints:   map[string][]string{},
		enabled:     map[string]bool{},
		communities: map[string]*community{},
		homes:       map[string]*home{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.token)
	s.route(mux, "GET /v2/units", s.listUnits)
	s.route(mux, "POST /v2/units", s.createUnit)
	s.route(mux, "GET /v2/units/{id}", s.getUnit)
	s.route(mux, "PUT /v2/units/{id}", s.renameUnit)
	s.route(mux, "DELETE /v2/units/{id}", s.deleteUnit)
	s.route(mux, "GET /v2/endpoints", s.listEndpoints)
	s.route(mux, "POST /v1/skills/{skill}/enablements", s.enableSkill)
	s.route(mux, "POST /v1/discoverySessions", s.startDiscovery)
	s.route(mux, "GET /v1/discoverySessions/{id}", s.getDiscovery)
	s.route(mux, "POST /enterprise/residential/v1/homeCommunities", s.createCommunity)
	s.route(mux, "GET /enterprise/residential/v1/homeCommunities", s.listCommunities)
	s.route(mux, "GET /enterprise/residential/v1/homeCommunities/{id}", s.getCommunity)
	s.route(mux, "PUT /enterprise/residential/v1/homeCommunities/{id}", s.updateCommunity)
	s.route(mux, "DELETE /enterprise/residential/v1/homeCommunities/{id}", s.deleteCommunity)
	s.route(mux, "POST /enterprise/residential/v1/homes", s.createHome)
	s.route(mux, "GET /enterprise/residential/v1/homes", s.listHomes)
	s.route(mux, "GET /enterprise/residential/v1/homes/{id}", s.getHome)
	s.route(mux, "PUT /enterprise/residential/v1/homes/{id}", s.updateHome)
	s.route(mux, "DELETE /enterprise/residential/v1/homes/{id}", s.deleteHome)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
	})
	s.hs = httptest.NewServer(mux)
	return s
}

// URL returns the base URL of the API (and of TokenPath).
func (s *Server) URL() string { return s.hs.URL }

// TokenURL returns the token endpoint's URL.
func (s *Server) TokenURL() string { return s.hs.URL + TokenPath }

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// ---- fault injection ----

// FailEvery makes every nth API call (token calls excluded) answer status
// (429 by default) without acting; n <= 0 turns it off.
func (s *Server) FailEvery(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		status = http.StatusTooManyRequests
	}
	s.failEvery, s.failStatus = n, status
}

// SetRetryAfter sets the Retry-After header sent with injected failures.
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	s.retryAfter = v
	s.mu.Unlock()
}

// LoseCreateReplies makes the next n creates (units, communities, homes)
// take effect but drop the connection instead of replying.
func (s *Server) LoseCreateReplies(n int) {
	s.mu.Lock()
	s.loseCreates = n
	s.mu.Unlock()
}

// LoseDiscoveryReplies makes the next n discovery session starts take
// effect (the session runs) but drop the connection instead of replying.
func (s *Server) LoseDiscoveryReplies(n int) {
	s.mu.Lock()
	s.loseDisc = n
	s.mu.Unlock()
}

// ExpireTokens invalidates every access token issued so far.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// ExpireSessions ends every running discovery session the way an hour's
// expiry does: their Location answers 404 from now on.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	for id, d := range s.sessions {
		if d.status == "IN_PROGRESS" {
			delete(s.sessions, id)
		}
	}
	s.mu.Unlock()
}

// RevokeRefreshTokens makes every refresh token invalid (invalid_grant).
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	clear(s.refresh)
	s.mu.Unlock()
}

// AddRefreshToken makes tok a valid refresh token (an operator logged in).
func (s *Server) AddRefreshToken(tok string) {
	s.mu.Lock()
	s.refresh[tok] = true
	s.mu.Unlock()
}

// ---- inspection ----

// Calls returns the API calls made with method (token calls excluded).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.calls {
		if strings.HasPrefix(k, method+" ") {
			n += v
		}
	}
	return n
}

// Counts returns the API calls by "METHOD /route/pattern".
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// TotalCalls returns every API call, token calls excluded.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Writes returns the POST, PUT and DELETE calls (token calls excluded).
func (s *Server) Writes() int {
	return s.Calls(http.MethodPost) + s.Calls(http.MethodPut) + s.Calls(http.MethodDelete)
}

// TokenCalls returns how often the token endpoint was called.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// LostReplies returns how many create replies were dropped.
func (s *Server) LostReplies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// LostDiscoveryReplies returns how many discovery start replies were
// dropped.
func (s *Server) LostDiscoveryReplies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lostDisc
}

// ResetCounts zeroes the call counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.total, s.tokenCalls = 0, 0
}

// Paths returns every unit under the organization as its names joined by
// "/" from level 1 down, sorted; duplicates appear twice. Home communities
// and homes are left out (see HomePaths).
func (s *Server) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	var walk func(id, prefix string)
	walk = func(id, prefix string) {
		for _, c := range s.units[id].children {
			if s.units[c].kind != kindUnit {
				continue
			}
			p := prefix + s.units[c].name
			out = append(out, p)
			walk(c, p+"/")
		}
	}
	walk(s.opts.OrgID, "")
	slices.Sort(out)
	return out
}

// UnitCount returns the number of units below the organization, home
// communities and homes left out.
func (s *Server) UnitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, u := range s.units {
		if u.kind == kindUnit {
			n++
		}
	}
	return n - 1
}

// UnitName returns a unit's name and whether it exists.
func (s *Server) UnitName(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[id]
	if !ok {
		return "", false
	}
	return u.name, true
}

// AddUnit creates a unit directly (no call counted) and returns its id.
func (s *Server) AddUnit(parentID, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _, msg := s.addUnit(parentID, name)
	if msg != "" {
		return "", fmt.Errorf("alexatest: %s", msg)
	}
	return u.id, nil
}

// AddEndpoint associates an endpoint with a unit; such a unit cannot be
// deleted.
func (s *Server) AddEndpoint(unitID, endpointID string) {
	s.mu.Lock()
	s.endpoints[unitID] = append(s.endpoints[unitID], endpointID)
	s.mu.Unlock()
}

// ClearEndpoints removes every endpoint of a unit (they were moved away).
func (s *Server) ClearEndpoints(unitID string) {
	s.mu.Lock()
	delete(s.endpoints, unitID)
	s.mu.Unlock()
}

// Endpoints returns the endpoints associated with a unit.
func (s *Server) Endpoints(unitID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.endpoints[unitID])
}

// SkillEnabled reports whether the subscription skill is enabled on a unit.
func (s *Server) SkillEnabled(unitID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enabled[unitID]
}

// Enablements returns how many enablement calls succeeded.
func (s *Server) Enablements() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enableCalls
}

// SessionsStarted returns how many discovery sessions were started for a
// unit.
func (s *Server) SessionsStarted(unitID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started[unitID]
}

// SessionsTotal returns how many discovery sessions were started in all.
func (s *Server) SessionsTotal() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.started {
		n += v
	}
	return n
}

// SessionsRunning returns how many sessions have not reached a final status.
func (s *Server) SessionsRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.sessions {
		if d.status == "IN_PROGRESS" {
			n++
		}
	}
	return n
}

// Overlaps returns how many sessions were requested for a unit while
// another was still running (each was refused with 409).
func (s *Server) Overlaps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlaps
}

// HomePaths returns every home as "community/home", sorted.
func (s *Server) HomePaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, h := range s.homes {
		out = append(out, s.communities[h.community].name+"/"+h.name)
	}
	slices.Sort(out)
	return out
}

// CommunityNames returns the names of every home community, sorted.
func (s *Server) CommunityNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.communities {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// SetHomeState sets a home's state (e.g. "OCCUPIED", "LINKED"); such homes
// refuse updates and deletes with 403 ("the user doesn't have permission",
// residential doc lines 541, 591): the state itself is never shown, since
// the documented home object has no such field.
func (s *Server) SetHomeState(id, state string) {
	s.mu.Lock()
	if h, ok := s.homes[id]; ok {
		h.state = state
	}
	s.mu.Unlock()
}

// HomeID returns the id of the home named name, or "".
func (s *Server) HomeID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.homes {
		if h.name == name {
			return h.id
		}
	}
	return ""
}

// ReadOnlyViolations returns how many writes hit an OCCUPIED or LINKED home.
func (s *Server) ReadOnlyViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readOnlyHit
}

// ---- plumbing ----

// route registers an authenticated, counted, fault-injectable handler.
func (s *Server) route(mux *http.ServeMux, pattern string, h func(http.ResponseWriter, *http.Request)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seq++
		w.Header().Set("X-Amzn-RequestId", "sim-req-"+strconv.Itoa(s.seq))
		s.calls[pattern]++
		s.total++
		inject := s.failEvery > 0 && s.total%s.failEvery == 0
		status, retryAfter := s.failStatus, s.retryAfter
		auth, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		exp, ok := s.tokens[auth]
		ok = ok && (bearer || s.opts.Relax.BareToken)
		s.mu.Unlock()
		if !ok || s.opts.Now().After(exp) {
			s.fail(w, http.StatusUnauthorized, "UNAUTHORIZED", "the access token is missing, expired or invalid")
			return
		}
		if inject {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			typ := "RATE_EXCEEDED"
			if status != http.StatusTooManyRequests {
				typ = "INTERNAL_FAILURE"
			}
			s.fail(w, status, typ, "injected failure")
			return
		}
		h(w, r)
	})
}

// IssueAuthCode returns a one-time authorization code for redirectURI, as
// if an administrator had logged in with Login with Amazon and consented to
// the scope alexa::enterprise:management; the token endpoint exchanges it
// for a refresh token (grant_type=authorization_code).
func (s *Server) IssueAuthCode(redirectURI string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := s.nextID("ANsim-code-")
	s.authCodes[code] = redirectURI
	return code
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return prefix + strconv.Itoa(s.seq)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes an error in the units/discovery shape {"type","message"}.
// The documents show one type, BAD_REQUEST (units doc line 463, discovery
// doc line 202). The others the simulator sends (UNAUTHORIZED, FORBIDDEN,
// NOT_FOUND, RATE_EXCEEDED, INTERNAL_FAILURE, CONFLICT) are invented so
// its logs read well; hubd must not branch on them, and does not.
func (s *Server) fail(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]string{"type": typ, "message": msg})
}

// failResidential writes an error in the residential shape {"message"}.
func (s *Server) failResidential(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func readBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// loseReply reports whether this create's reply must be dropped, and then
// drops the connection. Called with mu held.
func (s *Server) loseReply() bool {
	if s.loseCreates <= 0 {
		return false
	}
	s.loseCreates--
	s.lost++
	return true
}

func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, "", http.StatusBadGateway)
}

// page cuts items to one page; the token is opaque and needs URL encoding.
func page[T any](items []T, r *http.Request, limit int) ([]T, string, string) {
	q := r.URL.Query()
	max := limit
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > limit {
			return nil, "", fmt.Sprintf("maxResults must be between 1 and %d", limit)
		}
		max = n
	}
	off := 0
	if tok := q.Get("nextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(tok, "p+"), "/="))
		if err != nil || n < 0 || n > len(items) || !strings.HasPrefix(tok, "p+") {
			return nil, "", "invalid nextToken"
		}
		off = n
	}
	end := min(off+max, len(items))
	next := ""
	if end < len(items) {
		// "+", "/" and "=" make sure the client URL-encodes the token.
		next = "p+" + strconv.Itoa(end) + "/="
	}
	return items[off:end], next, ""
}
