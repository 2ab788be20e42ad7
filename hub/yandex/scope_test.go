package yandex

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hubd/hub"
)

const (
	token101   = "resident-101-token"
	token201   = "resident-201-token"
	tokenStaff = "staff-token"
)

// tenancyUsers: a resident of each home and a staff account.
func tenancyUsers() []User {
	return []User{
		{ID: "res-101", TokenHashes: []string{HashToken(token101)}, Scope: hub.Scope{Homes: []string{"r101"}}},
		{ID: "res-201", TokenHashes: []string{HashToken(token201)}, Scope: hub.Scope{Homes: []string{"r201"}}},
		{ID: "staff", TokenHashes: []string{HashToken(tokenStaff)}, Scope: staff},
		{ID: "nobody", TokenHashes: []string{HashToken("nobody-token")}}, // zero scope
	}
}

// listed returns the user id and device ids of a discovery answer.
func listed(t *testing.T, f *fixture, token string) (string, []string) {
	t.Helper()
	code, body := f.do(t, http.MethodGet, "/v1.0/user/devices", token, "")
	if code != http.StatusOK {
		t.Fatalf("devices: %d %s", code, body)
	}
	var d discoveryResponse
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range d.Payload.Devices {
		ids = append(ids, x.ID)
	}
	return d.Payload.UserID, ids
}

func TestHandler_Scope_EachUserListsExactlyTheirDevices(t *testing.T) {
	f := newFixture(t, Options{Users: tenancyUsers()})
	for tok, want := range map[string][]string{
		token101:       {"lamp-2", "socket-2"},
		token201:       {"lamp-3"},
		tokenStaff:     {"lamp-1", "lamp-2", "lamp-3", "socket-1", "socket-2"},
		"nobody-token": nil,
	} {
		if _, got := listed(t, f, tok); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", tok, got, want)
		}
	}
}

// TestHandler_Scope_OtherHomesAnswerLikeUnknownIds asks, as the resident
// of Room 101, for Room 201's lamp and for an id that does not exist, of
// the same length: the answers must be the same bytes but for the id.
func TestHandler_Scope_OtherHomesAnswerLikeUnknownIds(t *testing.T) {
	f := newFixture(t, Options{Users: tenancyUsers()})
	for _, ep := range []struct{ path, body string }{
		{"/v1.0/user/devices/query", `{"devices":[{"id":"%s"}]}`},
		{"/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"%s","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":false}}]}]}}`},
	} {
		codeX, cross := f.do(t, http.MethodPost, ep.path, token101, strings.Replace(ep.body, "%s", "lamp-3", 1))
		codeU, unknown := f.do(t, http.MethodPost, ep.path, token101, strings.Replace(ep.body, "%s", "lamp-9", 1))
		if codeX != http.StatusOK || codeU != http.StatusOK {
			t.Fatalf("%s: status %d and %d", ep.path, codeX, codeU)
		}
		if !bytes.Contains(cross, []byte("DEVICE_NOT_FOUND")) {
			t.Errorf("%s: another home's device was not refused: %s", ep.path, cross)
		}
		if want := bytes.ReplaceAll(unknown, []byte("lamp-9"), []byte("lamp-3")); !bytes.Equal(cross, want) {
			t.Errorf("%s: another home's id answers\n%s\nan unknown id\n%s", ep.path, cross, unknown)
		}
	}
	if _, snap, _ := f.hub.Snapshot("lamp-3"); !snap.State.On {
		t.Error("the resident of Room 101 switched off Room 201's lamp")
	}
	// The same request from the party that may: staff and Room 201.
	for _, tok := range []string{tokenStaff, token201} {
		if q := queryOneAs(t, f, tok, "lamp-3"); q["error_code"] != nil {
			t.Errorf("%s can not query lamp-3: %v", tok, q)
		}
	}
	code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/action", token201,
		`{"payload":{"devices":[{"id":"lamp-3","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":false}}]}]}}`)
	if _, snap, _ := f.hub.Snapshot("lamp-3"); code != http.StatusOK || snap.State.On {
		t.Errorf("the resident of Room 201 could not switch their lamp: %d %s", code, body)
	}
}

func TestHandler_RevokeHome_EndsTheResidentsTokensOnly(t *testing.T) {
	kv := &mapKV{}
	users := tenancyUsers()
	users[0].PasswordHash = passwordHashes()["alice"]
	o := oauthOptions(kv)
	f := newFixture(t, Options{Users: users, Revoked: kv, OAuth: o})
	tk := mustTokens(t, exchange(t, f, login(t, f, "res-101", "alice-pass")))
	if uid, ids := listed(t, f, tk.Access); uid != "res-101" || !slices.Equal(ids, []string{"lamp-2", "socket-2"}) {
		t.Fatalf("a linked resident lists %v as %q, want Room 101's devices", ids, uid)
	}
	if got := recipients(f.api); !slices.Equal(got, []string{"res-101", "res-201", "staff"}) {
		t.Errorf("recipients before check-out = %v", got)
	}
	revoked, err := f.api.RevokeHome("r101")
	if err != nil || !slices.Equal(revoked, []string{"res-101"}) {
		t.Fatalf("RevokeHome = %v, %v", revoked, err)
	}
	for _, tok := range []string{token101, tk.Access} {
		if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tok, ""); code != http.StatusUnauthorized {
			t.Errorf("a token of the checked-out home answers %d, want 401", code)
		}
	}
	oauthErr(t, refresh(t, f, tk.Refresh), http.StatusBadRequest, "invalid_grant")
	for _, tok := range []string{token201, tokenStaff} {
		if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tok, ""); code != http.StatusOK {
			t.Errorf("another user's token answers %d after the check-out", code)
		}
	}
	if got := recipients(f.api); !slices.Equal(got, []string{"res-201", "staff"}) {
		t.Errorf("recipients after check-out = %v", got)
	}
	// The old password links no account any more.
	c := browser(t)
	if r := postLogin(t, f, c, openLogin(t, f, c, authorizeQuery("again")), "res-101", "alice-pass"); r.status != http.StatusUnauthorized {
		t.Errorf("the checked-out resident's password logs in: %d", r.status)
	}
	// The revocations outlive a restart.
	f2, err := New(f.hub, Options{Users: users, Revoked: kv, OAuth: oauthOptions(kv)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f2.tokens.check(token101, f.clock.Now()); err == nil {
		t.Error("the configured token of the checked-out home works again after a restart")
	}
	if f2.tokens.users.Load().password["res-101"] != nil {
		t.Error("the checked-out resident's password logs in again after a restart")
	}
	// A new password in the configuration (the next tenant) logs in.
	users[0].PasswordHash = passwordHashes()["bob"]
	if err := f.api.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	mustTokens(t, exchange(t, f, login(t, f, "res-101", "bob-pass")))
}

func recipients(h *Handler) []string {
	var out []string
	for _, r := range h.Recipients() {
		out = append(out, r.UserID)
	}
	return out
}
