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
