package web

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestServer_Healthz_ReasonOnlyForSignedIn(t *testing.T) {
	var healthErr atomic.Pointer[error]
	ts := newTestServer(t, Options{Health: func() error {
		if p := healthErr.Load(); p != nil {
			return *p
		}
		return nil
	}})
	anon := newBrowser(t, ts.url)
	if resp, body := anon.do("GET", "/healthz", "", nil); resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}
	broken := errors.New("store: /var/lib/hubd/hubd.db: bbolt file is locked")
	healthErr.Store(&broken)
	resp, body := anon.do("GET", "/healthz", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("unhealthy, anonymous: %d %q, want 503", resp.StatusCode, body)
	}
	if strings.Contains(body, "bbolt") || strings.Contains(body, "/var/lib") {
		t.Fatalf("anonymous /healthz shows the reason: %q", body)
	}
	tech := newBrowser(t, ts.url)
	if r := tech.login(testUser, testPass); r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if resp, body := tech.do("GET", "/healthz", "", nil); resp.StatusCode != 503 || !strings.Contains(body, "bbolt file is locked") {
		t.Fatalf("unhealthy, signed in: %d %q, want 503 with the reason", resp.StatusCode, body)
	}
	healthErr.Store(nil)
	ts.Close()
	if resp, body := anon.do("GET", "/healthz", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d %q, want 503", resp.StatusCode, body)
	}
}

func TestServer_Healthz_PanickingCheckIs503(t *testing.T) {
	ts := newTestServer(t, Options{Health: func() error { panic("boom") }})
	b := newBrowser(t, ts.url)
	if r := b.login(testUser, testPass); r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if resp, body := b.do("GET", "/healthz", "", nil); resp.StatusCode != 503 || !strings.Contains(body, "panicked") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// A check that hangs is run once, however many /healthz calls come while
// it hangs; they answer 503 after HealthTimeout, and the next call after
// it returns starts a fresh check.
func TestServer_Healthz_HangingCheckRunsOnce(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	ts := newTestServer(t, Options{HealthTimeout: 50 * time.Millisecond, Health: func() error {
		if calls.Add(1) == 1 {
			<-release
		}
		return nil
	}})
	b := newBrowser(t, ts.url)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", ts.url+"/healthz", nil)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("/healthz while the check hangs: %d, want 503", c)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("20 calls during a hanging check ran it %d times, want 1", n)
	}
	if n := ts.health.runs.Load(); n != 1 {
		t.Fatalf("checks started: %d, want 1", n)
	}
	close(release)
	waitFor(t, "the hanging check to end", func() bool {
		ts.health.mu.Lock()
		defer ts.health.mu.Unlock()
		return ts.health.inflight == nil
	})
	if resp, body := b.do("GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("after the check returned: %d %q", resp.StatusCode, body)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("check ran %d times, want 2", n)
	}
}
