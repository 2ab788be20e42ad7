package broker

import (
	"bufio"
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one network connection.
type conn struct {
	b      *Broker
	nc     socket
	s      *session
	remote string // the client's address (Client.Remote); its id and user name are its session's
	will   *Message

	// Guarded by b.mu: c's place in b.pending until its CONNECT is
	// taken, and whether it was closed to make room there.
	pending *list.Element

	// Guarded by s.mu: the reader reads no more of c until its writer
	// took the backlog (see backlogged); with a reading goroutine,
	// resumed is closed then.
	resumed chan struct{}

	once  sync.Once
	ended atomic.Bool // the end is being dealt with (epoll reader)
	why   error

	// With the epoll reader (poll set): the bytes of a packet not
	// complete yet (kept apart: most connections have none most of the
	// time), and when the client must have said something (on the
	// broker's clock, 0 for never).
	poll     *poller
	in       *[]byte
	deadline time.Duration

	// The small fields, together so that they share a word (a conn is
	// 144 bytes); each flag is guarded as said.
	fd        int32  // epoll reader: the socket's descriptor
	keepAlive uint16 // seconds, as the client said
	evicted   bool   // b.mu: closed to make room in b.pending
	over      bool   // b.mu: the end was dealt with (see gone)
	writing   bool   // s.mu: a flush goroutine runs
	paused    bool   // s.mu: see resumed
	denied    bool   // s.mu: a refused publish was logged
	subDenied bool   // s.mu: a refused filter was logged
	subsFull  bool   // s.mu: a filter refused for MaxSubscriptions was logged
	connected bool   // epoll reader: its CONNECT was taken
	disarmed  bool   // epoll reader: its socket is out of the epoll set's interest (paused)
}

// keepAliveFor is how long c's client may say nothing, 0 for ever:
// one and a half times its keep-alive, as MQTT has it.
func (c *conn) keepAliveFor() time.Duration {
	return time.Duration(c.keepAlive) * time.Second * 3 / 2
}

// gone marks c's end as dealt with and wakes whoever waits for it
// (attach). A flag and the broker's condition, not a channel a
// connection: most connections end without anyone waiting.
func (c *conn) gone() {
	b := c.b
	b.mu.Lock()
	c.over = true
	b.mu.Unlock()
	b.ended.Broadcast()
}

// wait waits for c's end to be dealt with (gone). b.mu is not held.
func (c *conn) wait() {
	b := c.b
	b.mu.Lock()
	for !c.over {
		b.ended.Wait()
	}
	b.mu.Unlock()
}

// socket is what a conn reads and writes: the net.Conn accepted, or with
// the epoll reader a file of its socket (see ownSocket).
type socket interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// shut ends the connection, remembering why: its reader sees the socket
// closed and deals with the end; with the epoll reader the end is dealt
// with before shut returns.
func (c *conn) shut(why error) {
	if c.poll != nil {
		c.poll.terminate(c, false, why)
		return
	}
	c.closeSocket(why)
}

// closeSocket closes the socket once, remembering the first reason. A
// TLS connection's socket is closed under it: a close_notify alert could
// wait seconds for a client that does not read, and MQTT has DISCONNECT.
func (c *conn) closeSocket(why error) {
	c.once.Do(func() {
		c.why = why
		if tc, ok := c.nc.(*tls.Conn); ok {
			_ = tc.NetConn().Close()
			return
		}
		_ = c.nc.Close()
	})
}

// serveConn serves a connection with a goroutine of its own that reads
// (Options.GoroutinePerConn, or where there is no epoll).
func (b *Broker) serveConn(c *conn) {
	defer b.conns.Done()
	normal, err := c.run()
	c.finish(normal, err)
}

func (b *Broker) newConn(nc net.Conn) *conn {
	return &conn{b: b, nc: nc, remote: nc.RemoteAddr().String(), fd: -1}
}

// client is who c's client is, once it has its session: the id and
// user name are the session's, not copies kept with each connection.
func (c *conn) client() Client {
	if s := c.s; s != nil {
		return Client{ID: s.id, Username: s.user, Remote: c.remote}
	}
	return Client{Remote: c.remote}
}

// refusal is why a CONNECT was refused, with who the client said it
// was: a connection has no identity of its own to log until its session.
type refusal struct {
	who Client
	err error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// finish ends the connection (see end) and logs why: routine ends at
// debug, the rest as warnings.
func (c *conn) finish(normal bool, err error) {
	c.end(normal)
	if c.why != nil && (err == nil || closedErr(err)) {
		err = c.why
	}
	b := c.b
	who := c.client()
	if r := (*refusal)(nil); errors.As(err, &r) {
		who = r.who
	}
	attrs := []any{"client", who.ID, "remote", who.Remote}
	if who.Username != "" {
		attrs = append(attrs, "user", who.Username)
	}
	if routine(err) {
		if err != nil {
			attrs = append(attrs, "reason", err)
		}
		b.log.Debug("client disconnected", attrs...)
		return
	}
	b.refused.Add(1)
	const msg = "client connection ended with an error"
	if c.s == nil {
		// Not admitted: anyone on the network can do it, many times.
		b.logUnadmitted.warn(b.log, msg, append(attrs, "error", err)...)
		return
	}
	b.log.Warn(msg, append(attrs, "error", err)...)
}

// closedErr reports whether err is that of a socket closed already: a
// net.Conn's, or a file's (see ownSocket).
func closedErr(err error) bool { return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) }

// countingReader counts the bytes read from a client's socket
// (Stats.BytesIn). A packet's memory is taken before its bytes are read
// into it, so the count never runs ahead of what they cost.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// run reads the connection until it ends; normal is true when the client
// said DISCONNECT.
func (c *conn) run() (normal bool, err error) {
	b := c.b
	r := bufio.NewReaderSize(countingReader{c.nc, &b.bytesIn}, readBuffer)
	_ = c.nc.SetReadDeadline(time.Now().Add(b.opts.ConnectTimeout))
	if first, err := r.Peek(1); err == nil {
		if err := notConnect(first[0]); err != nil {
			return false, err
		}
	}
	_, body, err := readPacket(r, b.opts.MaxConnect)
	if err != nil {
		return false, fmt.Errorf("waiting for CONNECT: %w", c.readErr(err, true))
	}
	if err := c.connect(body); err != nil {
		return false, err
	}
	for {
		deadline := time.Time{}
		if c.keepAlive > 0 {
			deadline = time.Now().Add(c.keepAliveFor())
		}
		_ = c.nc.SetReadDeadline(deadline)
		h, body, err := readPacket(r, b.opts.MaxPacket)
		if err != nil {
			return false, c.readErr(err, false)
		}
		if bye, err := c.packet(h, body); bye || err != nil {
			return bye, err
		}
		if c.backlogged() {
			<-c.resumed
		}
	}
}

// notConnect refuses a first packet that is not a CONNECT: something
// else than MQTT (a web browser, a scanner) is told off at its first
// byte, before its length is believed.
func notConnect(first byte) error {
	switch {
	case first == typeConnect<<4:
		return nil
	case first == 0x16:
		return fmt.Errorf("%w: the client starts a TLS handshake (0x16), not an MQTT CONNECT: this broker speaks MQTT without TLS", ErrProtocol)
	case first>>4 == typeConnect:
		return fmt.Errorf("%w: CONNECT with reserved flags set (%#02x)", ErrProtocol, first)
	}
	return fmt.Errorf("%w: first packet is %s (%#02x), not CONNECT", ErrProtocol, typeNames[first>>4], first)
}

// connect takes the CONNECT packet: checks it, authenticates the client
// and attaches its session, or refuses it with a CONNACK saying why.
func (c *conn) connect(body []byte) error {
	cp, code, err := parseConnect(body)
	if err != nil {
		if code != 0 {
			c.refuse(code)
		}
		return err
	}
	who := Client{ID: cp.clientID, Username: cp.username, Remote: c.remote}
	if err := c.login(cp, &who); err != nil {
		return &refusal{who: who, err: err}
	}
	return nil
}

// login authenticates the client who of a CONNECT and attaches its
// session, or refuses it with a CONNACK saying why. An empty client id
// is given one.
func (c *conn) login(cp *connect, who *Client) error {
	b := c.b
	if who.ID == "" {
		if !cp.clean {
			c.refuse(codeBadClientID)
			return fmt.Errorf("%w: an empty client id needs a clean session", ErrRefused)
		}
		who.ID = newClientID()
	}
	if b.opts.Authenticate != nil && !b.opts.Authenticate(*who, cp.password) {
		if cp.hasUser {
			c.refuse(codeBadCredentials)
			return fmt.Errorf("%w: bad user name or password", ErrRefused)
		}
		c.refuse(codeNotAuthorized)
		return fmt.Errorf("%w: not authorized (no user name given)", ErrRefused)
	}
	if cp.will != nil && b.opts.CanPublish != nil && !b.opts.CanPublish(*who, cp.will.Topic) {
		c.refuse(codeNotAuthorized)
		return fmt.Errorf("%w: not allowed to leave a will on %s", ErrRefused, quoted(cp.will.Topic))
	}
	c.will = cp.will
	if c.will != nil {
		c.will.QoS = min(c.will.QoS, 1)
		if c.will.Retain && b.opts.MayRetain != nil && !b.opts.MayRetain(*who, c.will.Topic) {
			c.will.Retain = false
		}
	}
	c.keepAlive = cp.keepAlive
	if err := b.attach(c, *who, cp.clean, cp.level == 4); err != nil {
		switch {
		case errors.Is(err, ErrIDInUse):
			c.refuse(codeNotAuthorized)
		case errors.Is(err, ErrRefused):
			c.refuse(codeUnavailable)
		}
		return err
	}
	return nil
}

// packet takes one packet after CONNECT; bye is true on DISCONNECT.
func (c *conn) packet(h byte, body []byte) (bye bool, err error) {
	switch t := h >> 4; {
	case t == typeDisconnect && h == 0xe0:
		return true, nil
	case t == typePublish:
		err = c.publish(h, body)
	case t == typePuback && h == 0x40 && len(body) == 2:
		c.s.ack(uint16(body[0])<<8 | uint16(body[1]))
	case t == typePubrel && h == 0x62 && len(body) == 2:
		pid := uint16(body[0])<<8 | uint16(body[1])
		c.s.released(pid)
		c.s.reply(c, out{kind: typePubcomp, pid: pid})
	case t == typeSubscribe && h == 0x82:
		err = c.subscribe(body)
	case t == typeUnsubscribe && h == 0xa2:
		err = c.unsubscribe(body)
	case t == typePingreq && h == 0xc0 && len(body) == 0:
		c.s.reply(c, out{kind: typePingresp})
	default:
		err = fmt.Errorf("%w: unexpected %s (%#02x, %d bytes)", ErrProtocol, typeNames[t], h, len(body))
	}
	return false, err
}

// readErr names why a read failed.
func (c *conn) readErr(err error, first bool) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return errEOF
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		if first {
			return fmt.Errorf("%w: no CONNECT within %v", ErrProtocol, c.b.opts.ConnectTimeout)
		}
		return c.silent()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: connection closed in the middle of a packet", ErrMalformed)
	}
	return err
}

// silent is why a client that said nothing for too long is ended.
func (c *conn) silent() error {
	return fmt.Errorf("%w: nothing heard for %v (keep-alive %v)", ErrKeepAlive, c.keepAliveFor(), time.Duration(c.keepAlive)*time.Second)
}

// refuse writes a CONNACK with a refusal code.
func (c *conn) refuse(code byte) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.opts.WriteTimeout))
	_, _ = c.nc.Write([]byte{typeConnack << 4, 2, 0, code})
}

// attach gives c its session: a new one, or the persistent one of its
// client id. A connection already using the id is closed first, and its
// will published, before c is accepted. The CONNACK says whether the
// session was there if the client speaks 3.1.1 (in 3.1 the flag's byte
// is reserved).
func (b *Broker) attach(c *conn, who Client, clean, v311 bool) error {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if c.evicted {
			b.mu.Unlock()
			return fmt.Errorf("%w (MaxPending)", ErrCrowded)
		}
		s := b.sessions[who.ID]
		if s != nil {
			s.mu.Lock()
			old := s.c
			s.mu.Unlock()
			if s.user != who.Username && (b.opts.MayTakeOver == nil || !b.opts.MayTakeOver(Client{ID: s.id, Username: s.user}, who)) {
				// A client id belongs to the user whose session it is,
				// connected or kept: another may neither put that client
				// out nor take its session (one device account ending
				// another device's connection, or taking its queued
				// commands).
				b.mu.Unlock()
				return fmt.Errorf("%w: client id %s has a session under another user name", ErrIDInUse, quoted(who.ID))
			}
			if old != nil {
				b.mu.Unlock()
				old.shut(ErrTakenOver)
				old.wait()
				continue
			}
		}
		if b.clients >= b.opts.MaxClients {
			b.mu.Unlock()
			return fmt.Errorf("%w: %d clients connected, the maximum", ErrRefused, b.opts.MaxClients)
		}
		if s != nil {
			b.away-- // s.c is nil: the client was away
		}
		// A session taken over from another user name (MayTakeOver) is
		// not handed over: its subscriptions were granted to that user,
		// and its queue holds that user's messages.
		if s != nil && (clean || s.clean || s.user != who.Username) {
			delete(b.sessions, s.id)
			b.forget(s)
			s = nil
		}
		present := s != nil
		if s == nil {
			s = &session{b: b, id: who.ID, user: who.Username, clean: clean}
			b.sessions[s.id] = s
		}
		b.clients++
		b.unpend(c)
		var ack byte
		if present && v311 {
			ack = 1
		}
		s.mu.Lock()
		s.c, c.s = c, s
		// CONNACK, then what the client did not acknowledge last time
		// (flagged as a duplicate), then what waited for it.
		flying := s.takeInflight()
		q := make([]out, 0, 1+len(flying)+len(s.queue))
		q = append(q, out{kind: typeConnack, raw: []byte{typeConnack << 4, 2, ack, codeAccepted}})
		for _, u := range flying {
			q = append(q, out{kind: typePublish, msg: u.msg, qos: 1, retain: u.retain, dup: true, pid: u.pid})
		}
		s.queue = append(q, s.queue...)
		c.writing = true
		s.mu.Unlock()
		b.mu.Unlock()
		b.log.Debug("client connected", "client", who.ID, "remote", who.Remote, "user", who.Username,
			"clean", clean, "session_present", present)
		go c.flush()
		return nil
	}
}

// unpend takes c off the connections waiting for CONNECT. b.mu is held.
func (b *Broker) unpend(c *conn) {
	if c.pending != nil {
		b.pending.Remove(c.pending)
		c.pending = nil
	}
}

// end publishes the will unless the client said DISCONNECT (or the
// broker is closing), then detaches c from its session and ends a clean
// session. The will comes first: while c is its session's connection, a
// new connection of the client waits for c's end (attach), and so comes
// after the will.
func (c *conn) end(normal bool) {
	c.closeSocket(nil)
	defer c.gone()
	b := c.b
	b.mu.Lock()
	b.open--
	delete(b.all, c)
	b.unpend(c)
	closing := b.closed
	b.mu.Unlock()
	s := c.s
	if s == nil {
		return
	}
	if !normal && !closing && c.will != nil {
		b.route(c.will)
	}
	b.mu.Lock()
	s.mu.Lock()
	s.c = nil
	s.left = b.clock()
	if s.clean {
		s.discard()
	} else {
		// Keep the QoS 1 messages and the retained ones to send for a
		// subscription; control packets were for c alone.
		kept := s.queue[:0]
		for _, o := range s.queue {
			if o.kind == typePublish && o.qos == 1 || o.kind == typeSubscribe {
				o.pid, o.dup = 0, false
				kept = append(kept, o)
			} else if o.kind == typePublish {
				s.hold(-size(o.msg))
			}
		}
		clear(s.queue[len(kept):])
		s.queue = kept
	}
	s.mu.Unlock()
	b.clients--
	switch {
	case s.clean && b.sessions[s.id] == s:
		delete(b.sessions, s.id)
	case !s.clean:
		b.away++
		if b.away > b.opts.MaxAwaySessions {
			b.dropAway()
		}
	}
	b.mu.Unlock()
	if s.clean {
		b.forget(s)
	}
}

// publish takes a client's PUBLISH.
func (c *conn) publish(h byte, body []byte) error {
	p, err := parsePublish(h, body)
	if err != nil {
		return err
	}
	b := c.b
	b.received.Add(1)
	allowed := b.opts.CanPublish == nil || b.opts.CanPublish(c.client(), p.msg.Topic)
	if !allowed && !c.denied {
		c.denied = true
		b.log.Warn("client may not publish on this topic; message dropped (further ones from this connection are not logged)",
			"client", c.s.id, "user", c.s.user, "topic", short(p.msg.Topic))
	}
	m := p.msg
	m.QoS = min(m.QoS, 1)
	if m.Retain && b.opts.MayRetain != nil && !b.opts.MayRetain(c.client(), m.Topic) {
		m.Retain = false
	}
	switch p.msg.QoS {
	case 0:
		if allowed {
			b.route(&m)
		}
	case 1:
		if allowed {
			b.route(&m)
		}
		c.s.reply(c, out{kind: typePuback, pid: p.pid})
	case 2:
		first, err := c.s.received(p.pid, c)
		if err != nil {
			return err
		}
		if first && allowed {
			b.route(&m)
		}
		c.s.reply(c, out{kind: typePubrec, pid: p.pid})
	}
	return nil
}

// subscribe takes a SUBSCRIBE: grants at most QoS 1, refuses malformed
// filters one by one, then replays the retained messages.
func (c *conn) subscribe(body []byte) error {
	pid, reqs, err := parseSubscribe(body, true)
	if err != nil {
		return err
	}
	b, s := c.b, c.s
	ack := make([]byte, 0, 5+len(reqs))
	ack = append(ack, typeSuback<<4)
	ack = appendLength(ack, 2+len(reqs))
	ack = append(ack, byte(pid>>8), byte(pid))
	// The filters whose retained messages are to be sent, each once, for
	// c's writer (see replay): each length-prefixed, then its QoS.
	var replay []byte
	var at map[string]int // where a filter's QoS is in replay
	for _, r := range reqs {
		if r.qos == 0x80 || !c.maySubscribe(r.filter) {
			ack = append(ack, 0x80)
			continue
		}
		q := min(r.qos, 1)
		s.mu.Lock()
		if s.c != c {
			// c ended meanwhile (see reply): a clean session is gone,
			// and a persistent one does not take what c was not told of.
			s.mu.Unlock()
			return nil
		}
		if !s.subs.has(r.filter) && s.subs.len() >= b.opts.MaxSubscriptions {
			s.mu.Unlock()
			ack = append(ack, 0x80)
			if !c.subsFull {
				c.subsFull = true
				b.log.Warn("client holds its maximum of subscriptions; filter refused (further ones from this connection are not logged)",
					"client", s.id, "filter", short(r.filter), "max", b.opts.MaxSubscriptions)
			}
			continue
		}
		s.subs.put(r.filter, q)
		b.subMu.Lock()
		b.tree.add(r.filter, sub{s: s, qos: q})
		b.subMu.Unlock()
		s.mu.Unlock()
		ack = append(ack, q)
		if i, ok := at[r.filter]; ok {
			replay[i] = q
			continue
		}
		replay = append(replay, byte(len(r.filter)>>8), byte(len(r.filter)))
		replay = append(replay, r.filter...)
		if len(reqs) > 1 {
			if at == nil {
				at = map[string]int{}
			}
			at[r.filter] = len(replay)
		}
		replay = append(replay, q)
	}
	// At once: a message retained between a SUBACK and the look for
	// retained messages would reach the client twice.
	if len(replay) > 0 {
		s.reply(c, out{kind: typeSuback, raw: ack}, out{kind: typeSubscribe, raw: replay})
	} else {
		s.reply(c, out{kind: typeSuback, raw: ack})
	}
	return nil
}

// maySubscribe asks Options.CanSubscribe about filter, logging the
// first refusal of the connection.
func (c *conn) maySubscribe(filter string) bool {
	b := c.b
	if b.opts.CanSubscribe == nil || b.opts.CanSubscribe(c.client(), filter) {
		return true
	}
	if !c.subDenied {
		c.subDenied = true
		b.log.Warn("client may not subscribe to this filter; refused (further ones from this connection are not logged)",
			"client", c.s.id, "user", c.s.user, "filter", short(filter))
	}
	return false
}

func (c *conn) unsubscribe(body []byte) error {
	pid, reqs, err := parseSubscribe(body, false)
	if err != nil {
		return err
	}
	b, s := c.b, c.s
	for _, r := range reqs {
		s.mu.Lock()
		ok := s.subs.del(r.filter)
		s.mu.Unlock()
		if ok {
			b.subMu.Lock()
			b.tree.remove(r.filter, sub{s: s})
			b.subMu.Unlock()
		}
	}
	s.reply(c, out{kind: typeUnsuback, pid: pid})
	return nil
}

// retainedUnder returns the retained messages under filter.
func (b *Broker) retainedUnder(filter string) []*Message {
	b.retMu.RLock()
	defer b.retMu.RUnlock()
	if !wildcard(filter) {
		if m := b.retained[filter]; m != nil {
			return []*Message{m}
		}
		return nil
	}
	var ms []*Message
	for t, m := range b.retained {
		if Matches(filter, t) {
			ms = append(ms, m)
		}
	}
	return ms
}

// errBye ends the connection of a client that said DISCONNECT.
var errBye = errors.New("broker: client said DISCONNECT")

// feed takes bytes read from the connection by the epoll reader and
// handles each complete packet; the rest waits in c.in for more.
func (c *conn) feed(data []byte) (paused bool, err error) {
	if in := c.partial(); len(in) > 0 {
		in = c.grow(in, data)
		*c.in = in
		data = in
	}
	whole := len(data)
	for len(data) > 0 && !c.ended.Load() {
		limit := c.b.opts.MaxPacket
		if !c.connected {
			limit = c.b.opts.MaxConnect
		}
		if !c.connected {
			if err := notConnect(data[0]); err != nil {
				return false, err
			}
		}
		n, hl, err := header(data, limit)
		if err != nil {
			return false, err
		}
		if hl == 0 || len(data) < hl+n {
			break
		}
		h := data[0]
		var body []byte
		if in := c.partial(); len(in) > 0 && &data[0] == &in[0] && len(in) == cap(in) && cap(in) == hl+n {
			// The packet came in pieces into memory of its size (grow):
			// that memory is its body, and the next bytes go elsewhere.
			body, c.in = in[hl:hl+n:hl+n], nil
		} else {
			body = make([]byte, n)
			copy(body, data[hl:hl+n])
		}
		data = data[hl+n:]
		if err := c.take(h, body); err != nil {
			return false, err
		}
		if c.backlogged() {
			paused = true
			break
		}
	}
	switch {
	case len(data) == 0:
		c.in = nil
	case len(data) == whole && len(c.partial()) > 0:
		// Nothing complete yet: c.in holds it all already.
	default:
		// Room for the rest of the packet, but no more than what arrived:
		// a length announced and not sent holds little.
		need := len(data)
		if n, hl, _ := header(data, c.b.opts.MaxPacket); hl > 0 {
			need = max(need, min(hl+n, 2*len(data)))
		}
		in := append(make([]byte, 0, need), data...)
		c.in = &in
	}
	return paused, nil
}

// grow appends data to in, the start of a packet: to twice what in could
// hold, as a length announced and not sent must hold little, but no more
// than the packet needs (its body can then be that memory, see feed).
func (c *conn) grow(in, data []byte) []byte {
	if len(in)+len(data) <= cap(in) {
		return append(in, data...)
	}
	size := max(2*cap(in), len(in)+len(data))
	if n, hl, _ := header(in, c.b.opts.MaxPacket); hl > 0 {
		size = max(min(size, hl+n), len(in)+len(data))
	}
	return append(append(make([]byte, 0, size), in...), data...)
}

// partial is the start of a packet the epoll reader has read of c.
func (c *conn) partial() []byte {
	if c.in == nil {
		return nil
	}
	return *c.in
}

// take handles one complete packet read by the epoll reader and moves
// the keep-alive deadline.
func (c *conn) take(h byte, body []byte) error {
	if !c.connected {
		if err := c.connect(body); err != nil {
			return err
		}
		c.connected = true
	} else if bye, err := c.packet(h, body); bye {
		return errBye
	} else if err != nil {
		return err
	}
	c.deadline = 0
	if c.keepAlive > 0 {
		c.deadline = c.b.clock() + c.keepAliveFor()
	}
	return nil
}

// header reads a packet's remaining length from the start of b: n, and
// hl the length of the fixed header; hl is 0 while b is too short to say.
func header(b []byte, limit int) (n, hl int, err error) {
	shift := 0
	for i := 1; i < len(b) && i <= 4; i++ {
		n |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			if n > limit {
				return 0, 0, fmt.Errorf("%w: %s of %d bytes (limit %d)", ErrTooLarge, typeNames[b[0]>>4], n, limit)
			}
			return n, i + 1, nil
		}
		shift += 7
	}
	if len(b) > 4 {
		return 0, 0, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
	}
	return 0, 0, nil
}
