package broker

import (
	"bufio"
	"container/list"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Options' zero values.
const (
	DefaultMaxPacket        = 256 << 10
	DefaultQueueLen         = 1024
	DefaultMaxClients       = 10_000
	DefaultMaxConnections   = 5000
	DefaultMaxPending       = 1024
	DefaultMaxConnect       = 16 << 10
	DefaultMaxQueueBytes    = 4 << 20
	DefaultMaxQueuedBytes   = 64 << 20
	DefaultMaxRetained      = 100_000
	DefaultMaxRetainedBytes = 64 << 20
	DefaultMaxAwaySessions  = 1000
	DefaultMaxSubscriptions = 1000
	DefaultSessionExpiry    = 24 * time.Hour
	DefaultConnectTimeout   = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// readBuffer is each connection's read buffer: a device's packets are a
// few hundred bytes, and larger ones are read through it in pieces.
const readBuffer = 512

// maxQoS2 bounds the QoS 2 packet ids a client may hold open at once.
const maxQoS2 = 1024

// Message is an application message.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	// Retain is the publisher's retain flag; a subscriber sees it set only
	// on the retained messages replayed when it subscribes.
	Retain bool
}

// Client is who a network connection says it is, for Options'
// Authenticate and CanPublish.
type Client struct {
	ID       string
	Username string
	Remote   string
}

// Options configure a Broker. Zero values take the defaults above.
type Options struct {
	// Listen is the TCP address to accept clients on without TLS. It
	// may be empty if TLSListen is set: the broker then speaks TLS only.
	Listen string
	// TLSListen is the TCP address to accept clients on with TLS (1.2 or
	// later), with the certificate chain and key of the PEM files
	// TLSCert and TLSKey; empty means no TLS listener. ReloadTLS reads
	// the files again. A TLS connection is read by a goroutine of its
	// own whatever GoroutinePerConn says (its records are decrypted by
	// crypto/tls), so it costs some 10 to 15 KiB more than a plain one.
	TLSListen, TLSCert, TLSKey string
	// Authenticate admits a client; nil admits everyone.
	Authenticate func(c Client, password []byte) bool
	// CanPublish says whether a client may publish (or leave a will) on
	// topic; nil lets everyone publish everywhere. A refused QoS 1
	// message is still acknowledged, as MQTT 3.1.1 has no way to refuse
	// one, and then dropped.
	CanPublish func(c Client, topic string) bool
	// MayRetain says whether a client's retained publishes (and will) are
	// kept as retained messages; when not, they are delivered as plain
	// ones. nil: everyone's are.
	MayRetain func(c Client, topic string) bool
	// MayTakeOver says whether a client may take the client id of a
	// session of another user name, connected (that client is put out,
	// as MQTT has it for the same user) or kept for an absent client
	// (the session is dropped, not handed over); nil: never, so one user
	// can neither end another's connections nor take its session. A
	// session that ends clean leaves its id free for anyone.
	MayTakeOver func(connected, newcomer Client) bool
	// CanSubscribe says whether a client may subscribe to filter; nil
	// lets everyone subscribe to everything. A refused filter gets the
	// SUBACK failure code 0x80, is not added and replays no retained
	// message; the other filters of the same SUBSCRIBE are unaffected.
	CanSubscribe func(c Client, filter string) bool
	// MaxPacket is the largest packet accepted, in bytes; a client that
	// sends a larger one is disconnected.
	MaxPacket int
	// MaxConnect is the largest CONNECT accepted (client id, will,
	// credentials), in bytes, at most MaxPacket: what a connection not
	// admitted yet can make the broker hold, MaxPending times.
	MaxConnect int
	// QueueLen bounds each client's messages waiting to be written or
	// acknowledged; beyond it messages to that client are dropped and
	// counted (Stats.Dropped). Once QueueLen packets wait to be written
	// to a client, it is read no more until its writer takes them.
	QueueLen int
	// MaxQueueBytes bounds the bytes (topics and payloads) of each
	// client's messages waiting to be written or acknowledged; beyond it
	// messages to that client are dropped and counted
	// (Stats.DroppedBytes). Zero means DefaultMaxQueueBytes or twice
	// MaxPacket, whichever is larger.
	MaxQueueBytes int
	// MaxQueuedBytes bounds the same bytes across every client's queue,
	// connected or away; beyond it messages are dropped and counted
	// (Stats.DroppedMemory). Zero means DefaultMaxQueuedBytes; it is
	// raised to MaxQueueBytes if lower.
	MaxQueuedBytes int
	// MaxClients bounds connected clients; more are refused with "server
	// unavailable".
	MaxClients int
	// MaxConnections bounds open connections, logged in or not; one more
	// is closed as soon as it is accepted (Stats.ConnectionsRefused), so
	// the process keeps file descriptors for its other work. Keep it
	// under the open-file limit (systemd's LimitNOFILE).
	MaxConnections int
	// MaxPending bounds the connections that have not been admitted by a
	// CONNECT yet; a new one beyond it closes the oldest of them
	// (Stats.PendingClosed), so idle connections cannot keep devices
	// from logging in.
	MaxPending int
	// MaxSubscriptions bounds the topic filters one client holds; a
	// filter beyond it is refused (SUBACK 0x80).
	MaxSubscriptions int
	// MaxRetained bounds retained topics; a retained message on a new
	// topic beyond it is delivered but not retained.
	MaxRetained int
	// MaxRetainedBytes bounds the bytes (topics and payloads) of the
	// retained messages; a retained message beyond it is delivered but
	// not retained, and its topic's former one is forgotten.
	MaxRetainedBytes int
	// MaxAwaySessions bounds the persistent sessions kept for clients
	// that are away; beyond it the one away longest is dropped.
	MaxAwaySessions int
	// SessionExpiry is how long a persistent (clean session off) session
	// of a client that went away keeps its subscriptions and queue.
	SessionExpiry time.Duration
	// ConnectTimeout is how long a new connection has to send CONNECT;
	// WriteTimeout how long a client may take no byte of what is written
	// to it before it is ended as too slow (Stats.SlowClients).
	ConnectTimeout, WriteTimeout time.Duration
	// Logger gets connection errors (warn) and routine ends (debug).
	Logger *slog.Logger
	// GoroutinePerConn reads each connection with a goroutine of its own
	// (about 4 KiB of stack and a 512-byte buffer per client) instead of
	// one epoll reader for all; it is the only way where there is no
	// epoll.
	GoroutinePerConn bool
}

// Stats are the broker's counters.
type Stats struct {
	Clients       int    // connected now
	Sessions      int    // connected and persistent ones kept for a client
	Subscriptions int    // filters held, one count per subscriber (clients and in-process)
	Retained      int    // retained topics
	RetainedBytes int    // their topics' and payloads' bytes
	Received      uint64 // PUBLISH packets from clients
	BytesIn       uint64 // bytes read from clients' sockets and handled
	Sent          uint64 // PUBLISH packets written to clients
	Dropped       uint64 // messages not queued because a client's queue was full
	Refused       uint64 // connections refused or ended by a protocol error

	Connections int // open connections, logged in or not
	Pending     int // of them, the ones not admitted by a CONNECT yet
	QueuedBytes int // topics and payloads queued or unacknowledged, all clients

	DroppedBytes       uint64 // messages not queued: MaxQueueBytes of their client
	DroppedMemory      uint64 // messages not queued: MaxQueuedBytes
	ConnectionsRefused uint64 // connections closed on accepting: MaxConnections
	PendingClosed      uint64 // connections closed before CONNECT: MaxPending
	SlowClients        uint64 // clients ended for taking no byte for WriteTimeout
}

// Broker is an MQTT 3.1.1 broker (3.1 clients are accepted too) with
// QoS 0 and 1 delivery (QoS 2 publishes are taken and delivered at QoS
// 1), retained messages, wills, keep-alive, persistent sessions and
// in-process subscribers. Connections are read by one epoll reader (see
// the package documentation); writing is done by a short-lived goroutine
// while a connection has a backlog.
type Broker struct {
	opts  Options
	log   *slog.Logger
	ln    net.Listener // nil: TLS only
	tlsLn net.Listener // nil: no TLS
	certs *certs

	mu       sync.Mutex
	sessions map[string]*session
	open     int                // connections open, CONNECT or not
	all      map[*conn]struct{} // of them, those read by a goroutine of their own (the epoll reader has the rest)
	pending  list.List          // of *conn: those without CONNECT, oldest first
	clients  int
	away     int // sessions kept for clients that are away
	closed   bool
	ended    sync.Cond // on mu: a connection's end was dealt with (conn.gone)
	conns    sync.WaitGroup
	poll     *poller // nil: a goroutine per connection

	subMu sync.RWMutex
	tree  tree

	retMu    sync.RWMutex
	retained map[string]*Message
	retBytes int  // topics and payloads of retained
	retFull  bool // a bound on retained was reached and logged

	received, sent, dropped, refused atomic.Uint64
	bytesIn                          atomic.Uint64
	droppedBytes, droppedMemory      atomic.Uint64
	connsRefused, pendingClosed      atomic.Uint64
	slow                             atomic.Uint64
	queued                           atomic.Int64 // bytes in every queue (see session.hold)
	// Rate-limited warnings, one per bound.
	logFull, logPending, logQueueBytes, logMemory, logUnadmitted, logUnwatched rateLog

	done  chan struct{}
	epoch time.Time // the start of clock
}

// clock is the time since New, from the monotonic clock: the epoll
// reader's deadlines in a word, not a time.Time's three.
func (b *Broker) clock() time.Duration { return time.Since(b.epoch) }

// fill gives the options left zero their defaults.
func (opts *Options) fill() {
	orDefault(&opts.MaxPacket, DefaultMaxPacket)
	opts.MaxPacket = min(opts.MaxPacket, maxRemaining)
	orDefault(&opts.MaxConnect, DefaultMaxConnect)
	opts.MaxConnect = min(opts.MaxConnect, opts.MaxPacket)
	orDefault(&opts.QueueLen, DefaultQueueLen)
	orDefault(&opts.MaxQueueBytes, max(DefaultMaxQueueBytes, 2*opts.MaxPacket))
	orDefault(&opts.MaxQueuedBytes, DefaultMaxQueuedBytes)
	opts.MaxQueuedBytes = max(opts.MaxQueuedBytes, opts.MaxQueueBytes)
	orDefault(&opts.MaxConnections, DefaultMaxConnections)
	orDefault(&opts.MaxPending, DefaultMaxPending)
	orDefault(&opts.MaxClients, DefaultMaxClients)
	orDefault(&opts.MaxSubscriptions, DefaultMaxSubscriptions)
	orDefault(&opts.MaxRetained, DefaultMaxRetained)
	orDefault(&opts.MaxRetainedBytes, DefaultMaxRetainedBytes)
	orDefault(&opts.MaxAwaySessions, DefaultMaxAwaySessions)
	orDefault(&opts.SessionExpiry, DefaultSessionExpiry)
	orDefault(&opts.ConnectTimeout, DefaultConnectTimeout)
	orDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
}

// orDefault sets *v to d if it is zero or less.
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// New binds the listeners; Serve accepts clients.
func New(opts Options) (*Broker, error) {
	opts.fill()
	b := &Broker{
		opts:     opts,
		log:      opts.Logger,
		sessions: map[string]*session{},
		all:      map[*conn]struct{}{},
		retained: map[string]*Message{},
		done:     make(chan struct{}),
		epoch:    time.Now(),
	}
	b.ended.L = &b.mu
	if err := b.listen(); err != nil {
		return nil, err
	}
	return b, nil
}

// listen binds the listeners and makes the epoll reader.
func (b *Broker) listen() (err error) {
	opts := b.opts
	defer func() {
		if err != nil {
			b.closeListeners()
		}
	}()
	if opts.TLSListen != "" {
		if b.tlsLn, b.certs, err = listenTLS(opts); err != nil {
			return err
		}
	}
	if opts.Listen != "" || opts.TLSListen == "" {
		if b.ln, err = net.Listen("tcp", opts.Listen); err != nil {
			return fmt.Errorf("broker: listen on %s: %w", opts.Listen, err)
		}
	}
	if !opts.GoroutinePerConn {
		b.poll, err = newPoller(b)
	}
	return err
}

// closeListeners closes the listeners; the first error is returned.
func (b *Broker) closeListeners() error {
	var errs []error
	for _, ln := range []net.Listener{b.ln, b.tlsLn} {
		if ln != nil {
			errs = append(errs, ln.Close())
		}
	}
	return errors.Join(errs...)
}

// Addr is the bound address of the listener without TLS, or "" if the
// broker speaks TLS only.
func (b *Broker) Addr() string {
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// Serve accepts clients until Close; it returns nil after Close, or why
// a listener stopped accepting.
func (b *Broker) Serve() error {
	go b.expire()
	if b.poll != nil {
		b.poll.start()
	}
	errs := make(chan error, 2)
	n := 0
	for _, ln := range []net.Listener{b.ln, b.tlsLn} {
		if ln != nil {
			n++
			go func() { errs <- b.accept(ln) }()
		}
	}
	var all []error
	for range n {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// accept takes the clients of one listener until Close.
func (b *Broker) accept(ln net.Listener) error {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-b.done:
				return nil
			default:
			}
			if retryable(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				b.log.Warn("accepting a client failed, retrying", "error", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			err = fmt.Errorf("broker: accept on %s: %w", ln.Addr(), err)
			// Serve returns it once every listener stopped.
			b.log.Error("listener stopped accepting clients", "error", err)
			return err
		}
		delay = 0
		if !b.admit(conn) {
			return nil
		}
	}
}

// admit starts serving a connection just accepted, within MaxConnections
// and MaxPending; it is false once the broker is closed.
func (b *Broker) admit(nc net.Conn) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		nc.Close()
		return false
	}
	if b.open >= b.opts.MaxConnections {
		b.mu.Unlock()
		b.connsRefused.Add(1)
		b.logFull.warn(b.log, "connection closed on accepting: the broker has its maximum of connections open (MaxConnections)",
			"remote", nc.RemoteAddr().String(), "max", b.opts.MaxConnections)
		nc.Close()
		return true
	}
	var oldest *conn
	if b.pending.Len() >= b.opts.MaxPending {
		oldest = b.pending.Remove(b.pending.Front()).(*conn)
		oldest.pending, oldest.evicted = nil, true
	}
	b.conns.Add(1)
	c := b.newConn(nc)
	b.open++
	c.pending = b.pending.PushBack(c)
	if _, tls := nc.(*tls.Conn); b.poll == nil || tls {
		b.all[c] = struct{}{}
		b.mu.Unlock()
		go b.serveConn(c)
	} else {
		// Watched before b.mu is let go: Close must not see (and end) a
		// connection that is half added to the epoll set.
		err := b.poll.add(c)
		b.mu.Unlock()
		if err != nil {
			// At the descriptor limit every new client lands here: logged
			// once per logEvery, not once each.
			b.logUnwatched.warn(b.log, "cannot watch a new connection; closed", "remote", c.remote, "error", err)
			c.finish(false, err)
			b.conns.Done()
		}
	}
	if oldest != nil {
		b.pendingClosed.Add(1)
		b.logPending.warn(b.log, "connection without CONNECT closed to make room for a new one (MaxPending)",
			"remote", oldest.remote, "max", b.opts.MaxPending)
		if oldest.poll != nil {
			oldest.poll.evict(oldest) // the reader may be in its CONNECT
		} else {
			oldest.shut(errCrowded(b))
		}
	}
	return true
}

// errCrowded is why a connection is closed for a newer one.
func errCrowded(b *Broker) error {
	return fmt.Errorf("%w: %d connections had not sent CONNECT (MaxPending)", ErrCrowded, b.opts.MaxPending)
}

// retryable reports whether an accept error is one to wait out: out of
// file descriptors, or a connection that went away before it was taken.
func retryable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) ||
		errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// Close stops accepting, closes every connection (publishing no wills)
// and waits for their goroutines.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	live := make([]*conn, 0, b.open)
	for c := range b.all {
		live = append(live, c)
	}
	b.mu.Unlock()
	err := b.closeListeners()
	if b.poll != nil {
		// The reader stops first, so that no connection is ended here
		// while the reader is in the middle of one of its packets. No
		// connection joins it since b.closed was set (admit).
		b.poll.stop()
		live = b.poll.live(live)
	}
	for _, c := range live {
		c.shut(ErrClosed)
	}
	b.conns.Wait()
	if b.poll != nil {
		b.poll.close()
	}
	return err
}

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	st := Stats{Clients: b.clients, Sessions: len(b.sessions), Connections: b.open, Pending: b.pending.Len()}
	b.mu.Unlock()
	b.subMu.RLock()
	st.Subscriptions = b.tree.n
	b.subMu.RUnlock()
	b.retMu.RLock()
	st.Retained, st.RetainedBytes = len(b.retained), b.retBytes
	b.retMu.RUnlock()
	st.Received, st.Sent, st.Dropped, st.Refused = b.received.Load(), b.sent.Load(), b.dropped.Load(), b.refused.Load()
	st.BytesIn = b.bytesIn.Load()
	st.QueuedBytes = int(b.queued.Load())
	st.DroppedBytes, st.DroppedMemory = b.droppedBytes.Load(), b.droppedMemory.Load()
	st.ConnectionsRefused, st.PendingClosed, st.SlowClients = b.connsRefused.Load(), b.pendingClosed.Load(), b.slow.Load()
	return st
}

// Publish delivers a message from inside the process (no access check):
// to network subscribers through their queues, and to Local subscribers
// on the caller's goroutine before Publish returns. qos above 1 is sent
// as 1.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if err := ValidTopic(topic); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("broker: publish %s: QoS %d", topic, qos)
	}
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	b.route(&Message{Topic: topic, Payload: append([]byte(nil), payload...), QoS: min(qos, 1), Retain: retain})
	return nil
}

// Retained returns copies of the retained messages under filter.
func (b *Broker) Retained(filter string) []Message {
	if ValidFilter(filter) != nil {
		return nil
	}
	ms := b.retainedUnder(filter)
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = *m
	}
	return out
}

// route retains m if asked and hands it to every matching subscriber.
func (b *Broker) route(m *Message) {
	if m.Retain {
		b.retain(m)
	}
	buf := targetBufs.Get().(*[]sub)
	b.subMu.RLock()
	targets := b.tree.match(m.Topic, (*buf)[:0])
	b.subMu.RUnlock()
	defer func() {
		clear(targets)
		*buf = targets[:0]
		targetBufs.Put(buf)
	}()
	for _, t := range targets {
		q := min(m.QoS, t.qos)
		if t.l != nil {
			t.l.fn(m.Topic, m.Payload)
			continue
		}
		t.s.deliver(out{kind: typePublish, msg: m, qos: q})
	}
}

// targetBufs hold route's list of subscribers between messages (a
// buffer on the stack would escape through the tree's recursion).
var targetBufs = sync.Pool{New: func() any { s := make([]sub, 0, 8); return &s }}

// retain stores (or, with an empty payload, forgets) m as its topic's
// retained message, within MaxRetained and MaxRetainedBytes. Reaching a
// bound is logged once, until the retained messages are below it again.
func (b *Broker) retain(m *Message) {
	b.retMu.Lock()
	defer b.retMu.Unlock()
	old := b.retained[m.Topic]
	if old != nil {
		delete(b.retained, m.Topic)
		b.retBytes -= retainedSize(old)
	}
	switch {
	case len(m.Payload) == 0:
	case old == nil && len(b.retained) >= b.opts.MaxRetained:
		b.retainedFull("retained message not kept: the broker holds its maximum of retained topics (MaxRetained)",
			"topic", short(m.Topic), "max", b.opts.MaxRetained)
		return
	case b.retBytes+retainedSize(m) > b.opts.MaxRetainedBytes:
		b.retainedFull("retained message not kept, and its topic's former one forgotten: the retained messages would take more than MaxRetainedBytes",
			"topic", short(m.Topic), "bytes", retainedSize(m), "max", b.opts.MaxRetainedBytes)
		return
	default:
		b.retained[m.Topic] = m
		b.retBytes += retainedSize(m)
		return
	}
	b.retFull = false
}

// retainedFull logs that a bound on retained messages was reached,
// unless it was and has not been left since. b.retMu is held.
func (b *Broker) retainedFull(msg string, attrs ...any) {
	if !b.retFull {
		b.retFull = true
		b.log.Warn(msg+" (further ones are not logged until there is room)", attrs...)
	}
}

// retainedSize is what Options.MaxRetainedBytes counts of a message.
func retainedSize(m *Message) int { return len(m.Topic) + len(m.Payload) }

// expire drops persistent sessions whose client has been away longer
// than SessionExpiry.
func (b *Broker) expire() {
	t := time.NewTicker(min(b.opts.SessionExpiry/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			now := b.clock()
			b.mu.Lock()
			for id, s := range b.sessions {
				s.mu.Lock()
				old := s.c == nil && now-s.left > b.opts.SessionExpiry
				s.mu.Unlock()
				if old {
					delete(b.sessions, id)
					b.away--
					b.forget(s)
				}
			}
			b.mu.Unlock()
		}
	}
}

// dropAway drops the session away longest, as more than
// MaxAwaySessions are kept. b.mu is held.
func (b *Broker) dropAway() {
	var oldest *session
	var left time.Duration
	for _, s := range b.sessions {
		s.mu.Lock()
		if s.c == nil && (oldest == nil || s.left < left) {
			oldest, left = s, s.left
		}
		s.mu.Unlock()
	}
	if oldest == nil {
		return
	}
	delete(b.sessions, oldest.id)
	b.away--
	b.forget(oldest)
	b.log.Info("session of a client that is away dropped: more than MaxAwaySessions are kept",
		"client", oldest.id, "left", b.epoch.Add(left), "max", b.opts.MaxAwaySessions)
}

// forget removes every subscription of s and drops what it holds: s is
// gone, or its client's connection ended a clean session.
func (b *Broker) forget(s *session) {
	s.mu.Lock()
	filters := s.subs.keys()
	s.subs = filterSet{}
	s.discard()
	s.mu.Unlock()
	b.subMu.Lock()
	for _, f := range filters {
		b.tree.remove(f, sub{s: s})
	}
	b.subMu.Unlock()
}

// Local is an in-process subscriber: its function is called with each
// matching message, on the goroutine that published it (a client's
// reader, Publish's caller, or for a will the goroutine ending that
// client's connection). It must not block. The topic and the payload
// are the message's own memory (a client's are its packet's): keeping
// either keeps the whole message, so copy what is kept, and never write
// to the payload.
type Local struct {
	b  *Broker
	fn func(topic string, payload []byte)

	mu      sync.Mutex
	filters map[string]bool
}

// NewLocal makes an in-process subscriber; it has no subscriptions yet.
func (b *Broker) NewLocal(fn func(topic string, payload []byte)) *Local {
	return &Local{b: b, fn: fn, filters: map[string]bool{}}
}

// Subscribe adds a filter; a message matching several of l's filters
// arrives once. Retained messages are not replayed (see Retained).
func (l *Local) Subscribe(filter string) error {
	if err := ValidFilter(filter); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filters[filter] = true
	l.b.subMu.Lock()
	l.b.tree.add(filter, sub{l: l, qos: 1})
	l.b.subMu.Unlock()
	return nil
}

// Unsubscribe removes a filter.
func (l *Local) Unsubscribe(filter string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.filters[filter] {
		return
	}
	delete(l.filters, filter)
	l.b.subMu.Lock()
	l.b.tree.remove(filter, sub{l: l})
	l.b.subMu.Unlock()
}

// Close removes every filter.
func (l *Local) Close() {
	l.mu.Lock()
	fs := l.filters
	l.filters = map[string]bool{}
	l.mu.Unlock()
	l.b.subMu.Lock()
	for f := range fs {
		l.b.tree.remove(f, sub{l: l})
	}
	l.b.subMu.Unlock()
}

// newClientID names a client that connected with an empty id.
func newClientID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return "auto-" + hex.EncodeToString(r[:])
}

// routine reports whether a connection's end is business as usual.
func routine(err error) bool {
	return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrTakenOver) || errors.Is(err, ErrCrowded) ||
		closedErr(err) || strings.Contains(err.Error(), "connection reset by peer") ||
		errors.Is(err, errEOF)
}

// errEOF marks a client that closed its connection between packets.
var errEOF = errors.New("broker: client closed the connection")

var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
