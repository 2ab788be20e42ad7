package web

import "hubd/hub"

// The fleet uplink (Options.Uplink) in /metrics.
var (
	mUplinkUp     = gaugeDesc("uplink_connected", "1 if the fleet uplink is connected to its broker.")
	mUplinkEvents = counterDesc("uplink_events_total", "Events the fleet uplink published (sent) or dropped oldest-first at its queue's bound (dropped).", "result")
	mUplinkQueued = gaugeDesc("uplink_queued_events", "Events waiting in the fleet uplink's store-and-forward queue.")
)

// uplinkMetrics adds the fleet uplink's figures to e.
func (s *Server) uplinkMetrics(e *exposition) {
	if s.opts.Uplink == nil {
		return
	}
	u := s.opts.Uplink()
	e.add(mUplinkUp, b2f(u.Connected))
	e.add(mUplinkEvents, float64(u.EventsSent), "sent")
	e.add(mUplinkEvents, float64(u.Dropped), "dropped")
	e.add(mUplinkQueued, float64(u.Queued))
}

// uplinkFailing: the uplink is not connected and events wait for it, so
// the fleet does not see what happens here.
func uplinkFailing(u *hub.UplinkStatus) bool {
	return u != nil && !u.Connected && u.Queued > 0
}
