package web

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// healthChecker runs Options.Health with at most one check in flight. A
// caller that finds a check running waits for that one (up to
// Options.HealthTimeout) instead of starting another, so a check that
// hangs (a store stuck on its lock) costs one goroutine however often
// /healthz is asked, and answers 503 until it returns.
type healthChecker struct {
	s *Server

	mu       sync.Mutex
	inflight chan struct{} // non-nil while a check runs; closed when it ends
	started  time.Time
	err      error
	at       time.Time // when the last check ended; zero: none has

	runs atomic.Uint64 // checks started
}

func newHealthChecker(s *Server) *healthChecker { return &healthChecker{s: s} }

// get returns the result of a check that ended at most fresh ago, starting
// one if none is running and the last is older. It waits for a running
// check up to wait; a zero wait returns the last result at once (when
// there is one).
func (h *healthChecker) get(fresh, wait time.Duration) error {
	select {
	case <-h.s.closed:
		return ErrClosed
	default:
	}
	if h.s.opts.Health == nil {
		return nil
	}
	h.mu.Lock()
	if h.inflight == nil && (h.at.IsZero() || time.Since(h.at) > fresh) {
		h.inflight = make(chan struct{})
		h.started = time.Now()
		h.runs.Add(1)
		go h.run(h.inflight)
	}
	ch, started, last, have := h.inflight, h.started, h.err, !h.at.IsZero()
	h.mu.Unlock()
	if ch == nil || (wait == 0 && have) {
		return last
	}
	if wait == 0 {
		wait = h.s.opts.HealthTimeout
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	case <-t.C:
		return fmt.Errorf("%w: health check did not answer within %v (running for %v)", ErrUnhealthy, wait, time.Since(started).Round(time.Millisecond))
	}
}

// run is the one check in flight; it ends when Options.Health returns.
func (h *healthChecker) run(done chan struct{}) {
	err := h.call()
	h.mu.Lock()
	h.err, h.at, h.inflight = err, time.Now(), nil
	h.mu.Unlock()
	close(done)
}

func (h *healthChecker) call() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: health check panicked: %v", ErrUnhealthy, p)
		}
	}()
	if err := h.s.opts.Health(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	return nil
}

// healthCached is for the page: the last result, refreshed in the
// background when older than a second, so a hanging check never stalls the
// live feed. The first call waits for a result.
func (s *Server) healthCached() error {
	return s.health.get(time.Second, 0)
}

// serveHealth answers systemd and load balancers: the status code is for
// everyone, the reason (file paths, store errors) only for a signed-in
// technician; /api/status carries it for the page.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	err := s.health.get(0, s.opts.HealthTimeout)
	if err == nil {
		fmt.Fprintln(w, "ok")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	if _, _, ok := s.auth.session(r); ok {
		fmt.Fprintln(w, err.Error())
		return
	}
	fmt.Fprintln(w, "unhealthy; sign in to the status page for the reason")
}
