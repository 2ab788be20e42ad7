package alexa

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"hubd/hub/alexa/alexatest"
)

// brokenSession answers 500 to every poll of the first discovery session
// started through it; everything else goes to the simulator.
type brokenSession struct {
	mu       sync.Mutex
	location string
	polls    int
}

func (b *brokenSession) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	loc := b.location
	if loc != "" && r.Method == http.MethodGet && r.URL.EscapedPath() == loc {
		b.polls++
		b.mu.Unlock()
		return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"type":"INTERNAL_FAILURE","message":"broken"}`)), Request: r}, nil
	}
	b.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && r.URL.Path == "/v1/discoverySessions" {
		b.mu.Lock()
		if b.location == "" {
			b.location = resp.Header.Get("Location")
		}
		b.mu.Unlock()
	}
	return resp, err
}

func TestSyncer_Sync_SessionWhosePollsFailIsGivenUpOnce(t *testing.T) {
	// The other sessions stay IN_PROGRESS for six rounds; the broken one
	// fails three polls, is reported once and not polled again this sync.
	f := newFixture(t, alexatest.Options{DiscoveryPolls: 6})
	f.opts.MaxRetries = -1
	bs := &brokenSession{}
	f.opts.HTTPClient = &http.Client{Transport: bs}
	res, err := f.syncer(t, buildSite(1, 3)).Sync(t.Context())
	if err == nil {
		t.Fatal("Sync succeeded with a session whose polls all fail")
	}
	n := 0
	for _, e := range res.Errors {
		n += strings.Count(e, "poll discovery of node")
	}
	n += strings.Count(err.Error(), "poll discovery of node")
	if n != 1 {
		t.Fatalf("the broken session is reported %d times, want once:\n%v", n, err)
	}
	if bs.polls != 3 {
		t.Fatalf("the broken session was polled %d times, want 3 (given up after the third failure)", bs.polls)
	}
	if len(res.Sessions) != 2 {
		t.Fatalf("finished sessions %v, want the other two", res.Sessions)
	}
}
