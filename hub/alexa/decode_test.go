package alexa

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

var unitListCases = []struct {
	name  string
	body  string
	units int
	next  string
	err   error
}{
	{"expanded last page", `{"results":[{"id":"u1","name":{"type":"PLAIN","value":{"text":"Room 1"}},"parentId":"p","level":2}]}`, 1, "", nil},
	{"ids only", `{"results":[{"id":"u1","name":null,"parentId":null,"level":null},{"id":"u2"}]}`, 2, "", nil},
	{"pagination context", `{"results":[],"paginationContext":{"nextToken":"a+b/c="}}`, 0, "a+b/c=", nil},
	{"top-level token", `{"results":[{"id":"u"}],"nextToken":"t2"}`, 1, "t2", nil},
	{"empty pagination context", `{"results":[{"id":"u"}],"paginationContext":{}}`, 1, "", nil},
	{"missing results", `{"paginationContext":{"nextToken":"x"}}`, 0, "", ErrMalformedReply},
	{"unit without id", `{"results":[{"name":{"type":"PLAIN","value":{"text":"x"}}}]}`, 0, "", ErrMalformedReply},
	{"negative level", `{"results":[{"id":"u","level":-1}]}`, 0, "", ErrMalformedReply},
	{"results not array", `{"results":{"id":"u"}}`, 0, "", ErrMalformedReply},
	{"id not string", `{"results":[{"id":5}]}`, 0, "", ErrMalformedReply},
	{"truncated", `{"results":[{"id":"u1"`, 0, "", ErrMalformedReply},
	{"trailing garbage", `{"results":[]} {}`, 0, "", ErrMalformedReply},
	{"empty", ``, 0, "", ErrMalformedReply},
	{"null", `null`, 0, "", ErrMalformedReply},
	{"html", `<html>503</html>`, 0, "", ErrMalformedReply},
}

func TestDecodeUnitList_Table(t *testing.T) {
	for _, tc := range unitListCases {
		t.Run(tc.name, func(t *testing.T) {
			units, next, err := decodeUnitList([]byte(tc.body))
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if len(units) != tc.units || next != tc.next {
				t.Fatalf("got %d units, next %q; want %d, %q", len(units), next, tc.units, tc.next)
			}
		})
	}
	units, _, _ := decodeUnitList([]byte(unitListCases[0].body))
	if u := units[0]; u.Name != "Room 1" || u.ParentID != "p" || u.Level != 2 {
		t.Fatalf("unit = %+v", u)
	}
}

func FuzzDecodeUnitList(f *testing.F) {
	for _, tc := range unitListCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		units, _, err := decodeUnitList(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("error %v does not wrap ErrMalformedReply", err)
			}
			return
		}
		for _, u := range units {
			if u.ID == "" || u.Level < 0 {
				t.Fatalf("accepted bad unit %+v", u)
			}
		}
	})
}

var errorBodyCases = []struct {
	name          string
	status        int
	body          string
	typ, message  string
	sentinel      error
	requestHeader string
}{
	{"units shape", 400, `{"type":"BAD_REQUEST","message":"The request is malformed"}`, "BAD_REQUEST", "The request is malformed", nil, "r-1"},
	{"residential shape", 403, `{"message":"no access"}`, "", "no access", ErrUnauthorized, "r-2"},
	{"throttled", 429, `{"type":"RATE_EXCEEDED","message":"slow down"}`, "RATE_EXCEEDED", "slow down", ErrThrottled, ""},
	{"not json", 503, `<html>Service Unavailable</html>`, "", "", ErrServer, "r-3"},
	{"empty", 404, ``, "", "", ErrNotFound, ""},
	{"wrong types", 400, `{"type":5,"message":["x"]}`, "", "", nil, ""},
	{"control chars", 400, "{\"type\":\"X\",\"message\":\"line1\\nline2\"}", "X", "line1 line2", nil, ""},
	{"unauthorized", 401, `{"type":"UNAUTHORIZED","message":"expired"}`, "UNAUTHORIZED", "expired", ErrUnauthorized, ""},
}

func TestDecodeError_BothShapes(t *testing.T) {
	for _, tc := range errorBodyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.requestHeader != "" {
				h.Set("X-Amzn-RequestId", tc.requestHeader)
			}
			e := decodeError("GET /v2/units", tc.status, h, []byte(tc.body))
			if e.Status != tc.status || e.Type != tc.typ || e.Message != tc.message || e.RequestID != tc.requestHeader {
				t.Fatalf("got %+v", e)
			}
			if tc.sentinel != nil && !errors.Is(e, tc.sentinel) {
				t.Fatalf("%v does not wrap %v", e, tc.sentinel)
			}
			msg := e.Error()
			if !strings.HasPrefix(msg, "alexa: GET /v2/units: ") || (tc.requestHeader != "" && !strings.Contains(msg, tc.requestHeader)) {
				t.Fatalf("message %q", msg)
			}
		})
	}
}

func FuzzDecodeError(f *testing.F) {
	for _, tc := range errorBodyCases {
		f.Add(tc.status, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeError("POST /v2/units", status, http.Header{}, body)
		if e.Status != status {
			t.Fatalf("status %d lost", status)
		}
		if len(e.Message) > 520 || len(e.Type) > 140 {
			t.Fatalf("unbounded fields: %d, %d", len(e.Message), len(e.Type))
		}
		if strings.ContainsAny(e.Error(), "\n\r") {
			t.Fatalf("error message can forge log lines: %q", e.Error())
		}
	})
}

var listCases = []struct {
	name  string
	body  string
	homes int
	next  string
	bad   bool
}{
	{"homes key", `{"homes":[{"id":"h1","name":"A","homeCommunityId":"c"}]}`, 1, "", false},
	{"results key top-level token", `{"results":[{"id":"h1"},{"id":"h2"}],"nextToken":"n"}`, 2, "n", false},
	{"pagination context", `{"homes":[],"paginationContext":{"nextToken":"p"}}`, 0, "p", false},
	{"status object", `{"homes":[{"id":"h1","status":{"value":"OCCUPIED"}}]}`, 1, "", false},
	{"null token", `{"homes":[],"nextToken":null}`, 0, "", false},
	{"no array", `{"items":[]}`, 0, "", true},
	{"home without id", `{"homes":[{"name":"x"}]}`, 0, "", true},
	{"array not list", `{"homes":"x"}`, 0, "", true},
	{"top-level array", `[]`, 0, "", true},
	{"truncated", `{"homes":[{"id":"h`, 0, "", true},
}

func TestDecodeHomeList_Table(t *testing.T) {
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			homes, next, err := decodeHomeList([]byte(tc.body))
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want bad=%v", err, tc.bad)
			}
			if err != nil && !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("err %v does not wrap ErrMalformedReply", err)
			}
			if len(homes) != tc.homes || next != tc.next {
				t.Fatalf("got %d homes, next %q", len(homes), next)
			}
		})
	}
}

func FuzzDecodeHomeList(f *testing.F) {
	for _, tc := range listCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		homes, _, err := decodeHomeList(body)
		if err == nil {
			for _, h := range homes {
				if h.ID == "" {
					t.Fatal("home without id accepted")
				}
			}
		}
		_, _, _ = decodeCommunityList(body)
	})
}

func TestDecodeDiscoveryStatus_Table(t *testing.T) {
	cases := []struct {
		body, want string
		bad        bool
	}{
		{`{"status":{"value":"IN_PROGRESS"}}`, "IN_PROGRESS", false},
		{`{"status":{"value":"SOMETHING_NEW"}}`, "SOMETHING_NEW", false},
		{`{"status":{}}`, "", true},
		{`{"status":"DONE"}`, "", true},
		{`{}`, "", true},
		{`nope`, "", true},
	}
	for _, tc := range cases {
		got, err := decodeDiscoveryStatus([]byte(tc.body))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%s: got %q, %v", tc.body, got, err)
		}
	}
}

func FuzzDecodeDiscoveryStatus(f *testing.F) {
	f.Add([]byte(`{"status":{"value":"IN_PROGRESS"}}`))
	f.Add([]byte(`{"status":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := decodeDiscoveryStatus(body)
		if err == nil && s == "" {
			t.Fatal("empty status accepted")
		}
	})
}

var endpointListCases = []struct {
	name string
	body string
	ids  int
	next string
	bad  bool
}{
	{"one page", `{"results":[{"id":"amzn1.alexa.endpoint.a","associatedUnits":[{"id":"u1"}]},{"id":"e2"}]}`, 2, "", false},
	{"empty", `{"results":[]}`, 0, "", false},
	{"endpoints key", `{"endpoints":[{"id":"e1"}]}`, 1, "", false},
	{"pagination context", `{"results":[{"id":"e1"}],"paginationContext":{"nextToken":"p+10/="}}`, 1, "p+10/=", false},
	{"top-level token", `{"results":[],"nextToken":"t"}`, 0, "t", false},
	{"endpoint without id", `{"results":[{"friendlyName":"lamp"}]}`, 0, "", true},
	{"id not string", `{"results":[{"id":1}]}`, 0, "", true},
	{"no array", `{"items":[]}`, 0, "", true},
	{"results null", `{"results":null}`, 0, "", true},
	{"truncated", `{"results":[{"id":"e`, 0, "", true},
	{"trailing garbage", `{"results":[]}]`, 0, "", true},
	{"html", `<html>502</html>`, 0, "", true},
	{"empty body", ``, 0, "", true},
}

func TestDecodeEndpointList_Table(t *testing.T) {
	for _, tc := range endpointListCases {
		t.Run(tc.name, func(t *testing.T) {
			ids, next, err := decodeEndpointList([]byte(tc.body))
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want bad=%v", err, tc.bad)
			}
			if err != nil && !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("err %v does not wrap ErrMalformedReply", err)
			}
			if len(ids) != tc.ids || next != tc.next {
				t.Fatalf("got %d ids, next %q; want %d, %q", len(ids), next, tc.ids, tc.next)
			}
		})
	}
}

func FuzzDecodeEndpointList(f *testing.F) {
	for _, tc := range endpointListCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, _, err := decodeEndpointList(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("error %v does not wrap ErrMalformedReply", err)
			}
			return
		}
		for _, id := range ids {
			if id == "" || len(id) > 256+3 {
				t.Fatalf("bad id %q accepted", id)
			}
		}
	})
}
