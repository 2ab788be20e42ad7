package alexa

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// NewLimiter returns the limiter every call of an organization waits on:
// at most perSecond calls start per second, no bursts (burst 1), since
// Alexa throttles per organization (REFERENCE.md section 2: "share one rate
// limiter across all calls for an organization"). Zero or less means
// unlimited. Share it across clients through Options.Limiter.
func NewLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
