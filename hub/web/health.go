package web

import (
	"fmt"
	"net/http"
	"time"
)

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

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err.Error())
		return
	}
	fmt.Fprintln(w, "ok")
}
