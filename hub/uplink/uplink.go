package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// Uplink publishes one gateway to the fleet broker. New builds it, Run
// connects and publishes until its context ends.
type Uplink struct {
	opts   Options
	log    *slog.Logger
	topics layout
	client paho.Client

	connected atomic.Bool
	onConnect chan struct{} // 1-buffered: the client (re)connected
	lost      chan struct{} // 1-buffered: the connection was lost
	wake      chan struct{} // 1-buffered: events were queued
	commands  chan paho.Message

	sub *hub.Subscription

	mu        sync.Mutex
	status    Status
	published map[string]pubDevice // devices whose retained topics this process set
}

// Status is what the uplink did so far, for the status page and tests; it
// lives in hub so that the status page can show it without importing this
// package. Since is when the connection was made or lost.
type Status = hub.UplinkStatus

// commandWorkers run commands at once (each waits up to the hub's command
// timeout for the device to confirm).
const commandWorkers = 4

// New checks opts, builds the client and starts following the hub's
// changes; nothing connects before Run, which must be called once.
func New(opts Options) (*Uplink, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	u := &Uplink{
		opts:      opts,
		log:       opts.Logger.With("component", "uplink"),
		topics:    newLayout(opts.Prefix),
		onConnect: make(chan struct{}, 1),
		lost:      make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		commands:  make(chan paho.Message, opts.CommandQueue),
		status:    Status{Broker: opts.Broker},
	}
	po, err := u.clientOptions()
	if err != nil {
		return nil, err
	}
	u.client = paho.NewClient(po)
	// Subscribed here, not in Run, so that the events of the daemon's
	// start are not missed. Run ends the subscription.
	u.sub = opts.Hub.Subscribe(opts.SubscriptionRoom)
	return u, nil
}

func (u *Uplink) clientOptions() (*paho.ClientOptions, error) {
	o := u.opts
	po := paho.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		// Reconnects are Run's, not the client's: the client's own resend of
		// in-flight messages after a reconnect races with new publishes (and
		// sends them twice). Without it, a lost connection fails the tokens
		// in flight, and the events stay queued until they are acknowledged.
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(10*time.Second).SetKeepAlive(30*time.Second).
		SetWill(u.topics.status(), string(statusPayload(false)), o.QoS, true)
	po.SetOnConnectHandler(func(paho.Client) {
		u.connected.Store(true)
		u.mu.Lock()
		u.status.Connected, u.status.Since = true, time.Now()
		u.status.Connects++
		u.mu.Unlock()
		signal(u.onConnect)
	})
	po.SetConnectionLostHandler(func(_ paho.Client, err error) {
		u.connected.Store(false)
		u.setError(err)
		u.mu.Lock()
		u.status.Since = time.Now()
		u.mu.Unlock()
		u.log.Warn("uplink: connection lost", "broker", o.Broker, "err", err)
		signal(u.lost)
	})
	if o.CAFile != "" || o.CertFile != "" {
		tc, err := tlsConfig(o)
		if err != nil {
			return nil, err
		}
		po.SetTLSConfig(tc)
	}
	return po, nil
}

func tlsConfig(o Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, errorf(ErrTLS, "read CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errorf(ErrTLS, "%s holds no PEM certificate", o.CAFile)
		}
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, errorf(ErrTLS, "client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (u *Uplink) setError(err error) {
	u.mu.Lock()
	u.status.Connected = false
	if err != nil {
		u.status.LastError = err.Error()
	}
	u.mu.Unlock()
}

// Status reports the connection and the queue.
func (u *Uplink) Status() Status {
	u.mu.Lock()
	s := u.status
	u.mu.Unlock()
	s.Connected = u.connected.Load()
	q := u.opts.Queue.Stats()
	s.Queued, s.QueuedBytes, s.Dropped = q.Items, q.Bytes, q.Dropped
	s.Missed = u.sub.Dropped()
	return s
}

// Run connects (retrying until the broker answers) and publishes until
// ctx ends; then it marks the gateway offline and disconnects.
func (u *Uplink) Run(ctx context.Context) error {
	sub := u.sub
	defer u.opts.Hub.Unsubscribe(sub)
	var wg sync.WaitGroup
	run := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	run(u.connect)
	run(func(ctx context.Context) { u.collect(ctx, sub) })
	run(u.flush)
	run(u.session)
	for range commandWorkers {
		run(u.runCommands)
	}
	<-ctx.Done()
	wg.Wait()
	if u.connected.Load() {
		t := u.client.Publish(u.topics.status(), u.opts.QoS, true, statusPayload(false))
		t.WaitTimeout(time.Second)
	}
	u.connected.Store(false)
	u.client.Disconnect(250)
	return nil
}

// connect keeps the client connected: it dials, waits for the connection
// to be lost, and dials again, backing off up to RetryMax while the broker
// does not answer.
func (u *Uplink) connect(ctx context.Context) {
	first := min(100*time.Millisecond, u.opts.RetryMax)
	wait := first
	for {
		t := u.client.Connect()
		select {
		case <-ctx.Done():
			return
		case <-t.Done():
		}
		if err := t.Error(); err != nil {
			u.setError(err)
			u.log.Debug("uplink: connect failed", "broker", u.opts.Broker, "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, u.opts.RetryMax)
			continue
		}
		wait = first
		select {
		case <-ctx.Done():
			return
		case <-u.lost:
		}
	}
}

// session republishes what a fresh connection needs: the gateway online,
// the command subscription, every device's retained state, health, and
// the discovery configs; and it refreshes health periodically.
func (u *Uplink) session(ctx context.Context) {
	t := time.NewTicker(u.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.onConnect:
			u.publish(u.topics.status(), true, statusPayload(true))
			u.subscribeCommands()
			u.publishAll()
			u.publishHealth()
			signal(u.wake)
		case <-t.C:
			u.publishHealth()
		}
	}
}

// publish sends a message when connected; state and health are not kept
// for later (the next connect publishes them fresh), so nothing waits.
func (u *Uplink) publish(topic string, retained bool, payload []byte) {
	if !u.connected.Load() {
		return
	}
	u.client.Publish(topic, u.opts.QoS, retained, payload)
}

// publishAll publishes every device's state and availability, and the
// discovery configs when Home Assistant is on.
func (u *Uplink) publishAll() {
	if !u.connected.Load() {
		return
	}
	devs := u.opts.Hub.Devices()
	for _, d := range devs {
		u.publishDevice(d.ID)
	}
	if u.opts.HomeAssistant {
		u.publishDiscovery()
	}
	u.forgetRemoved(devs)
}

// pubDevice is what a device's retained topics were derived from, enough
// to clear them: a copy of each device was some 2 MB at 10,000.
type pubDevice struct {
	kind   hub.Kind
	fields hub.FieldSet
}

// forgetRemoved clears the retained topics of devices that this process
// published and a reload removed, so the fleet does not keep showing them,
// and the discovery configs a device that stays no longer has (a meter
// field taken off). (A device removed while the daemon was stopped is not
// known here; its topics stay until cleared by hand.)
func (u *Uplink) forgetRemoved(devs []hub.Device) {
	now := make(map[string]pubDevice, len(devs))
	for _, d := range devs {
		now[d.ID] = pubDevice{kind: d.Kind, fields: d.Fields}
	}
	u.mu.Lock()
	before := u.published
	u.published = now
	u.mu.Unlock()
	for id, was := range before {
		is, stays := now[id]
		if !stays {
			for _, leaf := range []string{leafState, leafAvail} {
				u.publish(u.topics.device(id, leaf), true, nil)
			}
		}
		if !u.opts.HomeAssistant || stays && is == was {
			continue
		}
		kept := map[string]haEntity{}
		if stays {
			kept = u.discovery(hub.Device{ID: id, Kind: is.kind, Fields: is.fields})
		}
		for topic := range u.discovery(hub.Device{ID: id, Kind: was.kind, Fields: was.fields}) {
			if _, ok := kept[topic]; !ok {
				u.publish(topic, true, nil)
			}
		}
	}
}

func (u *Uplink) publishDevice(id string) {
	if !topicSafe(id) {
		return
	}
	d, s, ok := u.opts.Hub.Snapshot(id)
	if !ok {
		return
	}
	online := u.opts.Hub.Reachable(&s)
	u.publish(u.topics.device(id, leafState), true, statePayload(d, s, online))
	u.publish(u.topics.device(id, leafAvail), true, statusPayload(online))
}

func (u *Uplink) publishHealth() {
	if !u.connected.Load() {
		return
	}
	o := u.opts
	now := time.Now()
	m := healthMsg{V: Version, Gateway: o.Gateway, Version: o.Version, Commit: o.Commit, At: now.UTC(),
		Started: o.Started.UTC(), UptimeSeconds: int64(now.Sub(o.Started).Seconds()),
		Buses: []hub.BusStatus{}, Brokers: []hub.BrokerStatus{}}
	// Counted in a walk: a copy of every device and a snapshot of each
	// were some 7 MB of garbage a minute at 10,000 devices.
	o.Hub.Walk(func(_ *hub.Device, s *hub.Snapshot) bool {
		m.Devices++
		if o.Hub.Reachable(s) {
			m.Online++
		}
		return true
	})
	if o.Buses != nil {
		m.Buses = o.Buses()
	}
	if o.Brokers != nil {
		m.Brokers = o.Brokers()
	}
	st := u.Status()
	m.Queue = queueMsg{Events: st.Queued, Bytes: st.QueuedBytes, Dropped: st.Dropped, Missed: st.Missed}
	u.publish(u.topics.health(), true, mustJSON(m))
}
