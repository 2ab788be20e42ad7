package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// DriverName is the hub.Device.Driver value of devices this package owns.
const DriverName = "mqtt"

// Defaults for zero Options fields.
const (
	DefaultListen       = "127.0.0.1:1883"
	DefaultMaxPayload   = 64 << 10
	DefaultQueueLen     = 8
	DefaultWorkers      = 4
	DefaultReconnectMax = 30 * time.Second
	// DefaultRefreshInterval is how often each device is asked for its
	// state: well inside the hub's default 2 minutes of silence before a
	// device is stale, while Tasmota reports only every 5 minutes.
	DefaultRefreshInterval = 60 * time.Second
)

// maxBridgePayload caps Zigbee2MQTT's bridge/devices, one message listing
// every paired device with its whole definition (a few KB each), so far
// larger than any device's own message.
const maxBridgePayload = 4 << 20

// Options configure a Driver.
type Options struct {
	// Broker is the URL of an external broker, "tcp://host:port" or
	// "ssl://host:port". Empty: run the embedded broker on Listen.
	Broker string
	// Listen is the embedded broker's address without TLS. Empty:
	// DefaultListen, or none if TLSListen is set; use "127.0.0.1:0" in
	// tests and read BrokerAddr.
	Listen string
	// TLSListen is the embedded broker's TLS address, TLSCert and TLSKey
	// its PEM certificate chain and key files (ReloadTLS reads them
	// again). Empty: no TLS listener.
	TLSListen, TLSCert, TLSKey string
	// BrokerLimits bound the embedded broker's connections, queues and
	// sessions; zero fields take the defaults.
	BrokerLimits BrokerLimits
	// Username and Password authenticate the hub to the broker. The
	// embedded broker accepts them too (plus Users). An embedded broker
	// without any credentials accepts anonymous clients, and is only
	// allowed on a loopback address.
	Username, Password string
	// Users are shared device accounts (username -> password) the
	// embedded broker accepts: one named like a device account (see
	// DeviceAccounts) is that account; any other may do what any device
	// may (the union of their rules; see Accounts).
	Users map[string]string
	// DeviceAccounts names the embedded broker's account of each device
	// (device id -> account name); a device not in it uses
	// DefaultAccount. Devices that share an account share its rules.
	DeviceAccounts map[string]string
	// CheckPassword checks a device account's password for the embedded
	// broker (normally against the hashes kept in the store). nil: only
	// the hub's account and Users log in.
	CheckPassword func(account string, password []byte) bool
	// PasswordStamp, when set, names a device account's current password:
	// any string that changes with it ("" for none). A client that logged
	// in under an earlier password (rotated or deleted since) may publish
	// and subscribe no more, though MQTT gives the broker no way to tell
	// it so; it must log in again. nil: logins stay valid until they end.
	PasswordStamp func(account string) string
	// CommissioningClients bounds the clients logged in at once under
	// CommissioningAccount while a commissioning window is open; more are
	// refused and counted. Zero: DefaultCommissioningClients.
	CommissioningClients int
	// CAFile is a PEM bundle to verify an ssl:// broker with. Empty: the
	// system roots.
	CAFile string
	// ClientID is the hub's MQTT client id. Empty: "hubd-" + host name.
	ClientID string
	// TasmotaFullTopic is the FullTopic pattern Tasmota devices use.
	// Empty: DefaultTasmotaFullTopic.
	TasmotaFullTopic string
	// Z2MBase is Zigbee2MQTT's base topic. Empty: DefaultZ2MBase.
	Z2MBase string
	// Devices are the hub's devices; those whose Driver is not "mqtt" are
	// ignored.
	Devices []hub.Device
	// Apply receives every report (normally (*hub.Hub).Apply). Required.
	Apply func(hub.Report) error
	// Logger; nil discards.
	Logger *slog.Logger
	// Events, optional, records events for people (e.g.
	// (*hub.Hub).LogEvent): connection lost, connected.
	Events func(hub.Event)
	// MaxPayload caps an incoming message. Zero: DefaultMaxPayload.
	MaxPayload int
	// QueueLen bounds each device's queue of unprocessed messages. Zero:
	// DefaultQueueLen.
	QueueLen int
	// BrokerQueueLen bounds how many messages the embedded broker holds
	// for one client that reads slower than they come; beyond it the
	// broker drops them (Stats.BrokerDropped). Devices are sent a few at
	// a time; a tool subscribed to "#" gets every device's reports. The
	// hub's own subscriptions do not queue. Zero: DefaultBrokerQueueLen.
	BrokerQueueLen int
	// Workers decode and apply queued messages. Zero: DefaultWorkers.
	Workers int
	// ReconnectMax caps the reconnect backoff (which starts at 1 s).
	// Zero: DefaultReconnectMax.
	ReconnectMax time.Duration
	// RefreshInterval is how often every device is asked for its current
	// state (the query sent after connecting), so that devices whose own
	// reports are rarer than the hub's StaleAfter do not turn stale. The
	// queries are spread evenly over the interval, a device heard from in
	// the last half interval is skipped, and nothing is sent while the
	// broker connection is down. Zero: DefaultRefreshInterval; negative:
	// no refresh.
	RefreshInterval time.Duration
}

// Message kinds a route carries to a decoder.
const (
	kindZ2MState  = "state"
	kindZ2MAvail  = "availability"
	kindS2Status  = "status"
	kindS2Event   = "events"
	kindS2Online  = "online"
	kindS2Reply   = "reply"
	kindZ2MBridge = "bridge"
)

type device struct {
	id      string
	key     uint64 // unique for the driver's life; a Shelly Gen2 RPC call remembers it
	dialect string
	name    string // the device's topic (Address.Topic), shared by its outputs
	base    string // tasmota: cmnd base; shelly: shellies/<id>/; z2m: <base>/<name>; shelly2: prefix
	ch      int    // tasmota: POWER<ch>, 0 for POWER; shelly: relay/<ch>
	comp    string // shelly2: the component, "switch:0", "cct:0", ...

	fields atomic.Uint32 // hub.FieldSet; SetDevices may change it
	gone   atomic.Bool   // removed by SetDevices: its messages are dropped
	// scheduled: queued for a worker; guarded by mu (it sits here, and
	// online before heard, in what was padding: see
	// TestDevice_FitsItsSizeClass).
	scheduled bool

	// busy is held while a report of the device is applied, so that
	// SetDevices can wait out the last one of a removed device.
	busy sync.Mutex

	// online is the device's own last word on its availability.
	online atomic.Bool
	// heard is when a report of the device (other than "offline") was
	// last applied, in Unix nanoseconds; the refresh skips devices heard
	// from lately.
	heard atomic.Int64

	// info is what the device is, as configured and then as it said;
	// infoSent is what the hub was told last. A difference rides along
	// with the device's next report (see takeInfo). Handles: 8 bytes
	// each instead of 64, the strings held once for every device of a
	// model and firmware, and not in the payload they were decoded from.
	// The zero handle is the empty Info (see infoOf).
	infoMu         sync.Mutex
	info, infoSent unique.Handle[hub.Info]

	mu sync.Mutex
	// q is the ring of queued messages. It grows up to qmax as messages
	// pile up: most devices never have more than one waiting, and a ring
	// of the full length for each of thousands of devices adds up.
	q       []item
	qmax    int
	head, n int
}

// Fields is what the device supports, as last configured.
func (dv *device) Fields() hub.FieldSet { return hub.FieldSet(dv.fields.Load()) }

type item struct {
	kind     string
	payload  []byte
	retained bool
}

type route struct {
	d    *device
	kind string // "" for a Tasmota base route: the kind is the last level
	// also are the other outputs of d's device (Tasmota relays, Shelly
	// relays and components), which hear the same topic; each decodes its
	// own part. Nil for most: a pointer keeps a route at 32 bytes, and
	// the route maps' slots at 48 (some 13,000 of them with 10,000
	// devices).
	also *[]*device
}

// others is r.also's devices, or none.
func (r route) others() []*device {
	if r.also == nil {
		return nil
	}
	return *r.also
}

// sibling reports whether a and b are outputs of one device: they share
// its topics.
func sibling(a, b *device) bool {
	return a.id != "" && b.id != "" && a.dialect == b.dialect && a.dialect != DialectZ2M && a.name == b.name
}

// Driver is the MQTT driver: one broker connection shared by all dialects.
type Driver struct {
	opts  Options
	log   *slog.Logger
	ft    FullTopic
	avail string // the hub's own availability topic
	src   string // Shelly Gen2 RPC sources start so (see replySrc)

	// tab is the device set and its routes. The message handler reads it
	// without a lock; SetDevices swaps in a new one under subMu, which
	// also keeps onConnect's subscriptions in step with it.
	tab     atomic.Pointer[table]
	subMu   sync.Mutex
	lastKey atomic.Uint64
	rpcDev  *device // pseudo device whose queue holds the Gen2 RPC replies no device in the table takes
	// bridgeDev's queue holds Zigbee2MQTT's bridge/devices lists; the last
	// one decoded is kept for devices added later.
	bridgeDev  *device
	bridgeInfo atomic.Pointer[map[string]unique.Handle[hub.Info]] // by friendly name; handles, as a device's info (3,333 Infos were 0.4 MB)

	// calls remembers the last Gen2 RPC calls (see rpcID); rpcSeq is the
	// last id given.
	pendMu sync.Mutex
	calls  []rpcCall
	rpcSeq uint32

	// Devices with queued messages wait in rq for a worker; wake tells
	// the workers that rq is not empty.
	rqMu sync.Mutex
	rq   []*device
	wake chan struct{}

	topics topics
	names  atomic.Pointer[map[string]string] // Options.DeviceAccounts, as last set
	acl    *access

	client     conn
	broker     *embedded
	brokerURL  string
	brokerAddr string

	msgsIn, msgsOut, bad, dropped, attempts, refreshes atomic.Uint64
	connects                                           atomic.Uint64

	mu        sync.Mutex
	connected bool
	since     time.Time
	lastErr   string
	lim       limiter

	runOnce sync.Once
}

var _ hub.Driver = (*Driver)(nil)

// New checks opts and builds a driver. Nothing is started until Run; the
// embedded broker's listener is bound here so BrokerAddr is known at once.
func New(opts Options) (*Driver, error) {
	if opts.Apply == nil {
		return nil, fmt.Errorf("%w: Apply is required", ErrBadOptions)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.BrokerQueueLen <= 0 {
		opts.BrokerQueueLen = DefaultBrokerQueueLen
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = DefaultReconnectMax
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.Z2MBase == "" {
		opts.Z2MBase = DefaultZ2MBase
	}
	opts.Z2MBase = strings.TrimSuffix(opts.Z2MBase, "/")
	if opts.ClientID == "" {
		opts.ClientID = defaultClientID()
	}
	if strings.ContainsAny(opts.ClientID, "/+#") {
		return nil, fmt.Errorf("%w: client id %q may not contain / + #", ErrBadOptions, opts.ClientID)
	}
	tp, err := topicsOf(opts)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		opts:   opts,
		log:    opts.Logger.With("driver", DriverName),
		ft:     tp.ft,
		avail:  tp.avail,
		src:    "hubd/" + opts.ClientID,
		wake:   make(chan struct{}, 1),
		topics: tp,
		acl:    newAccess(opts.Users),
	}
	d.acl.com = newCommissioning(tp, opts.CommissioningClients)
	d.acl.discID = tp.disc
	names := maps.Clone(opts.DeviceAccounts)
	d.names.Store(&names)
	d.rpcDev = &device{qmax: 4 * opts.QueueLen, dialect: DialectShelly2}
	// Only the latest list matters: a short queue.
	d.bridgeDev = &device{qmax: 2, dialect: DialectZ2M}
	p, err := d.build(opts.Devices, &table{})
	if err != nil {
		return nil, err
	}
	d.install(p)
	// The table holds what the driver needs of them: the caller's lists
	// (10,000 devices are some 3 MB) are not kept.
	d.opts.Devices, d.opts.DeviceAccounts = nil, nil

	if opts.Broker == "" {
		if opts.Listen == "" && opts.TLSListen == "" {
			opts.Listen = DefaultListen
			d.opts.Listen = DefaultListen
		}
		b, err := startEmbedded(d.opts, d.acl, d.log)
		if err != nil {
			return nil, err
		}
		d.broker = b
		d.brokerAddr, d.brokerURL = b.addr, "tcp://"+b.addr
		if b.addr == "" {
			d.brokerAddr, d.brokerURL = b.tlsAddr, "ssl://"+b.tlsAddr
		}
	} else {
		u, err := url.Parse(opts.Broker)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Host == "" {
			return nil, fmt.Errorf("%w: broker %q: want tcp://host:port or ssl://host:port", ErrBadOptions, opts.Broker)
		}
		d.brokerURL = opts.Broker
		d.brokerAddr = u.Host
	}
	if d.broker != nil {
		// The hub calls into its own broker: no loopback connection.
		d.client = newInlineConn(d.broker.srv, d.onConnect, d.receive, true)
		return d, nil
	}
	co, err := d.clientOptions()
	if err != nil {
		return nil, err
	}
	d.client = paho.NewClient(co)
	return d, nil
}

// BrokerAddr is the embedded broker's bound address (or the external
// broker's host:port).
func (d *Driver) BrokerAddr() string { return d.brokerAddr }

// BrokerURL is the URL the hub connects to; devices and emulators can use
// it too.
func (d *Driver) BrokerURL() string { return d.brokerURL }

// AvailabilityTopic is where the hub publishes its own online/offline.
func (d *Driver) AvailabilityTopic() string { return d.avail }

// Run connects and serves until ctx ends, then publishes the hub's
// "offline", disconnects and stops the embedded broker. Reconnects are
// automatic. Run may be called once.
func (d *Driver) Run(ctx context.Context) error {
	started := false
	d.runOnce.Do(func() { started = true })
	if !started {
		return fmt.Errorf("%w: Run called twice", ErrBadOptions)
	}
	if d.broker != nil {
		if err := d.broker.serve(); err != nil {
			return err
		}
		defer d.broker.close()
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range d.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(stop)
		}()
	}
	if d.opts.RefreshInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.refresh(stop)
		}()
	}
	// With ConnectRetry the token completes only once connected (or on
	// Disconnect), so it is not waited for: Run must answer ctx at once.
	d.client.Connect()
	<-ctx.Done()

	if d.client.IsConnectionOpen() {
		t := d.client.Publish(d.avail, 1, true, "offline")
		t.WaitTimeout(time.Second)
	}
	d.client.Disconnect(250)
	close(stop)
	wg.Wait()
	d.setConnected(false, "")
	return nil
}
