package web

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// serveSync starts an Alexa sync. It answers with the sync's result when
// the sync ends within SyncWait, else 202 with result "running": the sync
// goes on whatever the browser does, and its end is logged and shown in
// the event log. While one runs, another POST answers 202 "running" and
// starts nothing.
func (s *Server) serveSync(w http.ResponseWriter, r *http.Request) {
	user, _, err := s.control(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.opts.SyncNow == nil {
		s.writeError(w, r, fmt.Errorf("%w: Alexa sync", ErrNotConfigured))
		return
	}
	running := CommandResult{Action: "alexa sync", Result: "running"}
	if !s.syncing.CompareAndSwap(false, true) {
		writeJSON(w, http.StatusAccepted, running)
		return
	}
	done := make(chan CommandResult, 1)
	s.syncs.Add(1)
	go func() {
		defer s.syncs.Done()
		done <- s.runSync(user)
	}()
	wait := time.NewTimer(s.opts.SyncWait)
	defer wait.Stop()
	select {
	case res := <-done:
		code := http.StatusOK
		if res.Error != "" {
			code = http.StatusBadGateway
		}
		writeJSON(w, code, res)
	case <-wait.C:
		writeJSON(w, http.StatusAccepted, running)
	}
}

// runSync runs a sync started from the page by user until it ends or the
// server closes, and records how it went.
func (s *Server) runSync(user string) CommandResult {
	defer s.syncing.Store(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := s.opts.SyncNow(ctx)
	took := time.Since(start)
	res := CommandResult{Action: "alexa sync", Result: "ok", TookMS: took.Milliseconds()}
	if err != nil {
		res.Result, res.Error = "error", err.Error()
	}
	s.log.Info("web: control", "user", user, "action", "alexa sync", "result", res.Result, "took", took)
	s.h.LogEvent(controlEvent(level(err), "", user, "alexa sync", res.Result, err))
	return res
}
