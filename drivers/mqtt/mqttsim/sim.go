package mqttsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ErrUnknownDevice is returned for a device name the simulator does not run.
var ErrUnknownDevice = errors.New("mqttsim: unknown device")

// Options configure a simulator.
type Options struct {
	// Broker is the broker URL, e.g. "tcp://127.0.0.1:1883". Required.
	Broker             string
	Username, Password string
	// Login, when set, gives each device its own credentials (a device
	// account) instead of Username and Password.
	Login   func(s Spec) (username, password string)
	Devices []Spec
	// TasmotaFullTopic is the devices' FullTopic. Empty: "%prefix%/%topic%/".
	TasmotaFullTopic string
	// Z2MBase is the Zigbee2MQTT base topic. Empty: "zigbee2mqtt".
	Z2MBase string
	// Telemetry is the period of STATE/SENSOR-style reports. Zero: 30 s;
	// negative: none (devices still answer commands and queries).
	Telemetry time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Sim runs emulated devices, one broker connection each.
type Sim struct {
	opts  Options
	log   *slog.Logger
	devs  []*dev
	byNam map[string]*dev
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	// published counts the messages the devices handed to their
	// connections; refused those their client would not take (no
	// connection at the time). See Published.
	published, refused atomic.Int64
}

// Published is how many messages the devices have published since Start
// (reports, replies, announcements, availability: everything a device
// sends but the retained Zigbee2MQTT bridge list), and how many more they
// tried to publish while their client had no open connection (those
// never reached the broker). A load test compares the first with what the hub
// took in: every message a device publishes is one report to the hub.
func (s *Sim) Published() (published, refused int64) {
	return s.published.Load(), s.refused.Load()
}

type state struct {
	on       bool
	bri      int // percent
	hue, sat int
	ct       int // mireds
	hsv      bool
	power    float64 // W when on
	voltage  float64
	energyWh float64
	blinks   int
	lastTick time.Time
	// more are relays 2..n of a multi-relay device (the first is on).
	more []bool
	// A Shelly Gen2 light's color (rgb, white 0..255) and, for cct, its
	// color temperature in kelvin.
	rgb    [3]int
	white  int
	kelvin int
}

type dev struct {
	spec Spec
	sim  *Sim
	c    paho.Client
	cmds atomic.Int64

	mu sync.Mutex
	st state

	// rpcFail, when set, is the error the next Gen2 switch calls answer.
	rpcFail atomic.Pointer[rpcError]

	ready  atomic.Bool // the on-connect handler of the current connection is done
	connMu sync.Mutex
	conn   *dropConn
	upAt   time.Time // when conn was dialled
	hold   time.Time // no reconnect before this (a dropped device stays away a while)

	// topics
	will, online, offline string
}

// Start connects every device and returns once all are connected.
func Start(ctx context.Context, opts Options) (*Sim, error) {
	if opts.Broker == "" {
		return nil, errors.New("mqttsim: no broker")
	}
	if opts.TasmotaFullTopic == "" {
		opts.TasmotaFullTopic = "%prefix%/%topic%/"
	}
	if !strings.HasSuffix(opts.TasmotaFullTopic, "/") {
		opts.TasmotaFullTopic += "/"
	}
	if opts.Z2MBase == "" {
		opts.Z2MBase = "zigbee2mqtt"
	}
	if opts.Telemetry == 0 {
		opts.Telemetry = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{opts: opts, log: opts.Logger.With("component", "mqttsim"), byNam: map[string]*dev{}, stop: make(chan struct{})}
	for i, sp := range opts.Devices {
		if _, dup := s.byNam[sp.Name]; dup {
			return nil, fmt.Errorf("mqttsim: device %q twice", sp.Name)
		}
		d := &dev{spec: sp, sim: s}
		d.st = state{bri: 50, ct: 300, power: 20 + float64(i%50), voltage: 230, lastTick: time.Now(),
			more: make([]bool, max(sp.Relays, 1)-1), rgb: [3]int{255, 255, 255}, kelvin: 4000}
		if sp.Kind == "light" {
			d.st.power = 0
		}
		s.devs = append(s.devs, d)
		s.byNam[sp.Name] = d
	}
	// Connect in parallel, a bounded number at a time.
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(s.devs))
	var wg sync.WaitGroup
	for _, d := range s.devs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- d.connect(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.publishBridge(); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Telemetry > 0 {
		s.wg.Add(1)
		go s.telemetry()
	}
	return s, nil
}

// publishBridge publishes, retained, the list of paired devices a
// Zigbee2MQTT bridge keeps on <base>/bridge/devices: the coordinator and
// every z2m device. The first z2m device's connection carries it.
func (s *Sim) publishBridge() error {
	var first *dev
	list := []map[string]any{{
		"ieee_address": "0x00124b0000000000", "type": "Coordinator", "network_address": 0,
		"friendly_name": "Coordinator", "supported": false, "disabled": false, "definition": nil,
		"interview_completed": true,
	}}
	for i, d := range s.devs {
		if d.spec.Dialect != Z2M {
			continue
		}
		if first == nil {
			first = d
		}
		vendor, model, modelID, desc := "IKEA", "LED1624G9", "TRADFRI bulb E27 CWS opal 600lm", "TRADFRI LED bulb E27 600 lumen, dimmable, color, opal white"
		if d.spec.Kind != "light" {
			vendor, model, modelID, desc = "Innr", "SP 120", "SP 120", "Smart plug"
		}
		list = append(list, map[string]any{
			"ieee_address": fmt.Sprintf("0x00158d00%08x", i), "type": "Router", "network_address": 1000 + i,
			"friendly_name": d.spec.Name, "supported": true, "disabled": false, "interview_completed": true,
			"manufacturer": vendor, "model_id": modelID, "power_source": "Mains (single phase)",
			"software_build_id": d.firmware(), "date_code": "20230412",
			"definition": map[string]any{
				"vendor": vendor, "model": model, "description": desc,
				"exposes": d.z2mExposes(),
			},
		})
	}
	if first == nil {
		return nil
	}
	b, _ := json.Marshal(list)
	t := first.c.Publish(s.opts.Z2MBase+"/bridge/devices", 1, true, b)
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		return fmt.Errorf("mqttsim: publish z2m bridge/devices: %v", t.Error())
	}
	return nil
}

// rpcError is a Gen2 RPC error reply's error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// FailRPC makes a Shelly Gen2 device answer its output calls (Switch.Set,
// Switch.Toggle, RGBW.Set, ...) with an RPC error of the given code and message, leaving
// the switch as it is, until FailRPC is called with code 0.
func (s *Sim) FailRPC(name string, code int, message string) error {
	d, err := s.dev(name)
	if err != nil {
		return err
	}
	if d.spec.Dialect != Shelly2 {
		return fmt.Errorf("mqttsim: %s: RPC is for Shelly Gen2 devices", name)
	}
	if code == 0 {
		d.rpcFail.Store(nil)
	} else {
		d.rpcFail.Store(&rpcError{Code: code, Message: message})
	}
	return nil
}

// Model is the model the device says it is.
func (s *Sim) Model(name string) string {
	d, err := s.dev(name)
	if err != nil {
		return ""
	}
	return d.model()
}

// Firmware is the firmware version the device says it runs.
func (s *Sim) Firmware(name string) string {
	d, err := s.dev(name)
	if err != nil {
		return ""
	}
	return d.firmware()
}

// model and firmware are what the emulated device says it is, in each
// dialect's own words.
func (d *dev) model() string {
	light := d.spec.Kind == "light"
	switch d.spec.Dialect {
	case Tasmota:
		return onOff(light, "Sonoff B1", "Sonoff S31")
	case Z2M:
		return onOff(light, "LED1624G9", "SP 120")
	case Shelly1:
		return onOff(d.spec.Relays > 1, "SHSW-25", "SHPLG-S")
	case Shelly2:
		return onOff(d.spec.Kind == "light", "SNDC-0D4P10WW", onOff(d.spec.Relays > 1, "SNSW-102P16EU", "SNPL-00112EU"))
	}
	return ""
}

func (d *dev) firmware() string {
	switch d.spec.Dialect {
	case Tasmota:
		return "13.2.0(tasmota)"
	case Z2M:
		return onOff(d.spec.Kind == "light", "2.3.086", "1.2.3")
	case Shelly1:
		return "20230913-112234/v1.14.0-gcb84623"
	case Shelly2:
		return "1.0.8"
	}
	return ""
}

// announce publishes what the device publishes about itself after
// connecting.
func (d *dev) announce() {
	switch d.spec.Dialect {
	case Tasmota:
		d.pubJSON(d.tasmota("tele")+"INFO1", map[string]any{"Info1": map[string]any{
			"Module": d.model(), "Version": d.firmware(),
			"FallbackTopic": "cmnd/DVES_" + d.mac()[6:] + "_fb/", "GroupTopic": "cmnd/tasmotas/",
		}})
		d.tasmotaDiscovery()
	case Shelly1:
		a := map[string]any{"id": d.spec.Name, "model": d.model(), "mac": d.mac(), "ip": "192.0.2.10", "new_fw": false, "fw_ver": d.firmware()}
		d.pubJSON("shellies/"+d.spec.Name+"/announce", a)
		d.pubJSON("shellies/announce", a)
	}
}

// mac is a stable, made-up MAC address for the device.
func (d *dev) mac() string {
	h := uint32(2166136261)
	for _, c := range []byte(d.spec.Dialect + ":" + d.spec.Name) {
		h = (h ^ uint32(c)) * 16777619
	}
	return fmt.Sprintf("C45BBE%06X", h&0xFFFFFF)
}

// Close disconnects every device cleanly (their wills do not fire).
func (s *Sim) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		var wg sync.WaitGroup
		for _, d := range s.devs {
			if d.c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.c.Disconnect(50)
			}()
		}
		wg.Wait()
	})
}

func (s *Sim) telemetry() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Telemetry)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for _, d := range s.devs {
				d.tele()
			}
		}
	}
}

func (s *Sim) dev(name string) (*dev, error) {
	d, ok := s.byNam[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDevice, name)
	}
	return d, nil
}

// Commands is how many commands (not queries) the device has received.
func (s *Sim) Commands(name string) int64 {
	d, err := s.dev(name)
	if err != nil {
		return -1
	}
	return d.cmds.Load()
}

// On reports whether the device's relay or lamp is on.
func (s *Sim) On(name string) bool {
	d, err := s.dev(name)
	if err != nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.on
}

// Press toggles the device locally, as its button would, and reports.
func (s *Sim) Press(name string) error {
	d, err := s.dev(name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.st.on = !d.st.on
	d.mu.Unlock()
	d.report()
	return nil
}

// SetLoad changes the power a plug draws when on, and reports it.
func (s *Sim) SetLoad(name string, watts float64) error {
	d, err := s.dev(name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.st.power = watts
	d.mu.Unlock()
	d.tele()
	return nil
}

// Drop cuts a device's connection without a DISCONNECT, so the broker
// publishes its will; the device stays away for about a second, then
// reconnects by itself.
func (s *Sim) Drop(name string) error { return s.PowerCut(name, 500*time.Millisecond) }

// PowerCut is a device losing power: its connection ends without a
// DISCONNECT, so the broker publishes its will, and it stays away for
// away (zero or less: until PowerOn), then reconnects by itself.
func (s *Sim) PowerCut(name string, away time.Duration) error {
	d, err := s.dev(name)
	if err != nil {
		return err
	}
	// A cut while the device is still subscribing and announcing itself
	// (its on-connect handler waits for the SUBACK) can leave paho without
	// a reconnect: the device is cut once it is fully up, as a device
	// that loses its link has been for a while.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		d.connMu.Lock()
		up := d.upAt
		d.connMu.Unlock()
		if d.ready.Load() && time.Since(up) >= 100*time.Millisecond {
			break
		}
	}
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.hold = time.Now().Add(away)
	if away <= 0 {
		d.hold = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	if d.conn != nil {
		d.conn.dropped.Store(true)
		d.conn.Close()
	}
	return nil
}

// PowerOn lets a device cut by PowerCut reconnect (within the client's
// reconnect interval, 2 s at most).
func (s *Sim) PowerOn(name string) error {
	d, err := s.dev(name)
	if err != nil {
		return err
	}
	d.connMu.Lock()
	d.hold = time.Time{}
	d.connMu.Unlock()
	return nil
}

// Client returns the device's MQTT client, e.g. to publish raw payloads.
func (s *Sim) Client(name string) (paho.Client, error) {
	d, err := s.dev(name)
	if err != nil {
		return nil, err
	}
	return d.c, nil
}

func (d *dev) tasmota(prefix string) string {
	return strings.Replace(strings.Replace(d.sim.opts.TasmotaFullTopic, "%prefix%", prefix, 1), "%topic%", d.spec.Name, 1)
}

func (d *dev) z2m() string { return d.sim.opts.Z2MBase + "/" + d.spec.Name }

func (d *dev) connect(ctx context.Context) error {
	sp := d.spec
	switch sp.Dialect {
	case Tasmota:
		d.will, d.online, d.offline = d.tasmota("tele")+"LWT", "Online", "Offline"
	case Z2M:
		d.will, d.online, d.offline = d.z2m()+"/availability", `{"state":"online"}`, `{"state":"offline"}`
		if sp.Z2MLegacy {
			d.online, d.offline = "online", "offline"
		}
	case Shelly1:
		d.will, d.online, d.offline = "shellies/"+sp.Name+"/online", "true", "false"
	case Shelly2:
		d.will, d.online, d.offline = sp.Name+"/online", "true", "false"
	default:
		return fmt.Errorf("mqttsim: %s: unknown dialect %q", sp.Name, sp.Dialect)
	}
	// Client ids as the firmware makes them: Tasmota's DVES_ and the
	// MAC's last three bytes, a Shelly's own id (which is a Gen2 device's
	// topic prefix too).
	id := "sim-" + strings.NewReplacer("/", "-", "+", "-", "#", "-").Replace(sp.Dialect+"-"+sp.Name)
	switch sp.Dialect {
	case Tasmota:
		id = "DVES_" + d.mac()[6:]
	case Shelly1, Shelly2:
		id = sp.Name
	}
	user, pass := d.sim.opts.Username, d.sim.opts.Password
	if d.sim.opts.Login != nil {
		user, pass = d.sim.opts.Login(sp)
	}
	co := paho.NewClientOptions().
		AddBroker(d.sim.opts.Broker).
		SetClientID(id).
		SetUsername(user).
		SetPassword(pass).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(2*time.Second).
		SetConnectTimeout(5*time.Second).
		SetKeepAlive(30*time.Second).
		SetWill(d.will, d.offline, 1, true).
		SetOnConnectHandler(d.onConnect).
		SetCustomOpenConnectionFn(d.dial)
	d.c = paho.NewClient(co)
	t := d.c.Connect()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("mqttsim: %s: connect: %w", sp.Name, err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// dial keeps the connection so Drop can cut it.
func (d *dev) dial(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	d.connMu.Lock()
	hold := d.hold
	d.connMu.Unlock()
	if time.Now().Before(hold) {
		return nil, errors.New("mqttsim: device is away")
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	dc := &dropConn{Conn: c}
	d.ready.Store(false)
	d.connMu.Lock()
	d.conn, d.upAt = dc, time.Now()
	d.connMu.Unlock()
	return dc, nil
}

// dropConn reports a dropped connection as an error of its own: paho takes
// "use of closed network connection" for its own doing and would not
// reconnect.
type dropConn struct {
	net.Conn
	dropped atomic.Bool
}

var errDropped = errors.New("mqttsim: connection dropped")

func (c *dropConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.dropped.Load() {
		return n, errDropped
	}
	return n, err
}

func (d *dev) onConnect(c paho.Client) {
	var filters []string
	switch d.spec.Dialect {
	case Tasmota:
		filters = []string{d.tasmota("cmnd") + "+"}
	case Z2M:
		filters = []string{d.z2m() + "/set", d.z2m() + "/get"}
	case Shelly1:
		filters = []string{"shellies/" + d.spec.Name + "/relay/+/command", "shellies/" + d.spec.Name + "/command"}
	case Shelly2:
		filters = []string{d.spec.Name + "/rpc"}
	}
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	t := c.SubscribeMultiple(m, d.onMessage)
	t.WaitTimeout(5 * time.Second)
	d.pub(d.will, d.online, true)
	// Like the real firmware, announce itself and the whole state after
	// connecting.
	d.announce()
	d.report()
	if d.spec.Kind != "light" {
		d.tele()
	}
	d.ready.Store(true)
}

func (d *dev) pub(topic, payload string, retain bool) {
	// Counted before it is sent, so that the count is never behind what
	// a subscriber has received; taken back if the client refuses it.
	open := d.c.IsConnectionOpen()
	if open {
		d.sim.published.Add(1)
	}
	t := d.c.Publish(topic, 0, retain, payload)
	// A client without a connection fails the token before returning it,
	// and one that is reconnecting completes a QoS 0 publish without
	// sending it: neither reaches the broker.
	select {
	case <-t.Done():
		if open && t.Error() != nil {
			d.sim.published.Add(-1)
			open = false
		}
	default:
	}
	if !open {
		d.sim.refused.Add(1)
	}
}

func (d *dev) pubJSON(topic string, v any) {
	b, _ := json.Marshal(v)
	d.pub(topic, string(b), false)
}

func (d *dev) onMessage(_ paho.Client, m paho.Message) {
	switch d.spec.Dialect {
	case Tasmota:
		d.tasmotaCmd(m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:], string(m.Payload()))
	case Z2M:
		d.z2mCmd(strings.HasSuffix(m.Topic(), "/set"), m.Payload())
	case Shelly1:
		d.shelly1Cmd(shelly1Relay(m.Topic()), string(m.Payload()))
	case Shelly2:
		d.shelly2Cmd(m.Payload())
	}
}

// report publishes what the device publishes after a change.
func (d *dev) report() {
	switch d.spec.Dialect {
	case Tasmota:
		d.pubJSON(d.tasmota("stat")+"RESULT", d.tasmotaState())
		d.mu.Lock()
		on := d.st.on
		d.mu.Unlock()
		d.pub(d.tasmota("stat")+d.tasmotaPower(1), onOff(on, "ON", "OFF"), false)
	case Z2M:
		d.pubJSON(d.z2m(), d.z2mState())
	case Shelly1:
		d.shelly1Status()
	case Shelly2:
		d.shelly2Report()
	}
}

// tele publishes periodic telemetry.
func (d *dev) tele() {
	d.mu.Lock()
	now := time.Now()
	if d.st.on {
		d.st.energyWh += d.st.power * now.Sub(d.st.lastTick).Hours()
	}
	d.st.lastTick = now
	d.mu.Unlock()
	switch d.spec.Dialect {
	case Tasmota:
		d.pubJSON(d.tasmota("tele")+"STATE", d.tasmotaState())
		if d.spec.Kind != "light" {
			d.pubJSON(d.tasmota("tele")+"SENSOR", map[string]any{"Time": now.UTC().Format("2006-01-02T15:04:05"), "ENERGY": d.tasmotaEnergy()})
		}
	case Z2M:
		d.pubJSON(d.z2m(), d.z2mState())
	case Shelly1:
		d.shelly1Status()
	case Shelly2:
		d.shelly2Report()
	}
}

func onOff[T any](on bool, yes, no T) T {
	if on {
		return yes
	}
	return no
}

// ---- Tasmota ----

func (d *dev) tasmotaState() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	m := map[string]any{
		"Time":            time.Now().UTC().Format("2006-01-02T15:04:05"),
		d.tasmotaPower(1): onOff(st.on, "ON", "OFF"),
	}
	for i, on := range st.more {
		m["POWER"+strconv.Itoa(i+2)] = onOff(on, "ON", "OFF")
	}
	if d.spec.Kind == "light" {
		m["Dimmer"] = st.bri
		m["HSBColor"] = fmt.Sprintf("%d,%d,%d", st.hue, st.sat, st.bri)
		m["CT"] = st.ct
		if st.hsv {
			m["Color"] = "FF0000" + "0000"
			if st.sat == 0 {
				m["Color"] = "FFFFFF0000"
			}
		} else {
			m["Color"] = "000000" + "8080"
		}
	}
	return m
}

func (d *dev) tasmotaEnergy() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := onOff(d.st.on, d.st.power, 0)
	return map[string]any{
		"Total":   math.Round(d.st.energyWh) / 1000,
		"Power":   p,
		"Voltage": d.st.voltage,
		"Current": math.Round(p/d.st.voltage*1000) / 1000,
	}
}

func (d *dev) tasmotaCmd(name, arg string) {
	arg = strings.TrimSpace(arg)
	stat := d.tasmota("stat")
	reply := func(keys ...string) {
		full := d.tasmotaState()
		r := map[string]any{}
		for _, k := range keys {
			r[k] = full[k]
		}
		d.pubJSON(stat+"RESULT", r)
	}
	if ch, ok := d.tasmotaRelay(name); ok {
		d.tasmotaSwitch(ch, arg, reply)
		return
	}
	switch strings.ToUpper(name) {
	case "DIMMER":
		if n, err := strconv.Atoi(arg); err == nil && n >= 0 && n <= 100 {
			d.cmds.Add(1)
			d.mu.Lock()
			d.st.bri, d.st.on = n, n > 0
			d.mu.Unlock()
		}
		reply("POWER", "Dimmer")
	case "HSBCOLOR":
		var h, s, b int
		if _, err := fmt.Sscanf(arg, "%d,%d,%d", &h, &s, &b); err == nil && h >= 0 && h <= 360 && s >= 0 && s <= 100 && b >= 0 && b <= 100 {
			d.cmds.Add(1)
			d.mu.Lock()
			d.st.hue, d.st.sat, d.st.bri, d.st.hsv, d.st.on = h%360, s, b, true, b > 0
			d.mu.Unlock()
		}
		reply("POWER", "Dimmer", "Color", "HSBColor", "CT")
	case "CT":
		if n, err := strconv.Atoi(arg); err == nil {
			d.cmds.Add(1)
			d.mu.Lock()
			d.st.ct, d.st.hsv, d.st.on = min(max(n, 153), 500), false, true
			d.mu.Unlock()
		}
		reply("POWER", "Dimmer", "Color", "HSBColor", "CT")
	case "STATE":
		d.pubJSON(stat+"RESULT", d.tasmotaState())
	case "STATUS":
		switch arg {
		case "8", "10":
			d.pubJSON(stat+"STATUS"+arg, map[string]any{"StatusSNS": map[string]any{"ENERGY": d.tasmotaEnergy()}})
		case "2":
			d.pubJSON(stat+"STATUS2", map[string]any{"StatusFWR": map[string]any{
				"Version": d.firmware(), "BuildDateTime": "2023-10-13T10:06:02", "Boot": 31, "Core": "2_7_4_9",
				"SDK": "2.2.2-dev(38a443e)", "CpuFrequency": 80, "Hardware": "ESP8266EX", "CR": "375/699",
			}})
		}
	default:
		d.pubJSON(stat+"RESULT", map[string]string{"Command": "Unknown"})
	}
}

// ---- Zigbee2MQTT ----

func (d *dev) z2mState() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	m := map[string]any{"state": onOff(st.on, "ON", "OFF"), "linkquality": 120}
	if d.spec.Kind == "light" {
		m["brightness"] = int(math.Round(float64(st.bri) * 254 / 100))
		m["color_temp"] = st.ct
		m["color"] = map[string]int{"hue": st.hue, "saturation": st.sat}
		m["color_mode"] = onOff(st.hsv, "hs", "color_temp")
	} else {
		p := onOff(st.on, st.power, 0)
		m["power"] = p
		m["voltage"] = st.voltage
		m["current"] = math.Round(p/st.voltage*1000) / 1000
		m["energy"] = math.Round(st.energyWh) / 1000
	}
	return m
}

func (d *dev) z2mCmd(set bool, p []byte) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil {
		return // z2m logs and ignores bad JSON
	}
	if set {
		d.cmds.Add(1)
		d.mu.Lock()
		st := &d.st
		var s string
		if json.Unmarshal(m["state"], &s) == nil {
			switch strings.ToUpper(s) {
			case "ON":
				st.on = true
			case "OFF":
				st.on = false
			case "TOGGLE":
				st.on = !st.on
			}
		}
		var n float64
		if json.Unmarshal(m["brightness"], &n) == nil && n >= 0 && n <= 254 {
			st.bri = int(math.Round(n * 100 / 254))
			st.on = n > 0
		}
		if json.Unmarshal(m["color_temp"], &n) == nil && n >= 150 && n <= 500 {
			st.ct, st.hsv = int(n), false
		}
		var c struct {
			Hue        *float64 `json:"hue"`
			Saturation *float64 `json:"saturation"`
		}
		if json.Unmarshal(m["color"], &c) == nil && c.Hue != nil && c.Saturation != nil {
			st.hue, st.sat, st.hsv = int(*c.Hue)%360, int(*c.Saturation), true
		}
		if json.Unmarshal(m["effect"], &s) == nil {
			st.blinks++
		}
		d.mu.Unlock()
	}
	d.pubJSON(d.z2m(), d.z2mState())
}

// ---- Shelly Gen1 ----

func (d *dev) shelly1Status() {
	for ch := range 1 + len(d.st.more) {
		d.mu.Lock()
		on := d.relayOn(ch + 1)
		p, wh := onOff(on, d.st.power, 0), d.st.energyWh
		d.mu.Unlock()
		base := "shellies/" + d.spec.Name + "/relay/" + strconv.Itoa(ch)
		d.pub(base, onOff(on, "on", "off"), false)
		d.pub(base+"/power", strconv.FormatFloat(p, 'f', 2, 64), false)
		d.pub(base+"/energy", strconv.FormatInt(int64(wh*60), 10), false) // watt-minutes
	}
}

// shelly1Cmd takes a command for relay (its index; -1: the device's
// own command topic).
func (d *dev) shelly1Cmd(relay int, arg string) {
	if relay < 0 || relay > len(d.st.more) {
		switch arg {
		case "update":
			d.shelly1Status()
		case "announce":
			d.announce()
		}
		return
	}
	d.cmds.Add(1)
	d.mu.Lock()
	switch arg {
	case "on":
		d.setRelay(relay+1, true)
	case "off":
		d.setRelay(relay+1, false)
	case "toggle":
		d.setRelay(relay+1, !d.relayOn(relay+1))
	}
	d.mu.Unlock()
	d.shelly1Status()
}
