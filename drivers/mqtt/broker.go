package mqtt

import (
	"fmt"
	"log/slog"
	"time"

	"hubd/drivers/mqtt/broker"
)

// embeddedMaxPacket protects the gateway's memory from a huge publish; the
// driver's own MaxPayload is smaller and is checked per message. It leaves
// room for Zigbee2MQTT's bridge/devices list (maxBridgePayload).
const embeddedMaxPacket = maxBridgePayload + 64<<10

// DefaultBrokerQueueLen is the default of Options.BrokerQueueLen: how many
// messages the embedded broker holds for one client. The hub itself calls
// into the broker and needs none; a device is sent a few commands at a
// time; but a tool subscribed to "#" (the load test's observer, a
// technician's mosquitto_sub) gets every device's report, 1,000 at once
// when they report in step, and on a busy 2-core gateway its writer may
// run only after the reader has routed a few such rounds: 1,024 slots
// lost 1 report in 4,000 there. The queue is a slice that exists only
// while a client has a backlog (64 bytes a slot; the messages are shared).
const DefaultBrokerQueueLen = 4096

// embedded is the in-process broker used when Options.Broker is empty.
type embedded struct {
	srv     *broker.Broker
	addr    string // "" when it speaks TLS only
	tlsAddr string // "" without TLS
	log     *slog.Logger
	served  chan struct{}
}

// startEmbedded starts the embedded broker; a is its access control, whose
// account table the driver keeps up to date.
func startEmbedded(opts Options, a *access, log *slog.Logger) (*embedded, error) {
	anon := opts.Username == "" && len(opts.Users) == 0
	for _, ln := range []string{opts.Listen, opts.TLSListen} {
		if anon && ln != "" && !isLoopback(ln) {
			return nil, fmt.Errorf("%w: the embedded broker on %s needs a username and password (anonymous access is for loopback only)", ErrBadOptions, ln)
		}
	}
	a.hubUser, a.hubPass, a.hubID = []byte(opts.Username), []byte(opts.Password), opts.ClientID
	a.anon, a.reserved = anon, "hubd/"
	a.checkPassword, a.stamp, a.log = opts.CheckPassword, opts.PasswordStamp, log.With("component", "acl")
	l := opts.BrokerLimits
	srv, err := broker.New(broker.Options{
		Listen:          opts.Listen,
		TLSListen:       opts.TLSListen,
		TLSCert:         opts.TLSCert,
		TLSKey:          opts.TLSKey,
		Authenticate:    a.authenticate,
		CanPublish:      a.canPublish,
		CanSubscribe:    a.canSubscribe,
		MayTakeOver:     a.mayTakeOver,
		MayRetain:       a.mayRetain,
		MaxPacket:       embeddedMaxPacket,
		QueueLen:        opts.BrokerQueueLen,
		MaxQueueBytes:   l.MaxQueueBytes,
		MaxQueuedBytes:  l.MaxQueuedBytes,
		MaxConnections:  l.MaxConnections,
		MaxClients:      l.maxClients(),
		MaxPending:      l.MaxPending,
		MaxAwaySessions: l.MaxAwaySessions,
		SessionExpiry:   l.SessionExpiry,
		ConnectTimeout:  l.ConnectTimeout,
		Logger:          log.With("component", "broker"),
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	a.count = srv.Count
	return &embedded{srv: srv, addr: srv.Addr(), tlsAddr: srv.TLSAddr(), log: log}, nil
}

// serve starts accepting clients in the background; an accept loop that
// fails (not a stop) is logged.
func (e *embedded) serve() error {
	e.served = make(chan struct{})
	go func() {
		defer close(e.served)
		if err := e.srv.Serve(); err != nil {
			e.log.Error("embedded broker stopped accepting clients", "error", err)
		}
	}()
	return nil
}

// close ends every client connection and the accept loop.
func (e *embedded) close() {
	_ = e.srv.Close()
	if e.served != nil {
		<-e.served
	}
}

// BrokerLimits bound the embedded broker's resources. Each zero field
// takes the broker package's default (see drivers/mqtt/broker); beyond a
// bound the broker refuses or drops, counts it and logs (rate-limited).
type BrokerLimits struct {
	// MaxConnections bounds open connections, logged in or not (keep it
	// under the unit's LimitNOFILE); MaxPending those not admitted by a
	// CONNECT yet (a new one closes the oldest); ConnectTimeout is how
	// long a new connection has to send its CONNECT.
	MaxConnections, MaxPending int
	ConnectTimeout             time.Duration
	// MaxQueueBytes bounds one client's queued messages in bytes,
	// MaxQueuedBytes all clients' queues together, connected or away.
	MaxQueueBytes, MaxQueuedBytes int
	// MaxAwaySessions bounds the persistent sessions kept for clients that
	// are away, SessionExpiry how long one is kept.
	MaxAwaySessions int
	SessionExpiry   time.Duration
}

// maxClients is the broker's bound on logged-in clients: MaxConnections
// when set (so a gateway raised above the broker's default of 10,000
// connections admits as many clients), else the broker's default.
func (l BrokerLimits) maxClients() int { return max(l.MaxConnections, 0) }

// ReloadTLS reads the embedded broker's TLS certificate and key files
// again (on SIGHUP, after a renewal); the pair in use stays if they are
// not a valid pair. Without an embedded TLS listener it does nothing.
func (d *Driver) ReloadTLS() error {
	if d.broker == nil || d.broker.tlsAddr == "" {
		return nil
	}
	return d.broker.srv.ReloadTLS()
}

// BrokerTLSAddr is the embedded broker's bound TLS address, or "".
func (d *Driver) BrokerTLSAddr() string {
	if d.broker == nil {
		return ""
	}
	return d.broker.tlsAddr
}

// DisconnectAccount ends the connection of every client logged in under
// the device account name, after its password was rotated or deleted:
// such a client may do nothing more anyway (PasswordStamp), and
// disconnected it must log in again with the new password. It returns how
// many it ended; none with an external broker.
func (d *Driver) DisconnectAccount(name string) int {
	if name == "" {
		return 0
	}
	return d.disconnectUsers(func(user string) bool { return user == name }, []string{name})
}

// disconnectUsers ends the connections and kept sessions of the device
// accounts gone says are revoked (never the hub's own); names are they,
// for the log.
func (d *Driver) disconnectUsers(gone func(user string) bool, names []string) int {
	if d.broker == nil {
		return 0
	}
	match := func(c broker.Client) bool { return c.Username != d.opts.Username && gone(c.Username) }
	n := d.broker.srv.Disconnect(match)
	d.broker.srv.DropSessions(match)
	if n > 0 {
		d.log.Info("clients of device accounts disconnected: their password changed or no device uses them", "accounts", names, "clients", n)
	}
	return n
}

// BrokerStats are the embedded broker's figures; ok is false with an
// external broker.
func (d *Driver) BrokerStats() (st broker.Stats, ok bool) {
	if d.broker == nil {
		return broker.Stats{}, false
	}
	return d.broker.srv.Stats(), true
}
