package web

import (
	"time"

	"hubd/hub"
)

// heartbeatEvery is how often the live feed sends a tick, so that a page
// can tell a quiet gateway from a silent (frozen, unreachable) one: a page
// that hears nothing for two ticks and a second says it lost contact.
const heartbeatEvery = 2 * time.Second

// Tick is the feed's heartbeat: how the gateway is doing, its links, and
// the devices heard from since the last tick (a report that changes no
// value sends no device event, but moves "last seen").
type Tick struct {
	Gateway Gateway              `json:"gateway"`
	Buses   []hub.BusStatus      `json:"buses"`
	Brokers []hub.BrokerStatus   `json:"brokers"`
	Seen    map[string]time.Time `json:"seen,omitempty"`
}

// links reads the gateway's links once for a status or a tick: buses,
// brokers, and the cloud links (Yandex notifications, Alexa sync). Nil:
// not configured.
type links struct {
	buses    []hub.BusStatus
	brokers  []hub.BrokerStatus
	notifier *hub.NotifierStatus
	alexa    *hub.SyncStatus
	uplink   *hub.UplinkStatus
}

func (s *Server) links() links {
	var l links
	if s.opts.Buses != nil {
		l.buses = nonNil(s.opts.Buses())
	}
	if s.opts.Brokers != nil {
		l.brokers = nonNil(s.opts.Brokers())
	}
	if s.opts.Notifier != nil {
		l.notifier = ptr(s.opts.Notifier())
	}
	if s.opts.Alexa != nil {
		a := s.opts.Alexa()
		a.Plan, a.Units = nonNil(a.Plan), nonNil(a.Units)
		l.alexa = &a
	}
	if s.opts.Uplink != nil {
		l.uplink = ptr(s.opts.Uplink())
	}
	return l
}

// notifierFailing: the last push to Yandex failed and none worked since.
func notifierFailing(n *hub.NotifierStatus) bool {
	return n != nil && n.Enabled && n.LastError != "" && n.LastErrorAt.After(n.LastSuccess)
}

// alexaFailing: the last Alexa sync failed.
func alexaFailing(a *hub.SyncStatus) bool {
	return a != nil && a.Enabled && a.LastError != ""
}

// brokerUp reports whether an MQTT broker is connected.
func (l *links) brokerUp() bool {
	for _, b := range l.brokers {
		if b.Connected {
			return true
		}
	}
	return false
}

// tally counts what hub.Assess weighs.
func (l *links) tally(t *hub.Tally) {
	for _, b := range l.buses {
		t.Links++
		if !b.Open {
			t.LinksDown++
		}
	}
	for _, b := range l.brokers {
		t.Links++
		if !b.Connected {
			t.LinksDown++
		}
	}
	for _, cloud := range []struct{ on, failing bool }{
		{l.notifier != nil && l.notifier.Enabled, notifierFailing(l.notifier)},
		{l.alexa != nil && l.alexa.Enabled, alexaFailing(l.alexa)},
		{l.uplink != nil, uplinkFailing(l.uplink)},
	} {
		if cloud.on {
			t.Links++
		}
		if cloud.failing {
			t.LinksDown++
		}
	}
}

// fault is the diagnosis the page shows for a device: the hub's, or for an
// unreachable device the hub holds none for, what can still be said.
func (s *Server) fault(snap *hub.Snapshot, reachable bool, l *links) *hub.Fault {
	f := snap.Fault
	switch {
	case f != nil && f.Code == hub.CauseBrokerDown && l.brokerUp():
		g := *f
		g.Code = hub.CauseNoAnswer
		return &g
	case f != nil || reachable:
		return f
	case snap.LastSeen.IsZero():
		return &hub.Fault{Cause: hub.Cause{Code: hub.CauseNeverSeen}, Severity: hub.SeverityError, Since: s.opts.Started}
	}
	return &hub.Fault{Cause: hub.Cause{Code: hub.CauseOffline}, Severity: hub.SeverityError, Since: snap.LastSeen}
}

// linkView is the device's link quality, or nil when nothing was reported.
func linkView(l hub.Link) *hub.Link {
	if l == (hub.Link{}) {
		return nil
	}
	return &l
}

// tallyDevices counts the devices, those reachable and those with a
// diagnosis, for assess.
func (s *Server) tallyDevices(l *links) hub.Tally {
	var t hub.Tally
	at := s.instant()
	s.h.Walk(func(_ *hub.Device, snap *hub.Snapshot) bool {
		r := at.reachable(snap)
		countDevice(&t, r, s.fault(snap, r, l) != nil)
		return true
	})
	return t
}

// countDevice adds a device to t's device counts.
func countDevice(t *hub.Tally, reachable, faulty bool) {
	t.Devices++
	if reachable {
		t.Reachable++
	}
	if faulty {
		t.Faulty++
	}
}

// instant is hub.Reachable at one instant, for a pass over every device:
// the clock is read once, not once a device (at 10,000 devices the reads
// were a third of a walk's time). A method, not a closure, so that the
// snapshot it is given can stay on the caller's stack.
type instant struct {
	now        time.Time
	staleAfter time.Duration
}

// instant reads the clock for a pass over every device.
func (s *Server) instant() instant {
	return instant{s.h.Now(), s.h.StaleAfter()}
}

// reachable is hub.Reachable at this instant.
func (i instant) reachable(snap *hub.Snapshot) bool {
	return snap.Reachable(i.now, i.staleAfter)
}

// assess fills the gateway's verdict: healthy, degraded or down, with the
// counts behind it; t holds the devices' counts (tallyDevices).
func (s *Server) assess(g *Gateway, l *links, t hub.Tally) {
	t.CheckFailed = g.Health != "ok"
	l.tally(&t)
	g.State = hub.Assess(t)
	g.Online, g.Total = t.Reachable, t.Devices
	g.Faulty, g.LinksDown = t.Faulty, t.LinksDown
	g.HeartbeatMS = heartbeatEvery.Milliseconds()
}
