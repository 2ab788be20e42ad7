package uplink

import (
	"log/slog"
	"strings"
	"time"

	"hubd/hub"
)

// Options configure an Uplink. Broker, Hub and Queue are required; every
// other zero value is documented per field.
type Options struct {
	// Broker is tcp://HOST:PORT or ssl://HOST:PORT.
	Broker string
	// CAFile verifies an ssl:// broker; empty: the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS;
	// both or neither.
	CertFile, KeyFile string
	// Username and Password log in to the broker; empty: anonymous.
	Username, Password string
	// ClientID; zero: "hubd-" + Gateway.
	ClientID string
	// Gateway is the gateway's name, in the default prefix and payloads.
	Gateway string
	// Prefix is the root of every topic. Zero: "hubd/" + Gateway.
	Prefix string
	// QoS of everything published (0, 1 or 2). Zero means 0; the daemon's
	// config defaults it to 1, which store-and-forward needs to know that
	// an event arrived.
	QoS byte
	// Commands turns on the per-device command topics. Zero: off.
	Commands bool
	// MaxCommandAge refuses a command whose "at" is older than this.
	// Zero: 30 s.
	MaxCommandAge time.Duration
	// CommandQueue bounds the commands waiting for one of the workers
	// (each waits up to the hub's command timeout for its device); more
	// are refused as busy and counted. Zero: 64.
	CommandQueue int
	// HomeAssistant publishes discovery configs under DiscoveryPrefix.
	HomeAssistant bool
	// DiscoveryPrefix is Home Assistant's discovery root. Zero:
	// "homeassistant".
	DiscoveryPrefix string
	// HealthInterval is how often health is published. Zero: 60 s.
	HealthInterval time.Duration
	// RetryMax bounds the wait between reconnects. Zero: 30 s.
	RetryMax time.Duration
	// Window is how many events may wait for the broker's
	// acknowledgement at once. Zero: 256.
	Window int
	// SubscriptionRoom is the room of the hub subscription. Zero: 4096.
	SubscriptionRoom int

	// Hub is the hub whose state and events are published.
	Hub *hub.Hub
	// Queue keeps events across outages and restarts.
	Queue Queue
	// Version and Commit of the daemon, for health.
	Version, Commit string
	// Started is when the daemon started; zero: when New ran.
	Started time.Time
	// Buses and Brokers report the device side for health; nil: none.
	Buses   func() []hub.BusStatus
	Brokers func() []hub.BrokerStatus
	// Logger; nil discards.
	Logger *slog.Logger
}

// Queue is the durable event queue (store.Queue implements it).
type Queue interface {
	// Append adds values at the end, dropping the oldest beyond the
	// queue's bounds, and returns how many were dropped.
	Append(vals [][]byte) (dropped int, err error)
	// Peek returns up to max of the oldest values after seq (0: from the
	// oldest), oldest first.
	Peek(after uint64, max int) ([]QueueItem, error)
	// Remove deletes every value up to and including seq.
	Remove(seq uint64) error
	// Stats reports what the queue holds and has dropped.
	Stats() QueueStats
}

// QueueItem and QueueStats are the hub's (the store's Queue returns them).
type (
	QueueItem  = hub.QueueItem
	QueueStats = hub.QueueStats
)

func (o *Options) defaults() error {
	if o.Hub == nil || o.Queue == nil {
		return errorf(ErrInvalidOptions, "Hub and Queue are required")
	}
	if !strings.HasPrefix(o.Broker, "tcp://") && !strings.HasPrefix(o.Broker, "ssl://") {
		return errorf(ErrInvalidOptions, "broker %q is not tcp:// or ssl://", o.Broker)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errorf(ErrInvalidOptions, "a client certificate needs both CertFile and KeyFile")
	}
	if o.QoS > 2 {
		return errorf(ErrInvalidOptions, "qos %d is not 0, 1 or 2", o.QoS)
	}
	if o.Gateway == "" {
		o.Gateway = "hubd"
	}
	if o.Prefix == "" {
		o.Prefix = "hubd/" + o.Gateway
	}
	o.Prefix = strings.TrimRight(o.Prefix, "/")
	if strings.ContainsAny(o.Prefix, "#+") || o.Prefix == "" {
		return errorf(ErrInvalidOptions, "prefix %q holds a wildcard or is empty", o.Prefix)
	}
	if o.ClientID == "" {
		o.ClientID = "hubd-" + o.Gateway
	}
	if o.MaxCommandAge <= 0 {
		o.MaxCommandAge = 30 * time.Second
	}
	if o.CommandQueue <= 0 {
		o.CommandQueue = 64
	}
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = "homeassistant"
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = time.Minute
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.SubscriptionRoom <= 0 {
		o.SubscriptionRoom = 4096
	}
	if o.Started.IsZero() {
		o.Started = time.Now()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
