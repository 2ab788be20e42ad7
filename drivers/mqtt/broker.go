package mqtt

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// embeddedMaxPacket protects the gateway's memory from a huge publish; the
// driver's own MaxPayload is smaller and is checked per message. It leaves
// room for Zigbee2MQTT's bridge/devices list (maxBridgePayload).
const embeddedMaxPacket = maxBridgePayload + 64<<10

// The embedded broker's per-client buffers. mochi makes them when a
// client connects, for every client: with 1,000 devices its defaults
// (8,192 pending writes, 64 KiB of pointers, and a 2 KiB read buffer per
// client) cost more than the rest of the daemon. The hub itself calls
// into the broker (inlineConn) and needs none of them, and a device is
// sent a few commands and queries at a time; but a tool subscribed to "#"
// (the load test's observer) gets every device's report, 1,000 in the
// same millisecond when they report in step, and 256 slots lost some.
const (
	// DefaultBrokerQueueLen is the default of Options.BrokerQueueLen.
	DefaultBrokerQueueLen = 1024
	// brokerReadBuffer holds a client's incoming bytes; a device's
	// messages are a few hundred bytes, larger ones are read in pieces.
	brokerReadBuffer = 512
	// brokerWriteBuffer is where queued outgoing packets are gathered
	// into one write; it exists only while a client has a backlog.
	brokerWriteBuffer = 2 << 10
)

// embedded is the in-process broker used when Options.Broker is empty.
type embedded struct {
	srv  *mochi.Server
	addr string
}

func startEmbedded(opts Options, log *slog.Logger) (*embedded, error) {
	anon := opts.Username == "" && len(opts.Users) == 0
	if anon && !isLoopback(opts.Listen) {
		return nil, fmt.Errorf("%w: the embedded broker on %s needs a username and password (anonymous access is for loopback only)", ErrBadOptions, opts.Listen)
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Retained messages (availability, LWTs, state) must outlive a quiet
	// day: no enforced expiry (mochi drops them after 24 h by default).
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumPacketSize = embeddedMaxPacket
	caps.MaximumClientWritesPending = int32(opts.BrokerQueueLen)
	srv := mochi.New(&mochi.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  brokerReadBuffer,
		ClientNetWriteBufferSize: brokerWriteBuffer,
		InlineClient:             true,
		Logger:                   slog.New(quietHandler{log.Handler()}).With("component", "broker"),
	})
	h := &authHook{
		hubUser:  []byte(opts.Username),
		hubPass:  []byte(opts.Password),
		hubID:    opts.ClientID,
		users:    opts.Users,
		anon:     anon,
		reserved: "hubd/",
	}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: opts.Listen})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("mqtt: embedded broker listen on %s: %w", opts.Listen, err)
	}
	return &embedded{srv: srv, addr: tcp.Address()}, nil
}

func (e *embedded) serve() error {
	if err := e.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt: embedded broker: %w", err)
	}
	return nil
}

func (e *embedded) close() { _ = e.srv.Close() }

// authHook admits the hub's account, the device accounts, and (only on a
// loopback broker without accounts) anonymous clients. Only the hub may
// publish under hubd/ (its availability and RPC replies are there) or take
// the hub's client id.
type authHook struct {
	mochi.HookBase
	hubUser, hubPass []byte
	hubID            string
	users            map[string]string
	anon             bool
	reserved         string
}

func (h *authHook) ID() string { return "hubd-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user, pass := pk.Connect.Username, pk.Connect.Password
	if cl.ID == mochi.InlineClientId {
		return false // the broker's own client, through which the hub talks to it
	}
	if h.anon {
		return true
	}
	if len(h.hubUser) > 0 && eq(user, h.hubUser) && eq(pass, h.hubPass) {
		return true
	}
	if cl.ID == h.hubID {
		return false // only the hub's account may take the hub's client id
	}
	want, ok := h.users[string(user)]
	// Compare even when the user is unknown, so timing says nothing.
	good := eq(pass, []byte(want))
	return ok && good && len(user) > 0
}

func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if !write {
		return true
	}
	if h.isHub(cl) {
		return true
	}
	if !strings.HasPrefix(topic, h.reserved) {
		return true
	}
	// Shelly Gen2 devices answer RPCs on hubd/<id>/rpc.
	return strings.HasSuffix(topic, "/rpc")
}

func (h *authHook) isHub(cl *mochi.Client) bool {
	if h.anon {
		return cl.ID == h.hubID
	}
	return len(h.hubUser) > 0 && bytes.Equal(cl.Properties.Username, h.hubUser)
}

func eq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// quietHandler passes the broker's log records on, except that the
// warning its listener logs, with an empty message, for every client
// connection that ends is demoted to debug when the connection ended the
// ordinary way: the client disconnected or went away, or the broker is
// stopping ("use of closed network connection"). Other ends (a refused
// login, a protocol error) stay warnings, with a message that says what
// they are.
type quietHandler struct{ h slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool { return q.h.Enabled(ctx, l) }

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler { return quietHandler{q.h.WithGroup(name)} }

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn || r.Message != "" {
		return q.h.Handle(ctx, r)
	}
	var err error
	r.Attrs(func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(error); ok && a.Key == "error" {
			err = e
			return false
		}
		return true
	})
	level, msg := slog.LevelWarn, "client connection ended with an error"
	if routineEnd(err) {
		level, msg = slog.LevelDebug, "client connection ended"
	}
	if !q.h.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return q.h.Handle(ctx, out)
}

// routineEnd reports whether a client connection's end is business as
// usual for a broker.
func routineEnd(err error) bool {
	if err == nil {
		return true
	}
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, mochi.ErrConnectionClosed) || errors.Is(err, packets.CodeDisconnect) ||
		errors.Is(err, packets.ErrServerShuttingDown)
}
