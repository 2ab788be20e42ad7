package web

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A sync that outlasts SyncWait is answered 202 and goes on: the request
// ending does not cancel it, a second click starts nothing, and its end
// is in the event log; closing the server cancels it.
func TestServer_SyncNow_LongSyncGoesOnInTheBackground(t *testing.T) {
	var calls atomic.Int32
	started := make(chan context.Context, 2)
	gate := make(chan chan struct{}, 4) // each sync waits for the next release
	opts := Options{SyncWait: 50 * time.Millisecond, SyncNow: func(ctx context.Context) error {
		calls.Add(1)
		release := <-gate
		started <- ctx
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	ts := newTestServer(t, opts)
	b := newBrowser(t, ts.url)
	b.login(testUser, testPass)

	release := make(chan struct{})
	gate <- release
	resp, body := b.do("POST", "/api/alexa/sync", "", nil)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"result":"running"`) {
		t.Fatalf("a sync longer than SyncWait: %d %s, want 202 running", resp.StatusCode, body)
	}
	ctx := <-started
	if resp, body := b.do("POST", "/api/alexa/sync", "", nil); resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "running") {
		t.Fatalf("a second click while it runs: %d %s, want 202 running", resp.StatusCode, body)
	}
	if ctx.Err() != nil {
		t.Fatalf("the sync was cancelled when its request ended: %v", ctx.Err())
	}
	close(release)
	waitFor(t, "the sync's end in the event log", func() bool {
		for _, ev := range ts.h.Events() {
			if ev.Code == "control" && ev.Params["action"] == "alexa sync" && ev.Params["result"] == "ok" && ev.Params["user"] == testUser {
				return true
			}
		}
		return false
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d syncs started by two clicks while one ran, want 1", n)
	}

	// Done: a quick sync is answered with its result; one still running
	// when the server closes is cancelled.
	waitFor(t, "the page's sync to be free again", func() bool { return !ts.syncing.Load() })
	done := make(chan struct{})
	close(done)
	gate <- done
	if resp, body := b.do("POST", "/api/alexa/sync", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"result":"ok"`) {
		t.Fatalf("a quick sync: %d %s, want 200 ok", resp.StatusCode, body)
	}
	<-started
	gate <- make(chan struct{}) // never released
	if resp, _ := b.do("POST", "/api/alexa/sync", "", nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a long sync: %d, want 202", resp.StatusCode)
	}
	ctx = <-started
	ts.Close()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("closing the server did not cancel the running sync")
	}
}
