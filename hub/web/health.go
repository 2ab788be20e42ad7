package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

type healthCache struct {
	mu      sync.Mutex
	err     error
	at      time.Time
	running bool
}

// healthTimeout bounds Options.Health: a check that hangs (a store stuck on
// its lock, say) is itself a reason to answer 503.
const healthTimeout = 2 * time.Second

// health returns nil when the gateway is healthy, or why it is not.
func (s *Server) health() error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if s.opts.Health == nil {
		return nil
	}
	res := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				res <- fmt.Errorf("%w: health check panicked: %v", ErrUnhealthy, p)
			}
		}()
		res <- s.opts.Health()
	}()
	t := time.NewTimer(healthTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: health check did not answer within %v", ErrUnhealthy, healthTimeout)
	}
}

// healthCached is for the page: it returns the last result, refreshing it in
// the background when older than a second, so a hanging check never stalls
// the live feed. The first call checks synchronously.
func (s *Server) healthCached() error {
	c := &s.healthCache
	c.mu.Lock()
	if c.at.IsZero() {
		c.mu.Unlock()
		err := s.health()
		c.mu.Lock()
		c.err, c.at = err, time.Now()
		c.mu.Unlock()
		return err
	}
	err := c.err
	if time.Since(c.at) > time.Second && !c.running {
		c.running = true
		go func() {
			err := s.health()
			c.mu.Lock()
			c.err, c.at, c.running = err, time.Now(), false
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	return err
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err.Error())
		return
	}
	// Alarms do not fail the check: systemd and load balancers would only
	// restart or drop a gateway that serves; the body says what is wrong.
	if s.opts.Alarms != nil {
		if a := s.opts.Alarms(); len(a) > 0 {
			fmt.Fprintln(w, "degraded: "+strings.Join(a, "; "))
			return
		}
	}
	fmt.Fprintln(w, "ok")
}
