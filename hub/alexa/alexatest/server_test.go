package alexatest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
