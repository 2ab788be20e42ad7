package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// rpcTimeout bounds the wait for a Shelly Gen2 RPC reply when the caller's
// context has no earlier deadline.
const rpcTimeout = 5 * time.Second

// bridgeFresh is how lately a Zigbee2MQTT device must have been heard from
// for what the bridge's list says of it to be reported at once; others
// learn it with their next report.
const bridgeFresh = 30 * time.Second

// minRefreshStep is the shortest pause between refresh queries; with more
// devices than fit at that pace, several are asked per step.
const minRefreshStep = 20 * time.Millisecond

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
	key     uint64 // unique for the driver's life; Shelly Gen2 RPC ids carry it
	dialect string
	name    string
	base    string // tasmota: cmnd base; shelly: shellies/<id>/; z2m: <base>/<name>; shelly2: prefix

	fields atomic.Uint32 // hub.FieldSet; SetDevices may change it
	gone   atomic.Bool   // removed by SetDevices: its messages are dropped

	// busy is held while a report of the device is applied, so that
	// SetDevices can wait out the last one of a removed device.
	busy sync.Mutex

	// heard is when a report of the device (other than "offline") was
	// last applied, in Unix nanoseconds; the refresh skips devices heard
	// from lately.
	heard atomic.Int64
	// online is the device's own last word on its availability.
	online atomic.Bool

	// info is what the device is, as configured and then as it said;
	// infoSent is what the hub was told last. A difference rides along
	// with the device's next report (see takeInfo).
	infoMu         sync.Mutex
	info, infoSent hub.Info

	mu sync.Mutex
	// q is the ring of queued messages. It grows up to qmax as messages
	// pile up: most devices never have more than one waiting, and a ring
	// of the full length for each of thousands of devices adds up.
	q         []item
	qmax      int
	head, n   int
	scheduled bool
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
	rpcDev  *device // pseudo device whose queue holds Gen2 RPC replies
	// bridgeDev's queue holds Zigbee2MQTT's bridge/devices lists; the last
	// one decoded is kept for devices added later.
	bridgeDev  *device
	bridgeInfo atomic.Pointer[map[string]hub.Info]

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
		d.client = newInlineConn(d.broker.srv, d.onConnect, d.receive)
		return d, nil
	}
	co, err := d.clientOptions()
	if err != nil {
		return nil, err
	}
	d.client = paho.NewClient(co)
	return d, nil
}

// replySrc is the RPC source the hub gives a Shelly Gen2 device: it
// answers on replySrc/rpc, a topic of its own that only its account may
// write (see Accounts), so a reply is known to come from it.
func (d *Driver) replySrc(dv *device) string { return d.src + "/" + dv.name }

// replyFrom is the device prefix of a Shelly Gen2 reply topic.
func (d *Driver) replyFrom(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, d.src+"/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/rpc")
	return name, ok && name != "" && !strings.Contains(name, "/")
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

func (d *Driver) clientOptions() (*paho.ClientOptions, error) {
	co := paho.NewClientOptions().
		AddBroker(d.brokerURL).
		SetClientID(d.opts.ClientID).
		SetUsername(d.opts.Username).
		SetPassword(d.opts.Password).
		SetCleanSession(true). // in-flight commands are dropped on reconnect, never replayed
		SetResumeSubs(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(d.opts.ReconnectMax).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(5*time.Second).
		SetOrderMatters(true). // handlers run in order; ours never block
		SetWill(d.avail, "offline", 1, true).
		SetDefaultPublishHandler(d.onMessage).
		SetOnConnectHandler(func(c paho.Client) { d.onConnect(c) }).
		SetConnectionLostHandler(d.onLost).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { d.attempts.Add(1) })
	u, _ := url.Parse(d.brokerURL)
	if u != nil && (u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if d.opts.CAFile != "" {
			pem, err := os.ReadFile(d.opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: read CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: CA file %s holds no PEM certificates", ErrBadOptions, d.opts.CAFile)
			}
			tc.RootCAs = pool
		}
		co.SetTLSConfig(tc)
	}
	return co, nil
}

// onConnect runs in its own goroutine after every (re)connect: subscribe,
// say the hub is online, ask every device for its state.
func (d *Driver) onConnect(c conn) {
	n := d.connects.Add(1)
	d.subMu.Lock()
	defer d.subMu.Unlock()
	t := d.tab.Load()
	if err := d.subscribe(c, t.subs); err != nil {
		// Usually the connection dropped again (the next connect retries);
		// otherwise the broker refused: say so loudly.
		d.fail("subscribe: " + err.Error())
		d.event("error", "subscribe_failed", err, "MQTT subscribe failed")
		return
	}
	c.Publish(d.avail, 1, true, "online")
	d.msgsOut.Add(1)
	d.setConnected(true, "")
	d.log.Info("connected", "broker", d.brokerURL, "connects", n)
	d.event("info", "broker_connected", nil, fmt.Sprintf("connected to MQTT broker %s", d.brokerAddr))
	for _, dv := range t.devs {
		d.ask(c, dv, true)
	}
}

// ask publishes dv's state query and, with identify, the query for what
// the device is.
func (d *Driver) ask(c conn, dv *device, identify bool) {
	msgs := d.query(dv)
	if identify {
		msgs = append(msgs, d.identify(dv)...)
	}
	for _, m := range msgs {
		c.Publish(m.Topic, 1, false, m.Payload)
		d.msgsOut.Add(1)
	}
}

// refresh asks every device for its state once per RefreshInterval,
// spread evenly over it, while the connection is up. The device set is
// read afresh at every step, so SetDevices takes effect within a step.
func (d *Driver) refresh(stop <-chan struct{}) {
	every := d.opts.RefreshInterval
	timer := time.NewTimer(every)
	defer timer.Stop()
	next := 0 // index into the device list of the next device to ask
	for {
		step, batch := refreshStep(every, len(d.tab.Load().devs))
		timer.Reset(step)
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		c := d.client
		if !c.IsConnectionOpen() {
			continue
		}
		devs := d.tab.Load().devs
		recent := time.Now().Add(-every / 2).UnixNano()
		for range min(batch, len(devs)) {
			if next >= len(devs) {
				next = 0
			}
			dv := devs[next]
			next++
			if dv.heard.Load() > recent {
				continue // it spoke lately: no need to ask
			}
			d.ask(c, dv, false)
			d.refreshes.Add(1)
		}
	}
}

// refreshStep is the pause between refresh steps and how many devices
// each step asks, so that n devices are asked once per interval.
func refreshStep(every time.Duration, n int) (time.Duration, int) {
	if n <= 0 {
		return every, 0
	}
	step := every / time.Duration(n)
	if step >= minRefreshStep {
		return step, 1
	}
	batch := int((time.Duration(n)*minRefreshStep + every - 1) / every)
	return every * time.Duration(batch) / time.Duration(n), batch
}

// subscribe makes the subscriptions in chunks (a broker may cap a packet).
func (d *Driver) subscribe(c conn, subs map[string]byte) error {
	const chunk = 200
	batch := map[string]byte{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t := c.SubscribeMultiple(batch, nil)
		if !t.WaitTimeout(10 * time.Second) {
			return errors.New("timed out")
		}
		batch = map[string]byte{}
		return t.Error()
	}
	for topic, qos := range subs {
		batch[topic] = qos
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (d *Driver) onLost(_ paho.Client, err error) {
	d.setConnected(false, err.Error())
	d.log.Warn("broker connection lost", "broker", d.brokerURL, "err", err)
	d.event("warn", "broker_lost", err, "MQTT broker connection lost")
	// Nothing can reach the devices now: say so, rather than serve their
	// last state as current. They come back as soon as they answer the
	// query made after the reconnect.
	cause := &hub.Cause{Code: hub.CauseBrokerDown, Params: map[string]string{"broker": d.brokerAddr}, Raw: err.Error()}
	go func() {
		for _, dv := range d.tab.Load().devs {
			d.report(dv, hub.Report{Device: dv.id, Avail: hub.AvailOffline, Cause: cause})
		}
	}()
}

// event tells a technician about the broker connection: code words it on
// the status page, text is the English for logs, err (maybe nil) the raw
// detail.
func (d *Driver) event(level, code string, err error, text string) {
	if d.opts.Events == nil {
		return
	}
	ev := hub.Event{Level: level, Source: DriverName, Code: code, Params: map[string]string{"broker": d.brokerAddr}, Text: text}
	if err != nil {
		ev.Raw = err.Error()
		ev.Text += ": " + ev.Raw
	}
	d.opts.Events(ev)
}

func (d *Driver) setConnected(up bool, errText string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up && !d.connected {
		d.since = time.Now()
	}
	d.connected = up
	if errText != "" {
		d.lastErr = errText
	}
}

func (d *Driver) fail(text string) {
	d.mu.Lock()
	d.lastErr = text
	d.mu.Unlock()
	d.log.Warn(text)
}

// onMessage is paho's handler for every message.
func (d *Driver) onMessage(_ paho.Client, m paho.Message) {
	d.receive(m.Topic(), m.Payload(), m.Retained())
}

// receive takes every message the broker delivers (from paho's handler,
// or on the embedded broker's goroutine that read it). It must never
// block: it routes by topic and queues. retained is true for a retained
// message the broker replayed on subscribing.
func (d *Driver) receive(topic string, p []byte, retained bool) {
	d.msgsIn.Add(1)
	t := d.tab.Load()
	r, ok := t.exact[topic]
	kind := r.kind
	if from, reply := d.replyFrom(topic); reply && !ok {
		r, kind, ok = route{d: d.rpcDev}, from, true
	}
	if !ok {
		i := strings.LastIndexByte(topic, '/')
		if i < 0 {
			return
		}
		if r, ok = t.bases[topic[:i+1]]; !ok {
			return // not ours (a wildcard someone else's, or a stale route)
		}
		kind = topic[i+1:]
	}
	limit := d.opts.MaxPayload
	if r.d == d.bridgeDev {
		limit = max(limit, maxBridgePayload)
	}
	if len(p) > limit {
		d.badMessage(r.d, topic, fmt.Errorf("%w: %d bytes (limit %d)", ErrOversize, len(p), limit))
		return
	}
	d.enqueue(r.d, item{kind: kind, payload: p, retained: retained})
}

// enqueue adds it to dv's ring, dropping the oldest message when full, and
// schedules dv for a worker. A removed device takes nothing.
func (d *Driver) enqueue(dv *device, it item) {
	dv.mu.Lock()
	if dv.gone.Load() {
		dv.mu.Unlock()
		return
	}
	if dv.n == len(dv.q) && len(dv.q) < dv.qmax {
		dv.grow()
	}
	if dv.n == len(dv.q) {
		dv.q[dv.head] = item{}
		dv.head = (dv.head + 1) % len(dv.q)
		dv.n--
		d.dropped.Add(1)
	}
	dv.q[(dv.head+dv.n)%len(dv.q)] = it
	dv.n++
	sched := !dv.scheduled
	dv.scheduled = true
	dv.mu.Unlock()
	if sched {
		d.schedule(dv)
	}
}

// grow doubles dv's full ring, up to qmax. dv.mu is held.
func (dv *device) grow() {
	q := make([]item, min(max(2*len(dv.q), 1), dv.qmax))
	for i := range dv.n {
		q[i] = dv.q[(dv.head+i)%len(dv.q)]
	}
	dv.q, dv.head = q, 0
}

// schedule queues dv for a worker; a device is queued at most once.
func (d *Driver) schedule(dv *device) {
	d.rqMu.Lock()
	d.rq = append(d.rq, dv)
	d.rqMu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// next takes the first scheduled device, or nil.
func (d *Driver) next() *device {
	d.rqMu.Lock()
	defer d.rqMu.Unlock()
	if len(d.rq) == 0 {
		return nil
	}
	dv := d.rq[0]
	d.rq[0] = nil
	d.rq = d.rq[1:]
	if len(d.rq) > 0 {
		select {
		case d.wake <- struct{}{}: // another worker may help
		default:
		}
	}
	return dv
}

func (d *Driver) work(stop <-chan struct{}) {
	for {
		if dv := d.next(); dv != nil {
			d.drain(dv)
			continue
		}
		select {
		case <-stop:
			return
		case <-d.wake:
		}
	}
}

// drain handles dv's queued messages in order. Only one worker drains a
// device at a time (scheduled stays true until the queue is empty).
func (d *Driver) drain(dv *device) {
	for {
		dv.mu.Lock()
		if dv.n == 0 || dv.gone.Load() {
			dv.scheduled = false
			dv.mu.Unlock()
			return
		}
		it := dv.q[dv.head]
		dv.q[dv.head] = item{}
		dv.head = (dv.head + 1) % len(dv.q)
		dv.n--
		dv.mu.Unlock()
		d.handle(dv, it)
	}
}

func (d *Driver) handle(dv *device, it item) {
	switch dv {
	case d.rpcDev:
		d.handleReply(it.kind, it.payload)
		return
	case d.bridgeDev:
		d.handleBridge(it.payload)
		return
	}
	u, err := decode(dv.dialect, it.kind, it.payload)
	if errors.Is(err, ErrIgnored) {
		return
	}
	if err != nil {
		d.badMessage(dv, it.kind, err)
		return
	}
	d.apply(dv, u, !it.retained)
}

// apply reports u; live is false for a retained message the broker kept.
func (d *Driver) apply(dv *device, u update, live bool) {
	r := hub.Report{Device: dv.id, State: u.State, Avail: u.Avail, Info: dv.takeInfo(u.Info), Link: u.Link}
	if u.Avail == hub.AvailOffline {
		// Only the device's will (or Zigbee2MQTT on its behalf) says so.
		r.Cause = &hub.Cause{Code: hub.CauseWill}
	}
	if err := d.report(dv, r); err != nil {
		d.badMessage(dv, "report", err)
		return
	}
	switch u.Avail {
	case hub.AvailOffline:
		dv.online.Store(false)
		return
	case hub.AvailOnline:
		if !dv.online.Swap(true) && live {
			d.cameOnline(dv)
		}
	}
	dv.heard.Store(time.Now().UnixNano())
}

// cameOnline asks a device that just said it is online, live (it connected
// after the hub did, or came back), for its state and what it is: the
// queries sent on connect did not reach it. A retained "online", delivered
// with the subscription, is older than those queries.
func (d *Driver) cameOnline(dv *device) {
	if c := d.client; c != nil && c.IsConnectionOpen() {
		d.ask(c, dv, true)
	}
}

// takeInfo merges what a message said about the device (in, maybe nil)
// into its info, and returns the info for a report if the hub has not
// seen it yet. Info learned elsewhere (Zigbee2MQTT's bridge list) thus
// reaches the hub with the device's own next report: a report with Info
// says the device is alive, which only the device itself can say.
func (dv *device) takeInfo(in *hub.Info) *hub.Info {
	dv.infoMu.Lock()
	defer dv.infoMu.Unlock()
	if in != nil {
		mergeInfo(&dv.info, *in)
	}
	if dv.info == dv.infoSent {
		return nil
	}
	dv.infoSent = dv.info
	out := dv.info
	return &out
}

// learnInfo merges in into the device's info without reporting it.
func (dv *device) learnInfo(in hub.Info) {
	dv.infoMu.Lock()
	mergeInfo(&dv.info, in)
	dv.infoMu.Unlock()
}

// handleBridge takes Zigbee2MQTT's list of devices: each of ours in it
// learns what it is.
func (d *Driver) handleBridge(p []byte) {
	infos, skipped, err := decodeZ2MBridgeDevices(p)
	if err != nil {
		d.badMessage(nil, "z2m "+z2mBridgeDevices, err)
		return
	}
	if skipped > 0 {
		d.lim.log(d.log, "z2m bridge/devices: malformed entries skipped", "skipped", skipped)
	}
	d.bridgeInfo.Store(&infos)
	fresh := time.Now().Add(-bridgeFresh).UnixNano()
	for _, dv := range d.tab.Load().devs {
		if dv.dialect != DialectZ2M {
			continue
		}
		in, ok := infos[dv.name]
		if !ok {
			continue
		}
		dv.learnInfo(in)
		// A device heard from a moment ago is alive: tell the hub now
		// rather than at its next report.
		if dv.heard.Load() > fresh {
			if in := dv.takeInfo(nil); in != nil {
				if err := d.report(dv, hub.Report{Device: dv.id, Info: in}); err != nil {
					d.badMessage(dv, "report", err)
				}
			}
		}
	}
}

// report passes r to the hub unless dv was removed.
func (d *Driver) report(dv *device, r hub.Report) error {
	dv.busy.Lock()
	defer dv.busy.Unlock()
	if dv.gone.Load() {
		return nil
	}
	return d.opts.Apply(r)
}

// decode picks the dialect's decoder for a message kind.
func decode(dialect, kind string, p []byte) (update, error) {
	switch dialect {
	case DialectTasmota:
		return decodeTasmota(kind, p)
	case DialectZ2M:
		if kind == kindZ2MAvail {
			return decodeZ2MAvailability(p)
		}
		return decodeZ2MState(p)
	case DialectShelly1:
		return decodeShelly1(kind, p)
	case DialectShelly2:
		switch kind {
		case kindS2Status:
			return decodeShelly2Status(p)
		case kindS2Event:
			return decodeShelly2Event(p)
		case kindS2Online:
			return decodeShelly1(shellyOnline, p)
		}
	}
	return update{}, ErrIgnored
}

// Gen2 RPC ids count up from 1 and wrap below rpcIDLimit: far below 2^31
// and the 1e9 the decoders allow a number, whatever the number of devices
// (ids that carried the device in their high bits outgrew both past
// about 950 devices). The last rpcWindow calls are remembered in a ring
// indexed by id, each with the key of its device and, while Execute waits
// for it, a channel: a reply finds its device there, and a reply whose id
// is not among them matches no request the driver remembers.
const (
	rpcWindow   = 1 << 12 // a burst of calls (two per Gen2 device on connect) fits
	rpcIDLimit  = 1 << 29 // a multiple of rpcWindow: an id keeps its slot
	rpcFirstSeq = 1       // id 0 is never sent, so an empty slot matches nothing
)

// rpcCall is a remembered Gen2 RPC call.
type rpcCall struct {
	id  uint32
	key uint32 // the device's key (keys count devices ever added)
	// name is the device's prefix: its reply must come on its own reply
	// topic (see replySrc).
	name string
	ch   chan shelly2Reply
}

// rpcID returns a new call id for the device with key and remembers it.
func (d *Driver) rpcID(key uint64) uint64 {
	d.pendMu.Lock()
	defer d.pendMu.Unlock()
	if d.calls == nil {
		d.calls = make([]rpcCall, rpcWindow)
	}
	d.rpcSeq++
	if d.rpcSeq < rpcFirstSeq || d.rpcSeq >= rpcIDLimit {
		d.rpcSeq = rpcFirstSeq
	}
	id := d.rpcSeq
	name := ""
	if dv := d.tab.Load().byKey[key]; dv != nil {
		name = dv.name
	}
	d.calls[id%rpcWindow] = rpcCall{id: id, key: uint32(key), name: name}
	return uint64(id)
}

// takeReply looks up the call r answers: the key of its device, whether
// it is known, and whether Execute was waiting for it (it is handed r).
func (d *Driver) takeReply(r shelly2Reply, from string) (key uint64, known, awaited bool) {
	d.pendMu.Lock()
	if r.ID == 0 || r.ID >= rpcIDLimit || d.calls == nil {
		d.pendMu.Unlock()
		return 0, false, false
	}
	c := &d.calls[r.ID%rpcWindow]
	// A reply to another device's call is not taken: it would end that
	// call's wait with what its sender says.
	if uint64(c.id) != r.ID || c.name != from {
		d.pendMu.Unlock()
		return 0, false, false
	}
	ch := c.ch
	c.ch = nil
	key = uint64(c.key)
	d.pendMu.Unlock()
	if ch != nil {
		ch <- r // buffered, and taken out of the call: never blocks
	}
	return key, true, ch != nil
}

func (d *Driver) handleReply(from string, p []byte) {
	r, err := decodeShelly2Reply(p)
	if err != nil {
		d.badMessage(nil, "rpc reply", err)
		return
	}
	key, known, awaited := d.takeReply(r, from)
	if !known {
		d.badMessage(nil, "rpc reply", fmt.Errorf("%w: reply id %d from %.40q matches no request to it", ErrBadPayload, r.ID, from))
		return
	}
	dv := d.tab.Load().byKey[key]
	if dv == nil {
		return // a late reply for a removed device
	}
	if r.Error != "" {
		if !awaited { // else Execute says so
			d.lim.log(d.log, "shelly rpc error", "device", dv.id, "error", r.Error, "code", r.Code)
		}
		return
	}
	u, err := decodeShelly2Result(r.Result)
	if errors.Is(err, ErrIgnored) {
		return
	}
	if err != nil {
		d.badMessage(dv, "rpc reply", err)
		return
	}
	d.apply(dv, u, true)
}

func (d *Driver) badMessage(dv *device, where string, err error) {
	d.bad.Add(1)
	id := ""
	if dv != nil {
		id = dv.id
	}
	d.mu.Lock()
	d.lastErr = fmt.Sprintf("%s %s: %v", id, where, err)
	d.mu.Unlock()
	d.lim.log(d.log, "bad message", "device", id, "where", where, "err", err)
}

// await makes Execute the receiver of the replies to calls ids; done
// stops waiting for those not answered yet (a late reply is still
// applied). A call forgotten already (more than rpcWindow calls ago) gets
// a channel that never receives: Execute times out.
func (d *Driver) await(ids []uint64) (chans []chan shelly2Reply, done func()) {
	d.pendMu.Lock()
	for _, id := range ids {
		ch := make(chan shelly2Reply, 1)
		if c := &d.calls[id%rpcWindow]; uint64(c.id) == id {
			c.ch = ch
		}
		chans = append(chans, ch)
	}
	d.pendMu.Unlock()
	return chans, func() {
		d.pendMu.Lock()
		for i, id := range ids {
			if c := &d.calls[id%rpcWindow]; uint64(c.id) == id && c.ch == chans[i] {
				c.ch = nil
			}
		}
		d.pendMu.Unlock()
	}
}

// identify returns the messages that make dv say what it is. Zigbee2MQTT
// devices need none: the bridge's retained list says it.
func (d *Driver) identify(dv *device) []message {
	switch dv.dialect {
	case DialectTasmota:
		return tasmotaIdentify(dv.base)
	case DialectShelly1:
		return shelly1Identify(dv.base)
	case DialectShelly2:
		return []message{{dv.base + "/rpc", shelly2RPC(d.rpcID(dv.key), d.replySrc(dv), "Shelly.GetDeviceInfo", nil)}}
	}
	return nil
}

// query returns the messages that make dv report its current state.
func (d *Driver) query(dv *device) []message {
	switch dv.dialect {
	case DialectTasmota:
		return tasmotaQuery(dv.base, dv.Fields())
	case DialectZ2M:
		return []message{{dv.base + "/get", z2mGet(dv.Fields())}}
	case DialectShelly1:
		return shelly1Query(dv.base)
	case DialectShelly2:
		return []message{{dv.base + "/rpc", shelly2RPC(d.rpcID(dv.key), d.replySrc(dv), "Switch.GetStatus", map[string]any{"id": 0})}}
	}
	return nil
}

// commands encodes cmd for dv.
func (d *Driver) commands(dv *device, cmd hub.Command) []message {
	switch dv.dialect {
	case DialectTasmota:
		return tasmotaCommands(dv.base, cmd)
	case DialectZ2M:
		return []message{{dv.base + "/set", z2mSet(cmd)}}
	case DialectShelly1:
		return shelly1Commands(dv.base, dv.Fields(), cmd)
	}
	return nil // Shelly Gen2: Execute sends shelly2Calls, whose replies it awaits
}

// shelly2Calls encodes cmd for a Gen2 device as RPC calls, with their ids.
func (d *Driver) shelly2Calls(dv *device, cmd hub.Command) ([]message, []uint64) {
	var out []message
	var ids []uint64
	call := func(method string, params map[string]any) {
		id := d.rpcID(dv.key)
		out = append(out, message{dv.base + "/rpc", shelly2RPC(id, d.replySrc(dv), method, params)})
		ids = append(ids, id)
	}
	if cmd.Identify {
		for range 2 {
			call("Switch.Toggle", map[string]any{"id": 0})
		}
	}
	if cmd.Set.Set.Has(hub.FieldOn) {
		call("Switch.Set", map[string]any{"id": 0, "on": cmd.Set.On})
	}
	return out, ids
}

// Execute publishes cmd to the device (QoS 1, never retained) and returns
// once the broker took it. The hub waits for the state echo. While the
// broker connection is down the command fails with ErrNotConnected
// (wrapping hub.ErrUnreachable) and is not kept for later.
//
// A Shelly Gen2 device answers every call, but announces a change only:
// switching on a plug that is on brings no NotifyStatus. So Execute waits
// for the RPC replies (until ctx ends, at most rpcTimeout); an error reply
// fails the command with ErrRejected and the hub error that fits its code
// (see rpcFailure). After a successful Switch.Set it asks for the switch's
// status, whose reply is the state echo the hub waits for.
func (d *Driver) Execute(ctx context.Context, dev hub.Device, cmd hub.Command) error {
	dv, ok := d.tab.Load().byID[dev.ID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownDevice, dev.ID)
	}
	if unsupported := cmd.Set.Set.Minus(supported(dv.dialect, dv.Fields())); !unsupported.Empty() {
		return fmt.Errorf("%w: %s (%s) cannot set %s", hub.ErrNotSupported, dev.ID, dv.dialect, unsupported)
	}
	var msgs []message
	var ids []uint64
	if dv.dialect == DialectShelly2 {
		msgs, ids = d.shelly2Calls(dv, cmd)
	} else {
		msgs = d.commands(dv, cmd)
	}
	if len(msgs) == 0 {
		return nil
	}
	c := d.client
	if c == nil || !c.IsConnectionOpen() {
		return fmt.Errorf("%w: %w", ErrNotConnected, hub.ErrUnreachable)
	}
	var replies []chan shelly2Reply
	if len(ids) > 0 {
		var done func()
		replies, done = d.await(ids)
		defer done()
	}
	var toks []paho.Token
	for _, m := range msgs {
		toks = append(toks, c.Publish(m.Topic, 1, false, m.Payload))
		d.msgsOut.Add(1)
	}
	for _, t := range toks {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				return fmt.Errorf("mqtt: publish to %s: %w: %w", dev.ID, err, hub.ErrUnreachable)
			}
		case <-ctx.Done():
			return fmt.Errorf("mqtt: publish to %s: %w", dev.ID, ctx.Err())
		}
	}
	if len(replies) == 0 {
		return nil
	}
	if err := d.awaitReplies(ctx, dev.ID, replies); err != nil {
		return err
	}
	if cmd.Set.Set.Has(hub.FieldOn) {
		get := shelly2RPC(d.rpcID(dv.key), d.replySrc(dv), "Switch.GetStatus", map[string]any{"id": 0})
		c.Publish(dv.base+"/rpc", 1, false, get)
		d.msgsOut.Add(1)
	}
	return nil
}

// awaitReplies waits for every reply; the first error reply fails.
func (d *Driver) awaitReplies(ctx context.Context, id string, replies []chan shelly2Reply) error {
	timer := time.NewTimer(rpcTimeout)
	defer timer.Stop()
	for _, ch := range replies {
		select {
		case r := <-ch:
			if r.Error != "" {
				// A refusal, so the hub shows the device's own words.
				return fmt.Errorf("%w: %s: %w", ErrRejected, id, &hub.Refusal{Reason: fmt.Sprintf("%s (code %d)", r.Error, r.Code), Err: rpcFailure(r.Code)})
			}
		case <-ctx.Done():
			return fmt.Errorf("mqtt: %s: no RPC reply: %w", id, ctx.Err())
		case <-timer.C:
			return fmt.Errorf("mqtt: %s: no RPC reply within %v: %w", id, rpcTimeout, hub.ErrUnreachable)
		}
	}
	return nil
}

// supported is what a dialect can set; measurements are never settable.
func supported(dialect string, fields hub.FieldSet) hub.FieldSet {
	switch dialect {
	case DialectShelly2:
		return hub.Fields(hub.FieldOn)
	case DialectShelly1:
		return fields.Intersect(hub.Fields(hub.FieldOn, hub.FieldBrightness))
	}
	return fields.Intersect(hub.LightFields)
}

// Status describes the broker connection.
func (d *Driver) Status() []hub.BrokerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r uint64
	if n := d.connects.Load(); n > 1 {
		r = n - 1
	}
	return []hub.BrokerStatus{{
		Broker:     d.brokerURL,
		Embedded:   d.broker != nil,
		Connected:  d.connected,
		Since:      d.since,
		Reconnects: r,
		MsgsIn:     d.msgsIn.Load(),
		MsgsOut:    d.msgsOut.Load(),
		BadMsgs:    d.bad.Load(),
		LastError:  d.lastErr,
	}}
}

// Stats are counters beyond hub.BrokerStatus, for tests and metrics.
type Stats struct {
	Dropped  uint64 // messages dropped from full device queues
	Connects uint64 // successful (re)connects
	Attempts uint64 // reconnect attempts
	// Refreshes counts devices asked for their state by the periodic
	// refresh (devices heard from lately are not asked).
	Refreshes uint64
	// BrokerDropped counts messages the embedded broker dropped because a
	// client's queue (Options.BrokerQueueLen) was full.
	BrokerDropped uint64
}

// Stats returns the driver's extra counters.
func (d *Driver) Stats() Stats {
	st := Stats{Dropped: d.dropped.Load(), Connects: d.connects.Load(), Attempts: d.attempts.Load(), Refreshes: d.refreshes.Load()}
	if d.broker != nil {
		st.BrokerDropped = d.broker.srv.Stats().Dropped
	}
	return st
}

// limiter lets through one log line per second and counts the rest.
type limiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *limiter) log(lg *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Warn(msg, args...)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
