package broker

import (
	"fmt"
	"sync"
	"time"
)

// out is one packet waiting to be written to a client.
type out struct {
	kind        byte
	pid         uint16
	msg         *Message // PUBLISH
	qos         byte
	retain, dup bool
	raw         []byte // CONNACK, SUBACK: encoded already; typeSubscribe: see replay
}

// unacked is a QoS 1 message written to a client and not yet
// acknowledged.
type unacked struct {
	pid    uint16
	msg    *Message
	retain bool
}

// session is a client id's state: its subscriptions, and the messages
// queued for it or awaiting its PUBACK. A persistent session outlives
// its connection; a clean one ends with it.
type session struct {
	b    *Broker
	id   string
	user string // the user name the session was made under

	mu    sync.Mutex
	c     *conn // nil while the client is away
	subs  filterSet
	queue []out
	fl    *flight       // nil while no message is in flight either way
	left  time.Duration // when the client went away, on the broker's clock
	// bytes counts the topics and payloads of the messages in queue and
	// inflight, and of the QoS 0 ones a writer is writing.
	bytes int
	clean bool
	ended bool // discarded: bytes is no longer counted
}

// flight is what of a session's QoS 1 and 2 exchanges is open: most
// devices have nothing in flight most of the time, so it is made when a
// message takes off and dropped when the last one lands.
type flight struct {
	inflight []unacked
	inUse    map[uint16]struct{} // the packet ids in inflight
	// qos2 holds the packet ids of the QoS 2 messages taken from the
	// client and not yet released (PUBREL): part of the session, so a
	// message sent again after a reconnect is not passed on twice
	// (MQTT-4.3.3-2).
	qos2    map[uint16]struct{}
	nextPID uint16
}

// flying is how many messages to the client await their PUBACK. s.mu
// is held.
func (s *session) flying() int {
	if s.fl == nil {
		return 0
	}
	return len(s.fl.inflight)
}

// flight is s.fl, made if need be. s.mu is held.
func (s *session) flight() *flight {
	if s.fl == nil {
		s.fl = &flight{}
	}
	return s.fl
}

// landed drops s.fl once nothing is in flight. s.mu is held.
func (s *session) landed() {
	if fl := s.fl; fl != nil && len(fl.inflight) == 0 && len(fl.qos2) == 0 {
		s.fl = nil
	}
}

// size is what MaxQueueBytes and MaxQueuedBytes count of a message.
func size(m *Message) int { return len(m.Topic) + len(m.Payload) }

// hold counts n more (or, negative, fewer) bytes as queued for s, and
// for the broker. s.mu is held.
func (s *session) hold(n int) {
	s.bytes += n
	s.b.queued.Add(int64(n))
}

// room reports whether a message of n bytes may be queued for s within
// MaxQueueBytes and MaxQueuedBytes, and if so counts it (hold); if not,
// the drop is counted and logged. s.mu is held.
func (s *session) room(n int) bool {
	b := s.b
	if s.bytes+n > b.opts.MaxQueueBytes {
		b.droppedBytes.Add(1)
		b.logQueueBytes.warn(b.log, "message to a client dropped: its queue holds its maximum of bytes (MaxQueueBytes)",
			"client", s.id, "queued", s.bytes, "bytes", n, "max", b.opts.MaxQueueBytes)
		return false
	}
	for {
		all := b.queued.Load()
		if all+int64(n) > int64(b.opts.MaxQueuedBytes) {
			b.droppedMemory.Add(1)
			b.logMemory.warn(b.log, "message to a client dropped: all queues together hold their maximum of bytes (MaxQueuedBytes)",
				"client", s.id, "queued", all, "bytes", n, "max", b.opts.MaxQueuedBytes)
			return false
		}
		if b.queued.CompareAndSwap(all, all+int64(n)) {
			s.bytes += n
			return true
		}
	}
}

// discard drops the messages queued for s, unacknowledged or taken from
// its client, as its session ends. s.mu is held.
func (s *session) discard() {
	clear(s.queue)
	s.queue, s.fl = nil, nil
	s.hold(-s.bytes)
	s.ended = true
}

// written lets go of n bytes of QoS 0 messages a writer has written (or
// failed to), unless s ended meanwhile. s.mu is held.
func (s *session) written(n int) {
	if !s.ended {
		s.hold(-n)
	}
}

// deliver queues a message for the client and starts a writer if none
// runs. Beyond QueueLen, MaxQueueBytes or MaxQueuedBytes it is dropped
// and counted; while the client is away only QoS 1 messages to a
// persistent session are kept.
func (s *session) deliver(o out) {
	s.mu.Lock()
	switch {
	case s.c == nil && (o.qos == 0 || s.clean):
	case len(s.queue)+s.flying() >= s.b.opts.QueueLen:
		s.b.dropped.Add(1)
	case s.room(size(o.msg)):
		s.queue = append(s.queue, o)
		s.wake()
		return
	}
	s.mu.Unlock()
}

// reply queues packets for the client of connection to, all at once
// (its writer takes all or none of them), and starts a writer if none
// runs. They are only for that connection: they are dropped once to has
// ended, as with the epoll reader a write error can end a connection
// while the reader still handles the packets it read.
//
// Replies are not bounded by QueueLen: the reader stops reading a client
// once QueueLen packets wait for it (conn.backlogged), so a packet or two
// more is the most they pass it by. Twice QueueLen would be a reader that
// goes on regardless; the client is ended as too slow then.
func (s *session) reply(to *conn, os ...out) {
	s.mu.Lock()
	if s.c != to {
		s.mu.Unlock()
		return
	}
	if n := len(s.queue); n >= 2*s.b.opts.QueueLen {
		s.mu.Unlock()
		s.b.slow.Add(1)
		to.shut(fmt.Errorf("%w: it reads nothing while %d packets wait for it", ErrSlowClient, n))
		return
	}
	s.queue = append(s.queue, os...)
	s.wake()
}

// wake starts a writer for the queue if the client is connected and has
// none, and lets s.mu go.
func (s *session) wake() {
	c := s.c
	start := c != nil && !c.writing
	if start {
		c.writing = true
	}
	s.mu.Unlock()
	if start {
		go c.flush()
	}
}

// ack forgets the unacknowledged message pid. Clients acknowledge in
// order, so the first one is tried before a search.
func (s *session) ack(pid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fl := s.fl
	if fl == nil {
		return
	}
	if _, ok := fl.inUse[pid]; !ok {
		return
	}
	delete(fl.inUse, pid)
	i := 0
	for i < len(fl.inflight) && fl.inflight[i].pid != pid {
		i++
	}
	if i == len(fl.inflight) {
		return
	}
	s.hold(-size(fl.inflight[i].msg))
	if i == 0 {
		fl.inflight[0] = unacked{}
		fl.inflight = fl.inflight[1:]
	} else {
		fl.inflight = append(fl.inflight[:i], fl.inflight[i+1:]...)
	}
	if len(fl.inflight) == 0 {
		s.clearInflight()
	}
}

// received records the QoS 2 message pid taken from c's client; first
// is false if the session holds it already (the client sent it again,
// maybe on an earlier connection). Past maxQoS2 open ids the client is
// in breach.
func (s *session) received(pid uint16, c *conn) (first bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != c {
		return false, nil // c ended meanwhile (see reply)
	}
	fl := s.flight()
	if _, ok := fl.qos2[pid]; ok {
		return false, nil
	}
	if len(fl.qos2) >= maxQoS2 {
		return false, fmt.Errorf("%w: more than %d QoS 2 messages awaiting PUBREL", ErrProtocol, maxQoS2)
	}
	if fl.qos2 == nil {
		fl.qos2 = map[uint16]struct{}{}
	}
	fl.qos2[pid] = struct{}{}
	return true, nil
}

// released forgets the QoS 2 message pid: the client released it.
func (s *session) released(pid uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fl := s.fl
	if fl == nil {
		return
	}
	delete(fl.qos2, pid)
	if len(fl.qos2) == 0 {
		fl.qos2 = nil
	}
	s.landed()
}

// sent records a QoS 1 message written and awaiting its PUBACK; it takes
// a new packet id unless u has one (a message sent again). s.mu is held.
func (s *session) sent(u unacked) uint16 {
	fl := s.flight()
	if u.pid == 0 {
		u.pid = fl.newPID()
	}
	if fl.inUse == nil {
		fl.inUse = map[uint16]struct{}{}
	}
	fl.inUse[u.pid] = struct{}{}
	fl.inflight = append(fl.inflight, u)
	return u.pid
}

// takeInflight returns the unacknowledged messages and forgets them, as
// a connection takes over the session (attach). s.mu is held.
func (s *session) takeInflight() []unacked {
	if s.fl == nil {
		return nil
	}
	u := s.fl.inflight
	s.clearInflight()
	return u
}

// clearInflight forgets every unacknowledged message. s.mu is held.
func (s *session) clearInflight() {
	if s.fl != nil {
		s.fl.inflight, s.fl.inUse = nil, nil
		s.landed()
	}
}

// newPID is a packet id not in flight. QueueLen keeps the flight far
// below 65,535. s.mu is held.
func (fl *flight) newPID() uint16 {
	for {
		fl.nextPID++
		if _, used := fl.inUse[fl.nextPID]; fl.nextPID != 0 && !used {
			return fl.nextPID
		}
	}
}
