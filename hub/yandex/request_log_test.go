package yandex

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// Every request leaves one line at info with what a technician needs to
// find it: the request id, the endpoint, the account, the devices, the
// status, the result and the time taken, with the logger's own fields.
func TestRequestLine_NamesTheRequest(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "http")
	api, err := New(benchHub(t, 20), Options{Logger: logger,
		Users: []User{{ID: "resident-7", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1.0/user/devices/query", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("X-Request-Id", "req-42")
		api.ServeHTTP(httptest.NewRecorder(), req)
	}
	ask(`{"devices":[{"id":"dev-0003"},{"id":"dev-0004"}]}`)
	ask(`{"devices":[{"id":"dev-0003"},{"id":`)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines for two requests:\n%s", len(lines), out.String())
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^time=\S+ level=INFO msg=request component=http api=yandex request_id=req-42 endpoint=query user=resident-7 devices=dev-0003,dev-0004 status=200 result=ok took=\S+$`),
		regexp.MustCompile(`^time=\S+ level=INFO msg=request component=http api=yandex request_id=req-42 endpoint=query user=resident-7 devices=dev-0003 status=400 result=".*malformed.*" took=\S+$`),
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d:\n%s\nwant it to match\n%s", i+1, lines[i], re)
		}
	}

	// Above info, no line at all.
	out.Reset()
	api, err = New(benchHub(t, 20), Options{Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		t.Fatal(err)
	}
	ask(`{"devices":[{"id":"dev-0003"}]}`)
	if out.Len() != 0 {
		t.Errorf("a request logged at warn level:\n%s", out.String())
	}
}
