package web

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hubd/hub"
)

var commandTable = []struct {
	name   string
	body   string
	action string // "" when the body must be refused
	set    hub.FieldSet
}{
	{"on", `{"on":true}`, "on", hub.Fields(hub.FieldOn)},
	{"off", `{"on":false}`, "off", hub.Fields(hub.FieldOn)},
	{"brightness", `{"brightness":42}`, "brightness 42%", hub.Fields(hub.FieldBrightness)},
	{"brightness zero", `{"brightness":0}`, "brightness 0%", hub.Fields(hub.FieldBrightness)},
	{"identify", `{"identify":true}`, "identify", 0},
	{"identify false is no action", `{"identify":false}`, "", 0},
	{"empty object", `{}`, "", 0},
	{"empty", ``, "", 0},
	{"null", `null`, "", 0},
	{"array", `[]`, "", 0},
	{"two actions", `{"on":true,"brightness":5}`, "", 0},
	{"brightness too high", `{"brightness":101}`, "", 0},
	{"brightness negative", `{"brightness":-1}`, "", 0},
	{"brightness float", `{"brightness":4.5}`, "", 0},
	{"brightness huge", `{"brightness":1e400}`, "", 0},
	{"on as string", `{"on":"true"}`, "", 0},
	{"unknown field", `{"on":true,"color":1}`, "", 0},
	{"trailing data", `{"on":true}{"on":false}`, "", 0},
	{"truncated", `{"on":tr`, "", 0},
	{"binary", "\x00\xff\xfe", "", 0},
	{"deep nesting", strings.Repeat("[", 5000), "", 0},
}

func TestDecodeCommand(t *testing.T) {
	for _, tc := range commandTable {
		t.Run(tc.name, func(t *testing.T) {
			cmd, action, err := DecodeCommand("lamp-1", []byte(tc.body))
			if tc.action == "" {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("err %v, want ErrBadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if action != tc.action || cmd.Set.Set != tc.set || cmd.Device != "lamp-1" {
				t.Fatalf("got %q %v %q", action, cmd.Set.Set, cmd.Device)
			}
		})
	}
	if _, _, err := DecodeCommand("x", bytes.Repeat([]byte(" "), maxBody+1)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("oversize: %v", err)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range commandTable {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cmd, action, err := DecodeCommand("lamp-1", body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if action == "" {
			t.Fatal("accepted a command with no action")
		}
		if err := cmd.Set.Validate(); err != nil {
			t.Fatalf("accepted an invalid state: %v", err)
		}
		if n := len(cmd.Set.Set.List()); n > 1 || (n == 1) == cmd.Identify {
			t.Fatalf("not exactly one action: %+v", cmd)
		}
	})
}

var loginTable = []struct {
	ctype, body string
}{
	{"application/json", `{"user":"tech","password":"demo-pass"}`},
	{"application/json", `{"user":"tech","password":"wrong"}`},
	{"application/json", `{"user":"tech"}`},
	{"application/json", `{"user":1}`},
	{"application/json", `nul`},
	{"application/x-www-form-urlencoded", `user=tech&password=demo-pass`},
	{"application/x-www-form-urlencoded", `user=%zz`},
	{"text/plain", `user=tech`},
	{"", ``},
}

// FuzzServeLogin feeds garbage to the login handler: it must answer with a
// client error or a session, never panic or 500.
func FuzzServeLogin(f *testing.F) {
	for _, tc := range loginTable {
		f.Add(tc.ctype, []byte(tc.body))
	}
	h := newEchoHub(f, nil)
	s, err := New(h.Hub, Options{Users: []User{{Name: testUser, PasswordHash: testHash(f, testPass)}}, LoginBurst: 1 << 30, LoginEvery: time.Nanosecond, Hosts: []string{"example.com"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	handler := s.Handler()
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		req := httptest.NewRequest("POST", "/login", bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Accept", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusSeeOther, http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q %q: %s", rec.Code, ctype, body, rec.Body)
		}
	})
}
