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

	mu       sync.Mutex
	c        *conn // nil while the client is away
	subs     filterSet
	queue    []out
	inflight []unacked
	inUse    map[uint16]struct{} // the packet ids in inflight
	// qos2 holds the packet ids of the QoS 2 messages taken from the
	// client and not yet released (PUBREL): part of the session, so a
	// message sent again after a reconnect is not passed on twice
	// (MQTT-4.3.3-2).
	qos2 map[uint16]struct{}
	left time.Duration // when the client went away, on the broker's clock
	// bytes counts the topics and payloads of the messages in queue and
	// inflight, and of the QoS 0 ones a writer is writing.
	bytes   int
	nextPID uint16
	clean   bool
	ended   bool // discarded: bytes is no longer counted
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
	s.queue, s.qos2 = nil, nil
	s.clearInflight()
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
	case len(s.queue)+len(s.inflight) >= s.b.opts.QueueLen:
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
	if _, ok := s.inUse[pid]; !ok {
		return
	}
	delete(s.inUse, pid)
	i := 0
	for i < len(s.inflight) && s.inflight[i].pid != pid {
		i++
	}
	if i == len(s.inflight) {
		return
	}
	s.hold(-size(s.inflight[i].msg))
	if i == 0 {
		s.inflight[0] = unacked{}
		s.inflight = s.inflight[1:]
	} else {
		s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
	}
	if len(s.inflight) == 0 {
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
	if _, ok := s.qos2[pid]; ok {
		return false, nil
	}
	if len(s.qos2) >= maxQoS2 {
		return false, fmt.Errorf("%w: more than %d QoS 2 messages awaiting PUBREL", ErrProtocol, maxQoS2)
	}
	if s.qos2 == nil {
		s.qos2 = map[uint16]struct{}{}
	}
	s.qos2[pid] = struct{}{}
	return true, nil
}

// released forgets the QoS 2 message pid: the client released it.
func (s *session) released(pid uint16) {
	s.mu.Lock()
	delete(s.qos2, pid)
	if len(s.qos2) == 0 {
		s.qos2 = nil
	}
	s.mu.Unlock()
}

// sent records a QoS 1 message written and awaiting its PUBACK; it takes
// a new packet id unless u has one (a message sent again). s.mu is held.
func (s *session) sent(u unacked) uint16 {
	if u.pid == 0 {
		u.pid = s.newPID()
	}
	if s.inUse == nil {
		s.inUse = map[uint16]struct{}{}
	}
	s.inUse[u.pid] = struct{}{}
	s.inflight = append(s.inflight, u)
	return u.pid
}

// clearInflight forgets every unacknowledged message. s.mu is held.
func (s *session) clearInflight() { s.inflight, s.inUse = nil, nil }

// newPID is a packet id not in flight. s.mu is held; QueueLen keeps the
// flight far below 65,535.
func (s *session) newPID() uint16 {
	for {
		s.nextPID++
		if _, used := s.inUse[s.nextPID]; s.nextPID != 0 && !used {
			return s.nextPID
		}
	}
}
