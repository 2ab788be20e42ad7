package uplink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// testDevices are a lamp and a metering socket, owned by driver "sim".
func testDevices() []hub.Device {
	return []hub.Device{
		{ID: "lamp-1", Name: "Lamp 1", Kind: hub.KindLight, Driver: "sim", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500},
		{ID: "socket-1", Name: "Socket 1", Kind: hub.KindSocket, Driver: "sim", Fields: hub.MeterFields.With(hub.FieldOn)},
	}
}

// fixture is a hub with emulated devices (the driver echoes every command
// back as the device's report), its store, and an uplink to a broker.
type fixture struct {
	t     testing.TB
	sync  bool // fsync the store (benchmarks); tests run without
	dir   string
	db    *store.DB
	queue *store.Queue
	hub   *hub.Hub
	up    *uplink.Uplink
	cmds  atomic.Int64 // commands the driver received
	stop  func()
}

func newFixture(t testing.TB, broker string, opts uplink.Options, qopts store.QueueOptions) *fixture {
	t.Helper()
	return newFixtureSync(t, broker, opts, qopts, false)
}

func newFixtureSync(t testing.TB, broker string, opts uplink.Options, qopts store.QueueOptions, sync bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), sync: sync}
	f.open(broker, opts, qopts)
	return f
}

// open (re)starts the store, hub and uplink on f.dir: a daemon restart.
func (f *fixture) open(broker string, opts uplink.Options, qopts store.QueueOptions) {
	t := f.t
	t.Helper()
	db, err := store.Open(filepath.Join(f.dir, "hubd.db"), store.Options{NoSync: !f.sync})
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.Queue("uplink-events", qopts)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(testDevices(), nil, hub.Options{Store: db, StaleAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.SetDriver("sim", hub.DriverFunc(func(ctx context.Context, dev hub.Device, cmd hub.Command) error {
		f.cmds.Add(1)
		go h.Apply(hub.Report{Device: dev.ID, State: cmd.Set})
		return nil
	}))
	for _, d := range testDevices() {
		st := hub.State{Set: hub.Fields(hub.FieldOn), On: true}
		if d.Kind == hub.KindSocket {
			st.Set, st.Power, st.Voltage = st.Set.With(hub.FieldPower).With(hub.FieldVoltage), 12.5, 230
		}
		if err := h.Apply(hub.Report{Device: d.ID, State: st, Avail: hub.AvailOnline}); err != nil {
			t.Fatal(err)
		}
	}
	opts.Broker, opts.Hub, opts.Queue = broker, h, q
	if opts.Gateway == "" {
		opts.Gateway = "gw1"
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 200 * time.Millisecond
	}
	opts.Version = "test"
	up, err := uplink.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	f.db, f.queue, f.hub, f.up = db, q, h, up
	f.stop = func() {
		cancel()
		<-done
		h.Close()
		db.Close()
	}
	t.Cleanup(f.close)
}

// close stops the uplink, the hub and the store (once).
func (f *fixture) close() {
	if f.stop != nil {
		f.stop()
		f.stop = nil
	}
}

// msg is one message a watcher received.
type msg struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// watcher is an MQTT client that records everything under a filter;
// each topic is read in order, independently of the others.
type watcher struct {
	c    paho.Client
	mu   sync.Mutex
	msgs map[string][]msg
	read map[string]int
	news chan struct{} // 1-buffered: a message arrived
	subs chan struct{} // a (re)connect subscribed again
}

// watch subscribes to filter; clientID and clean choose a persistent
// session ("" and true: a throwaway one).
func watch(t *testing.T, broker, filter, clientID string, clean bool) *watcher {
	t.Helper()
	w := newWatcher()
	if clientID == "" {
		clientID = fmt.Sprintf("watch-%d", time.Now().UnixNano())
	}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetCleanSession(clean).
		SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).SetOrderMatters(true)
	o.SetDefaultPublishHandler(w.record)
	var once sync.Once
	subscribed := make(chan struct{})
	o.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe(filter, 1, nil).Wait()
		once.Do(func() { close(subscribed) })
		select {
		case w.subs <- struct{}{}:
		default:
		}
	})
	w.c = paho.NewClient(o)
	w.c.Connect()
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatalf("watcher on %s did not subscribe", broker)
	}
	t.Cleanup(func() { w.c.Disconnect(50) })
	return w
}

func newWatcher() *watcher {
	return &watcher{msgs: map[string][]msg{}, read: map[string]int{}, news: make(chan struct{}, 1), subs: make(chan struct{}, 16)}
}

// record keeps a received message (the client's publish handler).
func (w *watcher) record(_ paho.Client, m paho.Message) {
	w.mu.Lock()
	w.msgs[m.Topic()] = append(w.msgs[m.Topic()], msg{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()})
	w.mu.Unlock()
	select {
	case w.news <- struct{}{}:
	default:
	}
}

// resubscribed waits for the watcher's next subscription after a
// reconnect.
func (w *watcher) resubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-w.subs:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not reconnect within 10s")
	}
}

// next returns the next unread message on topic.
func (w *watcher) next(t *testing.T, topic string) msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		if i := w.read[topic]; i < len(w.msgs[topic]) {
			w.read[topic] = i + 1
			m := w.msgs[topic][i]
			w.mu.Unlock()
			return m
		}
		w.mu.Unlock()
		select {
		case <-w.news:
		case <-deadline:
			t.Fatalf("no message on %s within 10s", topic)
		}
	}
}

// all returns every message received on topic so far.
func (w *watcher) all(topic string) []msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]msg(nil), w.msgs[topic]...)
}

// nextWhere returns the next message on topic whose payload satisfies ok.
func (w *watcher) nextWhere(t *testing.T, topic string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for {
		m := w.next(t, topic)
		var v map[string]any
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Fatalf("%s: payload %q is not JSON: %v", topic, m.Payload, err)
		}
		if ok(v) {
			return v
		}
	}
}

// publish sends one message from a test client and waits for the broker.
func publish(t *testing.T, broker, topic string, retained bool, payload string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}
