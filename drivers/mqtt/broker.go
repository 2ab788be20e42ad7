package mqtt

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"

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
	srv    *broker.Broker
	addr   string
	log    *slog.Logger
	served chan struct{}
}

func startEmbedded(opts Options, log *slog.Logger) (*embedded, error) {
	anon := opts.Username == "" && len(opts.Users) == 0
	if anon && !isLoopback(opts.Listen) {
		return nil, fmt.Errorf("%w: the embedded broker on %s needs a username and password (anonymous access is for loopback only)", ErrBadOptions, opts.Listen)
	}
	a := &access{
		hubUser:  []byte(opts.Username),
		hubPass:  []byte(opts.Password),
		hubID:    opts.ClientID,
		users:    opts.Users,
		anon:     anon,
		reserved: "hubd/",
	}
	srv, err := broker.New(broker.Options{
		Listen:       opts.Listen,
		Authenticate: a.authenticate,
		CanPublish:   a.canPublish,
		MaxPacket:    embeddedMaxPacket,
		QueueLen:     opts.BrokerQueueLen,
		Logger:       log.With("component", "broker"),
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	return &embedded{srv: srv, addr: srv.Addr(), log: log}, nil
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

// access admits the hub's account, the device accounts, and (only on a
// loopback broker without accounts) anonymous clients. Only the hub may
// publish under hubd/ (its availability and RPC replies are there) or take
// the hub's client id.
type access struct {
	hubUser, hubPass []byte
	hubID            string
	users            map[string]string
	anon             bool
	reserved         string
}

func (a *access) authenticate(c broker.Client, pass []byte) bool {
	if a.anon {
		return true
	}
	user := []byte(c.Username)
	if len(a.hubUser) > 0 && eq(user, a.hubUser) && eq(pass, a.hubPass) {
		return true
	}
	if c.ID == a.hubID {
		return false // only the hub's account may take the hub's client id
	}
	want, ok := a.users[c.Username]
	// Compare even when the user is unknown, so timing says nothing.
	good := eq(pass, []byte(want))
	return ok && good && len(user) > 0
}

func (a *access) canPublish(c broker.Client, topic string) bool {
	if a.isHub(c) || !strings.HasPrefix(topic, a.reserved) {
		return true
	}
	// Shelly Gen2 devices answer RPCs on hubd/<id>/rpc.
	return strings.HasSuffix(topic, "/rpc")
}

func (a *access) isHub(c broker.Client) bool {
	if a.anon {
		return c.ID == a.hubID
	}
	return len(a.hubUser) > 0 && c.Username == string(a.hubUser)
}

func eq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
