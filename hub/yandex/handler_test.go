package yandex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

const queryAll = `{"devices":[{"id":"lamp-1","custom_data":{"a":[1,{"b":null}]}},{"id":"socket-1"},{"id":"lamp-2"},{"id":"socket-2"},{"id":"lamp-3"},{"id":"nope"}]}`

func TestHandler_Liveness_NeedsNoToken(t *testing.T) {
	f := newFixture(t, Options{})
	for _, p := range []string{"/v1.0", "/v1.0/"} {
		if code, _ := f.do(t, http.MethodHead, p, "", ""); code != http.StatusOK {
			t.Errorf("HEAD %s: status %d, want 200", p, code)
		}
	}
}

func TestHandler_Auth_RejectsMissingAndWrongToken(t *testing.T) {
	f := newFixture(t, Options{})
	for _, tok := range []string{"", "wrong", tokenAlice + "x"} {
		code, body := f.do(t, http.MethodGet, "/v1.0/user/devices", tok, "")
		if code != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", tok, code)
		}
		var e struct{ RequestID, ErrorCode string }
		if err := json.Unmarshal(body, &struct {
			RequestID *string `json:"request_id"`
			ErrorCode *string `json:"error_code"`
		}{&e.RequestID, &e.ErrorCode}); err != nil {
			t.Fatalf("401 body is not JSON: %v: %s", err, body)
		}
		if e.RequestID != "req-1" || e.ErrorCode != "UNAUTHORIZED" {
			t.Errorf("401 body = %s", body)
		}
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", "bob-other", ""); code != http.StatusOK {
		t.Errorf("second token of bob: status %d", code)
	}
}

func TestHandler_RequestID_GeneratedWhenAbsent(t *testing.T) {
	f := newFixture(t, Options{})
	ids := map[string]bool{}
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1.0/user/devices/query", strings.NewReader(`{"devices":[]}`))
		req.Header.Set("Authorization", "Bearer "+tokenAlice)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			RequestID string `json:"request_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.RequestID == "" {
			t.Fatalf("no request_id: %v", err)
		}
		ids[out.RequestID] = true
	}
	if len(ids) != 3 {
		t.Errorf("generated request ids repeat: %v", ids)
	}
}

func TestHandler_Devices_Golden(t *testing.T) {
	f := newFixture(t, Options{Reportable: true})
	code, body := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, "")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	golden(t, "devices", body)
}

func TestHandler_Query_Golden(t *testing.T) {
	f := newFixture(t, Options{})
	code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/query", tokenAlice, queryAll)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	golden(t, "query", body)

	if err := f.hub.Apply(hub.Report{Device: "socket-2", Avail: hub.AvailOffline}); err != nil {
		t.Fatal(err)
	}
	_, body = f.do(t, http.MethodPost, "/v1.0/user/devices/query", tokenAlice, queryAll)
	golden(t, "query_offline", body)
}

// queryOne returns the decoded entry of one device, asked as alice.
func queryOne(t *testing.T, f *fixture, id string) map[string]any {
	t.Helper()
	return queryOneAs(t, f, tokenAlice, id)
}

// queryOneAs returns the decoded entry of one device, asked with token.
func queryOneAs(t *testing.T, f *fixture, token, id string) map[string]any {
	t.Helper()
	code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/query", token, `{"devices":[{"id":"`+id+`"}]}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var out struct {
		Payload struct {
			Devices []map[string]any `json:"devices"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Payload.Devices) != 1 {
		t.Fatalf("bad query response %v: %s", err, body)
	}
	return out.Payload.Devices[0]
}

func TestHandler_Query_FollowsStateAndStaleness(t *testing.T) {
	f := newFixture(t, Options{})
	first := fmt.Sprint(queryOne(t, f, "lamp-1"))
	if !strings.Contains(first, "value:80") {
		t.Fatalf("lamp-1 brightness 80 missing: %s", first)
	}
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 33}}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(queryOne(t, f, "lamp-1")); !strings.Contains(got, "value:33") {
		t.Errorf("after a report of 33 the query still says: %s", got)
	}
	// Silent for longer than StaleAfter: unreachable even before the hub's
	// watcher notices.
	f.clock.Add(f.hub.StaleAfter() + time.Second)
	if got := queryOne(t, f, "lamp-1"); got["error_code"] != "DEVICE_UNREACHABLE" {
		t.Errorf("stale lamp: %v", got)
	}
	if err := f.hub.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Fatal(err)
	}
	if got := queryOne(t, f, "lamp-1"); got["error_code"] != nil {
		t.Errorf("lamp heard again but still: %v", got)
	}
}

const actionBody = `{"payload":{"devices":[
 {"id":"lamp-1","custom_data":{"x":1},"capabilities":[
   {"type":"devices.capabilities.on_off","state":{"instance":"on","value":false}},
   {"type":"devices.capabilities.range","state":{"instance":"brightness","value":-30,"relative":true}},
   {"type":"devices.capabilities.color_setting","state":{"instance":"temperature_k","value":9000}}]},
 {"id":"lamp-2","capabilities":[
   {"type":"devices.capabilities.color_setting","state":{"instance":"rgb","value":16714250}},
   {"type":"devices.capabilities.range","state":{"instance":"brightness","value":"50"}},
   {"type":"devices.capabilities.range","state":{"instance":"brightness","value":150}}]},
 {"id":"socket-1","capabilities":[
   {"type":"devices.capabilities.on_off","state":{"instance":"on","value":"yes"}},
   {"type":"devices.capabilities.on_off","state":{"instance":"on","value":true,"relative":true}}]},
 {"id":"socket-2","capabilities":[
   {"type":"devices.capabilities.range","state":{"instance":"brightness","value":50}},
   {"type":"devices.capabilities.on_off","state":{"instance":"on","value":false,"relative":null}}]},
 {"id":"lamp-3","capabilities":[
   {"type":"devices.capabilities.color_setting","state":{"instance":"temperature_k","value":1500}},
   {"type":"devices.capabilities.color_setting","state":{"instance":"hsv","value":{"h":1,"s":2,"v":3}}},
   {"type":"devices.capabilities.mode","state":{"instance":"program","value":"auto"}}]},
 {"id":"ghost","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}
]}}`

func TestHandler_Action_Golden(t *testing.T) {
	f := newFixture(t, Options{})
	code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/action", tokenAlice, actionBody)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	golden(t, "action", body)
	// The echo driver applied the commands: the query shows the result.
	_, body = f.do(t, http.MethodPost, "/v1.0/user/devices/query", tokenAlice, queryAll)
	golden(t, "query_after_action", body)
}

func TestHandler_Action_RelativeBrightness(t *testing.T) {
	tests := []struct {
		name  string
		state hub.State // lamp-3's state before; Set empty: no report
		delta int
		want  string // brightness after, or the error code
	}{
		{"adds", hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 40}, 25, "65"},
		{"clamps high", hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 90}, 50, "100"},
		{"clamps low", hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: true, Brightness: 10}, -50, "1"},
		{"unknown while off", hub.State{Set: hub.Fields(hub.FieldOn), On: false}, 10, "DEVICE_OFF"},
		{"unknown while on", hub.State{Set: hub.Fields(hub.FieldOn), On: true}, 10, "NOT_SUPPORTED_IN_CURRENT_MODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fixture{clock: newClock(t0)}
			h, err := hub.New(demoDevices(), demoSite(), hub.Options{Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			f.hub = h
			h.SetDriver("mqtt", echoDriver(&f.hub))
			if err := h.Apply(hub.Report{Device: "lamp-3", State: tt.state}); err != nil {
				t.Fatal(err)
			}
			api, err := New(h, Options{Users: testUsers()})
			if err != nil {
				t.Fatal(err)
			}
			devs, err := decodeAction([]byte(fmt.Sprintf(`{"payload":{"devices":[{"id":"lamp-3","capabilities":[
				{"type":"devices.capabilities.range","state":{"instance":"brightness","value":%d,"relative":true}}]}]}}`, tt.delta)))
			if err != nil {
				t.Fatal(err)
			}
			p := api.plan(devs[0], staff)
			if err := p.capErrs[0]; err != nil {
				if _, code := classify(err); code != tt.want {
					t.Errorf("error %v (%s), want %s", err, code, tt.want)
				}
				return
			}
			if got := fmt.Sprint(p.cmd.Set.Brightness); got != tt.want {
				t.Errorf("brightness %s, want %s", got, tt.want)
			}
		})
	}
}

func TestHandler_Action_SlowDeviceDoesNotHoldTheResponse(t *testing.T) {
	f := newFixture(t, Options{ActionTimeout: 300 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	// The MQTT driver hangs and ignores its context, the worst case.
	f.hub.SetDriver("mqtt", hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		<-release
		return nil
	}))
	code, body := f.do(t, http.MethodPost, "/v1.0/user/devices/action", tokenAlice, `{"payload":{"devices":[
		{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},
		{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":false}}]}]}}`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var out actionResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]actionResult{}
	for _, d := range out.Payload.Devices {
		got[d.ID] = d.Capabilities[0].State.ActionResult
	}
	if got["lamp-2"].ErrorCode != "DEVICE_UNREACHABLE" || got["lamp-1"].Status != "DONE" {
		t.Errorf("results %+v", got)
	}
}

func TestHandler_BadInput_NeverPanicsOr500(t *testing.T) {
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprintf(`{"id":"d%d"}`, i)
	}
	tenThousand := `{"devices":[` + strings.Join(many, ",") + `]}`
	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"malformed JSON", "POST", "/v1.0/user/devices/query", `{"devices":[{"id":"lamp-1"}`, 400, "BAD_REQUEST"},
		{"not an object", "POST", "/v1.0/user/devices/query", `[1,2]`, 400, "BAD_REQUEST"},
		{"no devices", "POST", "/v1.0/user/devices/query", `{"foo":1}`, 400, "BAD_REQUEST"},
		{"id is a number", "POST", "/v1.0/user/devices/query", `{"devices":[{"id":5}]}`, 400, "BAD_REQUEST"},
		{"empty body", "POST", "/v1.0/user/devices/query", ``, 400, "BAD_REQUEST"},
		{"trailing garbage", "POST", "/v1.0/user/devices/query", `{"devices":[]}xx`, 400, "BAD_REQUEST"},
		{"deep nesting", "POST", "/v1.0/user/devices/query", `{"devices":[{"id":"a","custom_data":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`, 400, "BAD_REQUEST"},
		{"10,000 ids", "POST", "/v1.0/user/devices/query", tenThousand, 413, "REQUEST_TOO_LARGE"},
		{"over the limit", "POST", "/v1.0/user/devices/action", `{"payload":{"devices":[]},"pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "REQUEST_TOO_LARGE"},
		{"action without payload", "POST", "/v1.0/user/devices/action", `{"devices":[]}`, 400, "BAD_REQUEST"},
		{"action payload not an object", "POST", "/v1.0/user/devices/action", `{"payload":"x"}`, 400, "BAD_REQUEST"},
		{"action truncated", "POST", "/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"lamp-1","capa`, 400, "BAD_REQUEST"},
		{"brightness as string", "POST", "/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.range","state":{"instance":"brightness","value":"50"}}]}]}}`, 200, "INVALID_VALUE"},
		{"hsv as number", "POST", "/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.color_setting","state":{"instance":"hsv","value":7}}]}]}}`, 200, "INVALID_VALUE"},
		{"value missing", "POST", "/v1.0/user/devices/action", `{"payload":{"devices":[{"id":"lamp-1","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on"}}]}]}}`, 200, "INVALID_ACTION"},
		{"unknown path", "GET", "/v1.0/user/devices/nothing", ``, 404, "NOT_FOUND"},
		{"wrong method", "GET", "/v1.0/user/devices/query", ``, 405, "METHOD_NOT_ALLOWED"},
		{"wrong method on devices", "POST", "/v1.0/user/devices", `{}`, 405, "METHOD_NOT_ALLOWED"},
	}
	var mu sync.Mutex
	seen := map[string]int{}
	f := newFixture(t, Options{Observe: func(ep string, status int, d time.Duration) {
		mu.Lock()
		seen[fmt.Sprint(ep, status)]++
		mu.Unlock()
	}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do(t, tt.method, tt.path, tokenAlice, tt.body)
			if code != tt.want || !strings.Contains(string(body), tt.contains) {
				t.Errorf("status %d, want %d with %s; body %.300s", code, tt.want, tt.contains, body)
			}
			if !json.Valid(body) {
				t.Errorf("body is not JSON: %.300s", body)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["query400"] != 7 || seen["unknown404"] != 1 || seen["query413"] != 1 {
		t.Errorf("Observe saw %v", seen)
	}
}

func TestHandler_Unlink_RevokesTokenAcrossRestarts(t *testing.T) {
	kv := &mapKV{}
	f := newFixture(t, Options{Revoked: kv})
	if code, body := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenBob, ""); code != http.StatusOK || !strings.Contains(string(body), `"req-1"`) {
		t.Fatalf("unlink: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, ""); code != http.StatusUnauthorized {
		t.Errorf("revoked token: status %d, want 401", code)
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenAlice, ""); code != http.StatusOK {
		t.Errorf("another user's token: status %d, want 200", code)
	}
	// A new handler over the same KV (a restart) still refuses it.
	api2, err := New(f.hub, Options{Users: testUsers(), Revoked: kv})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = api2
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, ""); code != http.StatusUnauthorized {
		t.Errorf("after restart: status %d, want 401", code)
	}
}

type failKV struct{ mapKV }

func (k *failKV) Put(key, value string) error { return errors.New("disk full") }

func TestHandler_Unlink_PersistFailureIs500(t *testing.T) {
	f := newFixture(t, Options{Revoked: &failKV{}})
	if code, body := f.do(t, http.MethodPost, "/v1.0/user/unlink", tokenBob, ""); code != http.StatusInternalServerError || strings.Contains(string(body), "disk") {
		t.Errorf("unlink with a failing store: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/v1.0/user/devices", tokenBob, ""); code != http.StatusUnauthorized {
		t.Errorf("the token must still be refused in memory: %d", code)
	}
}

func TestNew_RejectsBadOptions(t *testing.T) {
	h, err := hub.New(nil, nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tests := []struct {
		name  string
		users []User
	}{
		{"no id", []User{{TokenHashes: []string{HashToken("a")}}}},
		{"plain token", []User{{ID: "u", TokenHashes: []string{"a-token"}}}},
		{"short hash", []User{{ID: "u", TokenHashes: []string{"sha256:abcd"}}}},
		{"duplicate user", []User{{ID: "u"}, {ID: "u"}}},
		{"shared token", []User{{ID: "u", TokenHashes: []string{HashToken("a")}}, {ID: "v", TokenHashes: []string{HashToken("a")}}}},
	}
	for _, tt := range tests {
		if _, err := New(h, Options{Users: tt.users}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err %v, want ErrInvalidOptions", tt.name, err)
		}
	}
	if _, err := New(h, Options{Users: testUsers()}); err != nil {
		t.Errorf("good options: %v", err)
	}
}

func TestHashToken_IsStable(t *testing.T) {
	// sha256("demo-token")
	// printf demo-token | sha256sum
	if got := HashToken("demo-token"); got != "sha256:7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c" {
		t.Errorf("HashToken = %q", got)
	}
	if HashToken("a") == HashToken("b") || !strings.HasPrefix(HashToken("a"), "sha256:") {
		t.Error("HashToken does not hash")
	}
}
