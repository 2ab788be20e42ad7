package alexatest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func token(t *testing.T, s *Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(s.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestServer_Token_GrantsAndRefuses(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	good := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DemoRefreshToken}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}
	code, m := token(t, s, good)
	if code != 200 || m["access_token"] == "" || m["expires_in"] != float64(3600) {
		t.Fatalf("grant: %d %v", code, m)
	}
	bad := url.Values{}
	for k, v := range good {
		bad[k] = v
	}
	bad.Set("refresh_token", "nope")
	if code, m := token(t, s, bad); code != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("bad refresh token: %d %v", code, m)
	}
	bad.Set("refresh_token", DemoRefreshToken)
	bad.Set("client_secret", "nope")
	if code, m := token(t, s, bad); code != 401 || m["error"] != "invalid_client" {
		t.Fatalf("bad client: %d %v", code, m)
	}
}

func TestServer_API_RejectsBadTokenAndBadPaging(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	req, _ := http.NewRequest("GET", s.URL()+"/v2/units?parentId="+DemoOrg, nil)
	req.Header.Set("Authorization", "Bearer forged")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}
	_, m := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DemoRefreshToken}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}})
	for _, q := range []string{"&maxResults=11", "&maxResults=0", "&nextToken=garbage"} {
		req, _ := http.NewRequest("GET", s.URL()+"/v2/units?parentId="+DemoOrg+q, nil)
		req.Header.Set("Authorization", "Bearer "+m["access_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(e["message"], "") || e["type"] != "BAD_REQUEST" {
			t.Fatalf("%s: %d %v", q, resp.StatusCode, e)
		}
	}
}

// call makes one authenticated API call and returns the status and body.
func call(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	_, m := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DemoRefreshToken}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}})
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestServer_Enablement_RequiredOnPropertyAndOnce(t *testing.T) {
	s := New(Options{SubscriptionSkillID: "sub"})
	defer s.Close()
	prop, _ := s.AddUnit(DemoOrg, "Property")
	create := `{"name":{"type":"PLAIN","value":{"text":"Floor"}},"parentId":"` + prop + `"}`
	if code, m := call(t, s, "POST", "/v2/units", create); code != 403 {
		t.Fatalf("child before enablement: %d %v", code, m)
	}
	enable := `{"unitId":"` + prop + `","stage":"live"}`
	if code, _ := call(t, s, "POST", "/v1/skills/other/enablements", enable); code != 404 {
		t.Fatalf("other skill: %d", code)
	}
	if code, _ := call(t, s, "POST", "/v1/skills/sub/enablements", enable); code != 204 || !s.SkillEnabled(prop) {
		t.Fatalf("enable: %d", code)
	}
	if code, m := call(t, s, "POST", "/v1/skills/sub/enablements", enable); code != 409 || m["type"] != "CONFLICT" {
		t.Fatalf("second enable: %d %v", code, m)
	}
	code, m := call(t, s, "POST", "/v2/units", create)
	if code != 200 {
		t.Fatalf("child after enablement: %d %v", code, m)
	}
	floor, _ := m["id"].(string)
	if code, _ := call(t, s, "POST", "/v1/skills/sub/enablements", `{"unitId":"`+floor+`","stage":"live"}`); code != 400 {
		t.Fatalf("enable on level 2: %d", code)
	}
	for _, bad := range []string{`{"unitId":"`, `{"stage":"live"}`, `{"unitId":"x","stage":"beta"}`, ``} {
		if code, _ := call(t, s, "POST", "/v1/skills/sub/enablements", bad); code != 400 {
			t.Fatalf("%q: %d", bad, code)
		}
	}
	if s.Enablements() != 1 {
		t.Fatalf("enablements = %d", s.Enablements())
	}
}

func TestServer_ListLag_HidesNewUnitsForNListCalls(t *testing.T) {
	s := New(Options{ListLag: 2})
	defer s.Close()
	code, m := call(t, s, "POST", "/v2/units", `{"name":{"type":"PLAIN","value":{"text":"P"}},"parentId":"`+DemoOrg+`"}`)
	if code != 200 {
		t.Fatal(code, m)
	}
	id := m["id"].(string)
	if code, _ := call(t, s, "GET", "/v2/units/"+id, ""); code != 200 {
		t.Fatalf("GET of a fresh unit: %d (read-after-write lag is for lists only)", code)
	}
	for i, want := range []int{0, 0, 1, 1} {
		_, m := call(t, s, "GET", "/v2/units?parentId="+DemoOrg, "")
		if got := len(m["results"].([]any)); got != want {
			t.Fatalf("list %d: %d units, want %d", i+1, got, want)
		}
	}
}

func TestServer_Endpoints_BlockDeleteUntilCleared(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	u, _ := s.AddUnit(DemoOrg, "Room")
	s.AddEndpoint(u, "e1")
	if _, m := call(t, s, "GET", "/v2/endpoints?associatedUnits.id="+u+"&expand=all", ""); len(m["results"].([]any)) != 1 {
		t.Fatalf("endpoints: %v", m)
	}
	if code, _ := call(t, s, "GET", "/v2/endpoints", ""); code != 400 {
		t.Fatalf("no unit: %d", code)
	}
	if code, _ := call(t, s, "DELETE", "/v2/units/"+u, ""); code != 400 {
		t.Fatalf("delete with endpoint: %d", code)
	}
	s.ClearEndpoints(u)
	if code, _ := call(t, s, "DELETE", "/v2/units/"+u, ""); code != 204 || len(s.Endpoints(u)) != 0 {
		t.Fatalf("delete after clear: %d", code)
	}
}

// callAuth makes one call with a given Authorization header.
func callAuth(t *testing.T, s *Server, method, path, auth, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServer_Strict_BearerPrefixRequired(t *testing.T) {
	for _, relax := range []bool{false, true} {
		s := New(Options{Relax: Relax{BareToken: relax}})
		_, m := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DemoRefreshToken}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}})
		tok := m["access_token"].(string)
		if code := callAuth(t, s, "GET", "/v2/units/"+DemoOrg, "Bearer "+tok, ""); code != 200 {
			t.Fatalf("with prefix: %d", code)
		}
		want := 401
		if relax {
			want = 200
		}
		if code := callAuth(t, s, "GET", "/v2/units/"+DemoOrg, tok, ""); code != want {
			t.Fatalf("relax %v, bare token: %d, want %d", relax, code, want)
		}
		s.Close()
	}
}

func TestServer_Strict_ListWithoutParentIDIs400(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if code, m := call(t, s, "GET", "/v2/units?queryDepth=all", ""); code != 400 || m["type"] != "BAD_REQUEST" {
		t.Fatalf("no parentId: %d %v", code, m)
	}
	if code, _ := call(t, s, "GET", "/v2/units?parentId=amzn1.alexa.unit.did.none", ""); code != 404 {
		t.Fatalf("unknown parent: %d", code)
	}
	r := New(Options{Relax: Relax{ParentID404: true}})
	defer r.Close()
	if code, _ := call(t, r, "GET", "/v2/units", ""); code != 404 {
		t.Fatalf("relaxed: %d", code)
	}
}

func TestServer_Strict_PutNamesAsOnPost(t *testing.T) {
	long := strings.Repeat("x", MaxNameLength+1)
	for _, relax := range []bool{false, true} {
		s := New(Options{Relax: Relax{LoosePut: relax, NoEnablement: true}})
		id, _ := s.AddUnit(DemoOrg, "Room")
		for _, body := range []string{
			`{"name":{"type":"SSML","value":{"text":"Room 2"}}}`,
			`{"name":{"value":{"text":"Room 2"}}}`,
			`{"name":{"type":"PLAIN","value":{"text":"` + long + `"}}}`,
		} {
			want := 400
			if relax {
				want = 204
			}
			if code, _ := call(t, s, "PUT", "/v2/units/"+id, body); code != want {
				t.Fatalf("relax %v, %.60s: %d, want %d", relax, body, code, want)
			}
		}
		if code, _ := call(t, s, "POST", "/v2/units", `{"name":{"type":"PLAIN","value":{"text":"`+long+`"}},"parentId":"`+DemoOrg+`"}`); code != 400 {
			t.Fatalf("long name on POST: %d", code)
		}
		if code, _ := call(t, s, "PUT", "/v2/units/"+id, `{"name":{"type":"PLAIN","value":{"text":"Room 2"}}}`); code != 204 {
			t.Fatalf("good PUT: %d", code)
		}
		s.Close()
	}
}

func TestServer_Strict_CommunitiesAndHomesAreUnitsWithLag(t *testing.T) {
	for _, relax := range []bool{false, true} {
		s := New(Options{ListLag: 2, Relax: Relax{HideResidentialUnits: relax}}) // one counter for all lists
		_, m := call(t, s, "POST", "/enterprise/residential/v1/homeCommunities", `{"name":"Tower","organizationId":"`+DemoOrg+`"}`)
		hc := m["id"].(string)
		_, m = call(t, s, "POST", "/enterprise/residential/v1/homes", `{"name":"Apt 1","homeCommunityId":"`+hc+`"}`)
		home := m["id"].(string)
		// Lag: the first list of each kind misses the fresh objects.
		if _, m := call(t, s, "GET", "/enterprise/residential/v1/homeCommunities?organizationId="+DemoOrg, ""); len(m["homeCommunities"].([]any)) != 0 {
			t.Fatalf("community listed at once: %v", m)
		}
		if _, m := call(t, s, "GET", "/enterprise/residential/v1/homes?homeCommunityId="+hc, ""); len(m["homes"].([]any)) != 0 {
			t.Fatalf("home listed at once: %v", m)
		}
		_, m = call(t, s, "GET", "/v2/units?parentId="+DemoOrg+"&queryDepth=all&expand=all", "")
		var ids []string
		for _, u := range m["results"].([]any) {
			ids = append(ids, u.(map[string]any)["id"].(string))
		}
		if want := !relax; strings.Contains(strings.Join(ids, " "), hc) != want || strings.Contains(strings.Join(ids, " "), home) != want {
			t.Fatalf("relax %v: units list %v", relax, ids)
		}
		_, m = call(t, s, "GET", "/enterprise/residential/v1/homes/"+home, "")
		if _, ok := m["state"]; ok || m["homeCommunityId"] != hc {
			t.Fatalf("home object: %v", m)
		}
		s.Close()
	}
}

func TestServer_Strict_DiscoveryAssociatesEndpoints(t *testing.T) {
	s := New(Options{DiscoveryPolls: 1, Relax: Relax{NoEnablement: true}})
	defer s.Close()
	room, _ := s.AddUnit(DemoOrg, "Room 101")
	m := startDiscovery(t, s, room)
	for range 2 {
		call(t, s, "GET", "/v1/discoverySessions/"+m["id"].(string), "")
	}
	_, eps := call(t, s, "GET", "/v2/endpoints?associatedUnits.id="+room+"&expand=all", "")
	if len(eps["results"].([]any)) != 1 {
		t.Fatalf("endpoints: %v", eps)
	}
	if code, _ := call(t, s, "DELETE", "/v2/units/"+room, ""); code != 400 {
		t.Fatalf("delete with endpoints: %d", code)
	}
	// The same room recreated elsewhere takes its endpoint over.
	moved, _ := s.AddUnit(DemoOrg, "Room 101")
	m = startDiscovery(t, s, moved)
	for range 2 {
		call(t, s, "GET", "/v1/discoverySessions/"+m["id"].(string), "")
	}
	if len(s.Endpoints(room)) != 0 || len(s.Endpoints(moved)) != 1 {
		t.Fatalf("endpoints old %v new %v", s.Endpoints(room), s.Endpoints(moved))
	}
	if code, _ := call(t, s, "DELETE", "/v2/units/"+room, ""); code != 204 {
		t.Fatalf("delete emptied unit: %d", code)
	}
	for _, stage := range []string{"LIVE", "Live", "beta"} {
		if code, _ := call(t, s, "POST", "/v1/discoverySessions?unit="+moved, sessionBody(stage)); code != 400 {
			t.Fatalf("stage %q: %d", stage, code)
		}
	}
}

func TestServer_Token_AuthorizationCodeOnceForItsRedirect(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	code := s.IssueAuthCode("https://localhost/cb")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://other/"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}
	if st, m := token(t, s, form); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("wrong redirect: %d %v", st, m)
	}
	code = s.IssueAuthCode("https://localhost/cb")
	form.Set("code", code)
	form.Set("redirect_uri", "https://localhost/cb")
	st, m := token(t, s, form)
	rt, _ := m["refresh_token"].(string)
	if st != 200 || rt == "" || rt == DemoRefreshToken {
		t.Fatalf("exchange: %d %v", st, m)
	}
	if st, _ := token(t, s, form); st != 400 {
		t.Fatalf("code used twice: %d", st)
	}
	if st, _ := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}); st != 200 {
		t.Fatalf("new refresh token refused: %d", st)
	}
}

func TestServer_Relax_AnyStageCase(t *testing.T) {
	s := New(Options{Relax: Relax{AnyStageCase: true, NoEnablement: true}})
	defer s.Close()
	room, _ := s.AddUnit(DemoOrg, "Room")
	body := sessionBody("LIVE")
	if code, m := call(t, s, "POST", "/v1/discoverySessions?unit="+room, body); code != 201 {
		t.Fatalf("LIVE relaxed: %d %v", code, m)
	}
	prop, _ := s.AddUnit(DemoOrg, "Property")
	if code, _ := call(t, s, "POST", "/v1/skills/x/enablements", `{"unitId":"`+prop+`","stage":"LIVE"}`); code != 204 {
		t.Fatalf("enablement LIVE relaxed: %d", code)
	}
	strict := New(Options{})
	defer strict.Close()
	prop, _ = strict.AddUnit(DemoOrg, "Property")
	if code, _ := call(t, strict, "POST", "/v1/skills/x/enablements", `{"unitId":"`+prop+`","stage":"LIVE"}`); code != 400 {
		t.Fatalf("enablement LIVE strict: %d", code)
	}
}

func TestServer_UnitsAPIOnAHomeIsTheSameObject(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	_, m := call(t, s, "POST", "/enterprise/residential/v1/homeCommunities", `{"name":"Tower","organizationId":"`+DemoOrg+`"}`)
	hc := m["id"].(string)
	_, m = call(t, s, "POST", "/enterprise/residential/v1/homes", `{"name":"Apt 1","homeCommunityId":"`+hc+`"}`)
	home := m["id"].(string)
	if code, _ := call(t, s, "PUT", "/v2/units/"+home, `{"name":{"type":"PLAIN","value":{"text":"Apt 1A"}}}`); code != 204 {
		t.Fatalf("rename: %d", code)
	}
	if got := s.HomePaths(); len(got) != 1 || got[0] != "Tower/Apt 1A" {
		t.Fatalf("homes %v", got)
	}
	s.SetHomeState(home, "OCCUPIED")
	if code, _ := call(t, s, "DELETE", "/v2/units/"+home, ""); code != 403 {
		t.Fatalf("delete occupied: %d", code)
	}
	s.SetHomeState(home, "VACANT")
	if code, _ := call(t, s, "DELETE", "/v2/units/"+home, ""); code != 204 || len(s.HomePaths()) != 0 {
		t.Fatalf("delete: %d, homes %v", code, s.HomePaths())
	}
}

func TestServer_Strict_SessionLocationValidForAnHour(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(Options{DiscoveryPolls: 5, Now: clock, Relax: Relax{NoEnablement: true}})
	defer s.Close()
	room, _ := s.AddUnit(DemoOrg, "Room 101")
	m := startDiscovery(t, s, room)
	loc := "/v1/discoverySessions/" + m["id"].(string)
	if code, _ := call(t, s, "POST", "/v1/discoverySessions?unit="+room, sessionBody("live")); code != http.StatusConflict {
		t.Fatalf("second start within the hour: %d, want 409", code)
	}
	mu.Lock()
	now = now.Add(SessionTTL - time.Second)
	mu.Unlock()
	if code, m := call(t, s, "GET", loc, ""); code != 200 {
		t.Fatalf("poll a second before the hour is over: %d %v", code, m)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if code, m := call(t, s, "GET", loc, ""); code != http.StatusNotFound {
		t.Fatalf("poll once the hour is over: %d %v, want 404", code, m)
	}
	if code, _ := call(t, s, "POST", "/v1/discoverySessions?unit="+room, sessionBody("live")); code != 201 {
		t.Fatalf("new start after the hour: %d, want 201", code)
	}
}

// startDiscovery starts a discovery session for unit as the demo skill
// does, and returns the answer.
func startDiscovery(t *testing.T, s *Server, unit string) map[string]any {
	t.Helper()
	code, m := call(t, s, "POST", "/v1/discoverySessions?unit="+unit, sessionBody("live"))
	if code != 201 {
		t.Fatalf("start: %d %v", code, m)
	}
	return m
}

// sessionBody is a discovery session's start for the demo skill at stage.
func sessionBody(stage string) string {
	return `{"endpointReporter":{"type":"SKILL","value":{"skillId":"` + DemoSkill + `","skillStage":"` + stage + `"}}}`
}
