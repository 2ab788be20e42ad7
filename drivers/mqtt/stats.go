package mqtt

import (
	"log/slog"
	"sync"
	"time"

	"hubd/hub"
)

// Status describes the broker connection.
func (d *Driver) Status() []hub.BrokerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r uint64
	if n := d.connects.Load(); n > 1 {
		r = n - 1
	}
	return []hub.BrokerStatus{{
		Broker:     d.brokerURL,
		Embedded:   d.broker != nil,
		Connected:  d.connected,
		Since:      d.since,
		Reconnects: r,
		MsgsIn:     d.msgsIn.Load(),
		MsgsOut:    d.msgsOut.Load(),
		BadMsgs:    d.bad.Load(),
		LastError:  d.lastErr,
	}}
}

// Stats are counters beyond hub.BrokerStatus, for tests and metrics.
type Stats struct {
	Dropped  uint64 // messages dropped from full device queues
	Connects uint64 // successful (re)connects
	Attempts uint64 // reconnect attempts
	// Refreshes counts devices asked for their state by the periodic
	// refresh (devices heard from lately are not asked).
	Refreshes uint64
	// BrokerDropped counts messages the embedded broker dropped because a
	// client's queue (Options.BrokerQueueLen) was full.
	BrokerDropped uint64
}

// Stats returns the driver's extra counters.
func (d *Driver) Stats() Stats {
	st := Stats{Dropped: d.dropped.Load(), Connects: d.connects.Load(), Attempts: d.attempts.Load(), Refreshes: d.refreshes.Load()}
	if d.broker != nil {
		st.BrokerDropped = d.broker.srv.Stats().Dropped
	}
	return st
}

// limiter lets through one log line per second and counts the rest.
type limiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *limiter) log(lg *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Warn(msg, args...)
}
