package broker

import (
	"log/slog"
	"sync"
	"time"
)

// logEvery is how often a bound that keeps biting is logged.
const logEvery = 10 * time.Second

// rateLog logs a warning at most once per logEvery, saying how many
// were left out since the last one: a bound hit by a flood must not
// flood the log too. The ones left out are logged at debug level.
type rateLog struct {
	mu      sync.Mutex
	next    time.Time
	skipped int
}

func (r *rateLog) warn(log *slog.Logger, msg string, attrs ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Before(r.next) {
		r.skipped++
		r.mu.Unlock()
		log.Debug(msg, attrs...)
		return
	}
	skipped := r.skipped
	r.next, r.skipped = now.Add(logEvery), 0
	r.mu.Unlock()
	if skipped > 0 {
		attrs = append(attrs, "not_logged_since_last", skipped)
	}
	log.Warn(msg, attrs...)
}
