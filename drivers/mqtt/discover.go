package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// DefaultMaxProbes bounds the devices discovery keeps per-device notes on
// (Tasmota MACs, Shelly Gen2 prefixes, RPC calls in flight).
const DefaultMaxProbes = 1024

// DiscoverOptions configure a Discovery.
type DiscoverOptions struct {
	// Found records a device discovery saw (normally (*hub.Finds).Put,
	// which reports false when its table is full). Required.
	Found func(hub.Found) bool
	// Lost forgets a device that withdrew (normally (*hub.Finds).Remove).
	// Required.
	Lost func(driver, address string)
	// MaxProbes bounds each of discovery's own tables: Tasmota devices by
	// MAC, Shelly Gen2 devices by prefix, RPC calls awaiting a reply. A
	// newcomer beyond it is ignored and counted (DiscoveryStats.Dropped).
	// Zero: DefaultMaxProbes.
	MaxProbes int
	// Logger; nil: the driver's.
	Logger *slog.Logger
}

// DiscoveryStats count what discovery did.
type DiscoveryStats struct {
	Messages uint64 // discovery messages taken
	Bad      uint64 // messages that did not parse
	Dropped  uint64 // devices or calls a full table turned away
}

// Discovery listens on the driver's broker for devices announcing
// themselves: Tasmota native discovery, Zigbee2MQTT's bridge/devices and
// bridge/groups, Shelly Gen1 announce and Shelly Gen2 RPC. It has its own
// connection (the embedded broker's in-process one, or a second client
// "<client id>-discovery"), so it costs nothing on the driver's paths and
// only a few retained messages when idle.
type Discovery struct {
	d    *Driver
	o    DiscoverOptions
	log  *slog.Logger
	src  string // the RPC reply address: replies come on <src>/rpc
	conn conn

	msgs, bad, dropped atomic.Uint64

	mu      sync.Mutex
	tasmota map[string]*tasmotaSeen // by MAC
	z2m     map[string]hub.Found    // by IEEE address
	groups  []byte                  // last bridge/groups
	z2mAddr map[string]bool         // addresses last reported from bridge/devices and groups
	gen2    map[string]*gen2Seen    // by prefix
	calls   map[uint64]gen2Call     // RPC calls in flight
	nextID  uint64
}

type tasmotaSeen struct {
	cfg    tasmotaConfig
	meters hub.FieldSet
	addrs  []string
}

type gen2Seen struct {
	info           *hub.Info
	status, config []byte
	addrs          []string
}

// gen2Methods are the calls discovery makes to a Gen2 device, in order:
// what it is, its components' status, and their config (a cct's range).
var gen2Methods = [...]string{"Shelly.GetDeviceInfo", "Shelly.GetStatus", "Shelly.GetConfig"}

type gen2Call struct {
	prefix string
	method int // index into gen2Methods
}

// NewDiscovery prepares discovery on d's broker; Run starts it.
func NewDiscovery(d *Driver, o DiscoverOptions) (*Discovery, error) {
	if o.Found == nil || o.Lost == nil {
		return nil, fmt.Errorf("%w: discovery needs Found and Lost", ErrBadOptions)
	}
	if o.MaxProbes <= 0 {
		o.MaxProbes = DefaultMaxProbes
	}
	if o.Logger == nil {
		o.Logger = d.log
	}
	x := &Discovery{d: d, o: o, log: o.Logger.With("part", "discovery"), src: d.topics.disc,
		tasmota: map[string]*tasmotaSeen{}, z2m: map[string]hub.Found{}, z2mAddr: map[string]bool{},
		gen2: map[string]*gen2Seen{}, calls: map[uint64]gen2Call{}}
	if d.broker != nil {
		x.conn = newInlineConn(d.broker.srv, x.onConnect, x.receive, false)
		return x, nil
	}
	co, err := d.clientOptions()
	if err != nil {
		return nil, err
	}
	co.SetClientID(x.src)
	co.WillEnabled = false
	co.SetDefaultPublishHandler(func(c paho.Client, m paho.Message) {
		x.receive(m.Topic(), m.Payload(), m.Retained())
		if len(m.Payload()) >= flushAfter {
			// The MQTT client keeps the last packet it read until it reads
			// the next one, and discovery's connection is quiet: a
			// Zigbee2MQTT bridge's list of thousands of devices (3 MB)
			// stayed in memory until the next keep-alive. A small publish
			// at QoS 1 makes the broker answer: its PUBACK takes the
			// list's place. Nobody subscribes to the topic.
			c.Publish(x.src+flushSuffix, 1, false, "")
		}
	})
	co.SetOnConnectHandler(func(c paho.Client) { x.onConnect(c) })
	co.SetConnectionLostHandler(func(_ paho.Client, err error) { x.log.Warn("discovery connection lost", "err", err) })
	co.SetReconnectingHandler(nil)
	x.conn = paho.NewClient(co)
	return x, nil
}

// Run listens until ctx ends.
func (x *Discovery) Run(ctx context.Context) {
	x.conn.Connect()
	<-ctx.Done()
	x.conn.Disconnect(250)
}

// Stats returns the counters.
func (x *Discovery) Stats() DiscoveryStats {
	return DiscoveryStats{Messages: x.msgs.Load(), Bad: x.bad.Load(), Dropped: x.dropped.Load()}
}

// Announce asks every Shelly Gen1 device to announce itself again.
func (x *Discovery) Announce() {
	if x.conn.IsConnectionOpen() {
		x.conn.Publish(shelly1CommandTopic, 0, false, "announce")
	}
}

func (x *Discovery) filters() map[string]byte {
	z := x.d.opts.Z2MBase + "/"
	return map[string]byte{
		tasmotaDiscoveryPrefix + "+/" + tasmotaDiscoveryConfig: 0,
		tasmotaDiscoveryPrefix + "+/" + tasmotaDiscoverySensor: 0,
		z + z2mBridgeDevices: 0,
		z + z2mBridgeGroups:  0,
		shelly1AnnounceTopic: 0,
		shelly1OnlineFilter:  0,
		"+/online":           0,
		x.src + "/rpc":       0,
	}
}

// flushAfter is the size of a message after which discovery publishes a
// small one on <src>/flush (see NewDiscovery).
const (
	flushAfter  = 64 << 10
	flushSuffix = "/flush"
)

func (x *Discovery) onConnect(c conn) {
	if t := c.SubscribeMultiple(x.filters(), nil); t.WaitTimeout(10e9) && t.Error() != nil {
		x.log.Error("discovery subscribe failed", "err", t.Error())
		return
	}
	c.Publish(shelly1CommandTopic, 0, false, "announce")
}

// receive routes one message. Every parser error is counted and logged;
// none stops discovery.
func (x *Discovery) receive(topic string, p []byte, _ bool) {
	z := x.d.opts.Z2MBase + "/"
	limit := x.d.opts.MaxPayload
	if topic == z+z2mBridgeDevices || topic == z+z2mBridgeGroups {
		// One message for the whole network: as the driver takes it.
		limit = max(limit, maxBridgePayload)
	}
	if len(p) > limit {
		x.fail(topic, fmt.Errorf("%w: %d bytes (limit %d)", ErrOversize, len(p), limit))
		return
	}
	x.msgs.Add(1)
	var err error
	switch {
	case strings.HasPrefix(topic, tasmotaDiscoveryPrefix):
		err = x.tasmotaMessage(strings.TrimPrefix(topic, tasmotaDiscoveryPrefix), p)
	case topic == z+z2mBridgeDevices:
		err = x.z2mDevices(p)
	case topic == z+z2mBridgeGroups:
		err = x.z2mGroups(p)
	case topic == shelly1AnnounceTopic:
		var fs []hub.Found
		if fs, err = decodeShelly1Discovery(p); err == nil {
			x.put(fs...)
		}
	case topic == x.src+"/rpc":
		err = x.gen2Reply(p)
	case strings.HasPrefix(topic, "shellies/") && strings.HasSuffix(topic, "/online"):
		x.gen1Online(strings.TrimSuffix(strings.TrimPrefix(topic, "shellies/"), "/online"), p)
	case strings.HasSuffix(topic, "/online"):
		x.gen2Online(strings.TrimSuffix(topic, "/online"), p)
	}
	if err != nil {
		x.fail(topic, err)
	}
}

func (x *Discovery) fail(topic string, err error) {
	x.bad.Add(1)
	x.log.Debug("discovery message refused", "topic", topic, "err", err)
}

func (x *Discovery) put(fs ...hub.Found) {
	for _, f := range fs {
		if !x.o.Found(f) {
			x.dropped.Add(1)
		}
	}
}

// replace reports fs and forgets the addresses of old that fs lacks.
func (x *Discovery) replace(old []string, fs []hub.Found) []string {
	now := make([]string, 0, len(fs))
	keep := map[string]bool{}
	for _, f := range fs {
		keep[f.Address] = true
		now = append(now, f.Address)
	}
	for _, a := range old {
		if !keep[a] {
			x.o.Lost(DriverName, a)
		}
	}
	x.put(fs...)
	return now
}

func (x *Discovery) tasmotaMessage(rest string, p []byte) error {
	mac, kind, ok := strings.Cut(rest, "/")
	if !ok || mac == "" {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	seen := x.tasmota[mac]
	if seen == nil {
		if len(x.tasmota) >= x.o.MaxProbes {
			x.dropped.Add(1)
			return nil
		}
		seen = &tasmotaSeen{}
		x.tasmota[strings.Clone(mac)] = seen // the topic is the packet's memory
	}
	switch kind {
	case tasmotaDiscoveryConfig:
		c, err := decodeTasmotaDiscovery(p)
		if err != nil {
			return err
		}
		seen.cfg = c
	case tasmotaDiscoverySensor:
		if len(p) == 0 {
			seen.meters = 0
			break
		}
		fs, err := tasmotaMeters(p)
		if err != nil {
			return err
		}
		seen.meters = fs
	}
	var fs []hub.Found
	if seen.cfg.topic != "" {
		fs = seen.cfg.found(seen.meters, x.d.ft.pattern)
	}
	seen.addrs = x.replace(seen.addrs, fs)
	if seen.cfg.topic == "" && seen.meters == 0 {
		delete(x.tasmota, mac)
	}
	return nil
}

func (x *Discovery) z2mDevices(p []byte) error {
	devs, skipped, err := decodeZ2MDiscovery(p)
	if err != nil {
		return err
	}
	if skipped > 0 {
		x.bad.Add(uint64(skipped))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.z2m = make(map[string]hub.Found, len(devs))
	for _, d := range devs {
		if len(x.z2m) >= x.o.MaxProbes {
			x.dropped.Add(1)
			break
		}
		x.z2m[d.ieee] = d.f
	}
	return x.z2mReport()
}

func (x *Discovery) z2mGroups(p []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.groups = append([]byte(nil), p...)
	return x.z2mReport()
}

// z2mReport reports the devices and groups last seen and forgets the
// addresses that are gone. Called with x.mu held.
func (x *Discovery) z2mReport() error {
	fs := make([]hub.Found, 0, len(x.z2m))
	for _, f := range x.z2m {
		fs = append(fs, f)
	}
	var err error
	if len(x.groups) > 0 {
		var gs []hub.Found
		gs, err = decodeZ2MGroups(x.groups, x.z2m)
		fs = append(fs, gs...)
	}
	old := make([]string, 0, len(x.z2mAddr))
	for a := range x.z2mAddr {
		old = append(old, a)
	}
	now := x.replace(old, fs)
	x.z2mAddr = make(map[string]bool, len(now))
	for _, a := range now {
		x.z2mAddr[a] = true
	}
	return err
}

// gen2Online asks a device that came online what it is, over RPC. Only
// prefixes that can name a Gen2 device are asked; a payload other than
// "true" is ignored.
func (x *Discovery) gen2Online(prefix string, p []byte) {
	if strings.TrimSpace(string(p)) != "true" {
		return
	}
	if _, _, err := ParseAddress(DialectShelly2 + ":" + prefix); err != nil || prefix == x.src {
		return
	}
	// Kept (a key, a call's note): a clone, as the topic is the message's
	// memory, the broker's packet with its payload.
	prefix = strings.Clone(prefix)
	x.mu.Lock()
	if _, ok := x.gen2[prefix]; !ok && len(x.gen2) >= x.o.MaxProbes {
		x.mu.Unlock()
		x.dropped.Add(1)
		return
	}
	if x.gen2[prefix] == nil {
		x.gen2[prefix] = &gen2Seen{}
	}
	var ids [len(gen2Methods)]uint64
	for i := range ids {
		if len(x.calls) >= x.o.MaxProbes {
			x.mu.Unlock()
			x.dropped.Add(1)
			return
		}
		x.nextID++
		ids[i] = x.nextID
		x.calls[ids[i]] = gen2Call{prefix: prefix, method: i}
	}
	x.mu.Unlock()
	for i, m := range gen2Methods {
		x.conn.Publish(prefix+"/rpc", 0, false, shelly2Request(ids[i], x.src, m))
	}
}

func (x *Discovery) gen2Reply(p []byte) error {
	var r struct {
		ID     *uint64         `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(p, &r); err != nil || r.ID == nil {
		return badf("shelly2 reply: not an RPC reply")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	call, ok := x.calls[*r.ID]
	if !ok {
		return nil
	}
	delete(x.calls, *r.ID)
	seen := x.gen2[call.prefix]
	failed := len(r.Error) > 0 || isNull(r.Result)
	switch {
	case seen == nil:
		return nil
	case gen2Methods[call.method] == "Shelly.GetConfig":
		// A device that tells no config is found with default ranges.
		seen.config = []byte("{}")
		if !failed {
			seen.config = append([]byte(nil), r.Result...)
		}
	case failed:
		return nil
	case gen2Methods[call.method] == "Shelly.GetStatus":
		seen.status = append([]byte(nil), r.Result...)
	default:
		in, err := shelly2DeviceInfo(r.Result)
		if err != nil {
			return err
		}
		seen.info = &in
	}
	if seen.info == nil || seen.status == nil || seen.config == nil {
		return nil
	}
	fs, err := shelly2Found(call.prefix, *seen.info, seen.status, seen.config)
	if err != nil {
		return err
	}
	seen.addrs = x.replace(seen.addrs, fs)
	// The answers are let go once used: the next time the device comes
	// online all three are asked again (with 1,600 Gen2 devices they held
	// some 0.4 MB for nothing).
	seen.status, seen.config = nil, nil
	return nil
}
