package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// readCounter records how often the body was read.
type readCounter struct {
	io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.reads++
	return c.Reader.Read(p)
}

func TestLimitBody(t *testing.T) {
	const max = 16
	tests := []struct {
		name      string
		body      string
		announced int64 // ContentLength; -1 for a chunked body
		wantEarly bool  // refused before reading
		wantRead  string
		wantOver  bool // reading fails with *http.MaxBytesError
	}{
		{name: "announced oversize", body: strings.Repeat("x", 17), announced: 17, wantEarly: true},
		{name: "announced huge, nothing sent", body: "", announced: 10_000_000, wantEarly: true},
		{name: "at the limit", body: strings.Repeat("x", 16), announced: 16, wantRead: strings.Repeat("x", 16)},
		{name: "empty", body: "", announced: 0, wantRead: ""},
		{name: "chunked within", body: "hello", announced: -1, wantRead: "hello"},
		{name: "chunked oversize", body: strings.Repeat("x", 40), announced: -1, wantOver: true},
		{name: "understated length", body: strings.Repeat("x", 40), announced: 3, wantOver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &readCounter{Reader: strings.NewReader(tt.body)}
			r := httptest.NewRequest("POST", "/x", src)
			r.ContentLength = tt.announced
			w := httptest.NewRecorder()
			err := limitBody(w, r, max)
			if tt.wantEarly {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge", err)
				}
				if want := "body of " + strconv.FormatInt(tt.announced, 10) + " bytes is over 16"; !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
				if src.reads != 0 {
					t.Errorf("body read %d times before the refusal", src.reads)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			got, err := io.ReadAll(r.Body)
			var tooBig *http.MaxBytesError
			switch {
			case tt.wantOver && !errors.As(err, &tooBig):
				t.Fatalf("read err = %v, want *http.MaxBytesError", err)
			case tt.wantOver && len(got) > max:
				t.Fatalf("read %d bytes past the limit of %d", len(got), max)
			case !tt.wantOver && err != nil:
				t.Fatalf("read err = %v", err)
			case !tt.wantOver && string(got) != tt.wantRead:
				t.Fatalf("read %q, want %q", got, tt.wantRead)
			}
		})
	}
}
