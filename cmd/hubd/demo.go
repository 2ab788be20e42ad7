package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/drivers/mqtt/mqttsim"
	"hubd/firmware"
	"hubd/hub/alexa/alexatest"
	"hubd/hub/yandex"
)

// DemoOptions are the flags of `hubd demo`.
type DemoOptions struct {
	HTTP     string // listen address; loopback only
	DataDir  string // "" = under the user's cache directory
	Broker   string // "" = embedded broker
	Alexa    string // "" = in-process simulator
	Uplink   string // "" = no fleet uplink; else tcp://HOST:PORT
	LogLevel string
	// Ready, when set, is called with the bound address (tests).
	Ready func(addr string, m *Main)
	// Harness, when set, receives the serial emulator (tests stop and
	// restart its port).
	Harness func(*firmware.Harness)
}

// The demo's fixed credentials (DESIGN.md). The demo only listens on
// loopback, so they protect nothing but the habit of logging in.
const (
	demoToken    = "demo-token" // staff: every device
	demoToken101 = "demo-101"   // resident of Room 101: lamp-2, socket-2
	demoToken201 = "demo-201"   // resident of Room 201: lamp-3
	demoTechUser = "tech"
	demoTechPass = "demo-pass"
	demoMgrUser  = "manager" // role manager: the Homes and residents panel
	demoMgrPass  = "demo-manager"
	demoMQTTUser = "hubd"
	demoMQTTPass = "demo-mqtt"
)

// demoConfig is the configuration `hubd demo` runs with: two serial devices
// on the PTY at port, three MQTT devices, the demo site.
func demoConfig(o DemoOptions, port, mqttPass string) (*Config, error) {
	techHash, err := demoHash(demoTechPass)
	if err != nil {
		return nil, err
	}
	mgrHash, err := demoHash(demoMgrPass)
	if err != nil {
		return nil, err
	}
	c := &Config{
		published:      true,                        // demo-pass, demo-token...: DESIGN.md publishes them
		Gateway:        GatewayConfig{Name: "demo"}, // DESIGN.md names it
		HTTP:           HTTPConfig{Listen: o.HTTP},
		DataDir:        o.DataDir,
		StaleAfter:     15 * time.Second,
		CommandTimeout: 2 * time.Second,
		Log:            LogConfig{Level: o.LogLevel},
		Serial:         []SerialConfig{{Name: "demo0", Port: port, Baud: 115200, PollInterval: time.Second, Timeout: 200 * time.Millisecond}},
		MQTT:           &MQTTConfig{Broker: o.Broker, Listen: "127.0.0.1:0", Username: demoMQTTUser, Password: mqttPass, RefreshInterval: 5 * time.Second},
		Devices: []DeviceConfig{
			{ID: "lamp-1", Name: "Lobby lamp", Kind: "light", Driver: "serial", Bus: "demo0", Address: 1, TemperatureK: &RangeConfig{Min: 2700, Max: 6500}},
			{ID: "socket-1", Name: "Lobby socket", Kind: "socket", Driver: "serial", Bus: "demo0", Address: 2},
		},
		Site: []*NodeConfig{{ID: "demo-house", Name: "Demo House", Kind: "building", Children: []*NodeConfig{
			{ID: "floor-1", Name: "Floor 1", Kind: "floor", Children: []*NodeConfig{
				{ID: "lobby", Name: "Lobby", Kind: "room", Devices: []string{"lamp-1", "socket-1"}},
				{ID: "room-101", Name: "Room 101", Kind: "home", Devices: []string{"lamp-2", "socket-2"}},
			}},
			{ID: "floor-2", Name: "Floor 2", Kind: "floor", Children: []*NodeConfig{
				{ID: "room-201", Name: "Room 201", Kind: "home", Devices: []string{"lamp-3"}},
			}},
		}}},
		Yandex: YandexConfig{Users: []YandexUser{
			{ID: "demo-user", Tokens: []string{yandex.HashToken(demoToken)}, Staff: true},
			{ID: "demo-101", Tokens: []string{yandex.HashToken(demoToken101)}, Homes: []string{"room-101"}},
			{ID: "demo-201", Tokens: []string{yandex.HashToken(demoToken201)}, Homes: []string{"room-201"}},
		}},
		Web: WebConfig{AnonymousView: true, Users: []WebUser{{Name: demoTechUser, PasswordHash: techHash},
			{Name: demoMgrUser, PasswordHash: mgrHash, Role: roleManager}}},
	}
	names := map[string]string{"lamp-2": "Room 101 lamp", "socket-2": "Room 101 plug", "lamp-3": "Room 201 lamp"}
	for _, s := range mqttsim.Demo() {
		name := names[s.ID]
		if name == "" {
			name = s.ID
		}
		d := simDeviceConfig(s, name)
		c.Devices = append(c.Devices, d)
	}
	if o.Uplink != "" {
		c.Uplink = demoUplink(o.Uplink)
	}
	alexaURL := o.Alexa
	c.Alexa = &AlexaConfig{
		Region: "NA", APIURL: alexaURL, TokenURL: strings.TrimSuffix(alexaURL, "/") + "/auth/o2/token",
		ClientID: alexatest.DemoClientID, ClientSecret: alexatest.DemoClientSecret, RefreshToken: alexatest.DemoRefreshToken,
		ParentID: alexatest.DemoOrg, SkillID: alexatest.DemoSkill, SkillStage: "development",
		// The demo house is a property under the organization: Alexa creates
		// its floors only once a subscription skill is enabled on it.
		SubscriptionSkillID: alexatest.DemoSubscriptionSkill,
		SyncInterval:        time.Minute,
	}
	return c, nil
}

// demoHash hashes one of the demo's published passwords at bcrypt's
// lowest cost: anyone can read them, so a costly hash protects nothing,
// and each bcrypt run at the default cost delays every demo start (about
// 0.2 s here, more on a gateway; the login's unknown-user dummy follows
// the users' cost).
func demoHash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("hubd: demo password hash: %w", err)
	}
	return string(h), nil
}

// simDeviceConfig is the config entry of an emulated MQTT device.
func simDeviceConfig(s mqttsim.Spec, name string) DeviceConfig {
	d := DeviceConfig{ID: s.ID, Name: name, Kind: string(s.Kind), Topic: s.Name}
	switch s.Dialect {
	case mqttsim.Tasmota:
		d.Driver = "tasmota"
	case mqttsim.Z2M:
		d.Driver = "zigbee2mqtt"
	case mqttsim.Shelly1:
		d.Driver = "shelly"
	default:
		d.Driver = "shelly2"
	}
	for _, f := range s.Fields().List() {
		d.Capabilities = append(d.Capabilities, f.String())
	}
	if hd := s.Device(); hd.TempMaxK > 0 {
		d.TemperatureK = &RangeConfig{Min: hd.TempMinK, Max: hd.TempMaxK}
	}
	return d
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

// runDemo runs `hubd demo`.
func runDemo(ctx context.Context, o DemoOptions, stdout, stderr io.Writer) error {
	if !isLoopback(o.HTTP) {
		return usageError(fmt.Sprintf("hubd demo: -http %q: the demo listens on loopback only (127.0.0.1:PORT or [::1]:PORT)", o.HTTP))
	}
	if o.Broker != "" {
		u, err := url.Parse(o.Broker)
		if err != nil || u.Scheme != "tcp" || u.Host == "" {
			return usageError(fmt.Sprintf("hubd demo: -broker %q is not tcp://HOST:PORT", o.Broker))
		}
	}
	if err := checkDemoUplink(o.Uplink); err != nil {
		return err
	}
	if o.Alexa != "" {
		u, err := url.Parse(o.Alexa)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError(fmt.Sprintf("hubd demo: -alexa %q is not an http(s) URL", o.Alexa))
		}
	}
	if o.DataDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		o.DataDir = filepath.Join(cache, "hubd", "demo")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log := newLogger(stderr, o.LogLevel, "text")

	// The serial devices: the real firmware logic on a pseudo-terminal. The
	// link lives in its own directory so a stale one from a killed run is
	// simply replaced.
	ptyDir := filepath.Join(o.DataDir, "pty")
	os.RemoveAll(ptyDir)
	if err := os.MkdirAll(ptyDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{Model: "HL-1 demo lamp", Vendor: "hubd", MinK: 2700, MaxK: 6500, FW: [3]uint8{1, 2, 0}, VendorKey: firmware.DemoVendorPublicKey()})
	if err != nil {
		return err
	}
	sock, err := firmware.NewSocket(2, firmware.SocketConfig{Model: "HS-1 demo socket", Vendor: "hubd", FW: [3]uint8{1, 0, 3}, LoadW: 60, VendorKey: firmware.DemoVendorPublicKey()})
	if err != nil {
		return err
	}
	white, err := demoNewLamp()
	if err != nil {
		return err
	}
	harness, err := firmware.StartPTY(ptyDir, lamp, sock, white)
	if err != nil {
		return fmt.Errorf("demo: serial emulator: %w", err)
	}
	defer harness.Close()
	if o.Harness != nil {
		o.Harness(harness)
	}
	mbHarness, err := startDemoModbus(ptyDir)
	if err != nil {
		return err
	}
	defer mbHarness.Close()

	if o.Alexa == "" {
		sim := alexatest.New(alexatest.Options{})
		defer sim.Close()
		o.Alexa = sim.URL()
	}
	base, err := demoConfig(o, harness.Path(), demoMQTTPass)
	if err != nil {
		return err
	}
	addDemoModbus(base, mbHarness.Path())
	var sim *mqttsim.Sim
	m := &Main{Log: log}
	c, err := demoWithAdopted(m, base)
	if err != nil {
		return err
	}
	m.Config = c
	m.Extra = func(ctx context.Context, m *Main) error {
		broker := o.Broker
		if broker == "" {
			broker = m.MQTT.BrokerURL()
		}
		so := mqttsim.Options{
			Broker: broker, Username: c.MQTT.Username, Password: c.MQTT.Password,
			Devices: append(mqttsim.Demo(), mqttsim.DemoNew()...), Telemetry: 10 * time.Second, Logger: log.With("component", "mqttsim"),
		}
		var err error
		if o.Broker == "" {
			if so.Login, err = m.demoDeviceLogins(); err != nil {
				return err
			}
		}
		sim, err = mqttsim.Start(ctx, so)
		m.scanDemoBus(ctx, "demo0")
		return err
	}
	m.Ready = func(addr string) {
		base := "http://" + addr
		fmt.Fprintf(stdout, `hubd demo is running (state in %s)
  status page:  %s/   (controls: login %s / %s)
  serial bus:   %s  (lamp-1, socket-1)
  modbus bus:   %s  (relay-1: relay unit 1 channel 1, SDM120 meter unit 3)
  MQTT broker:  %s  (login %s / %s; lamp-2 Tasmota, socket-2 Shelly, lamp-3 Zigbee2MQTT)
  Alexa API:    %s
  try:          curl -s -H 'Authorization: Bearer %s' -H 'X-Request-Id: r1' -d '{"devices":[{"id":"lamp-1"},{"id":"socket-1"},{"id":"nope"}]}' %s/v1.0/user/devices/query
  tokens:       %s (staff: every device), %s (Room 101: lamp-2, socket-2), %s (Room 201: lamp-3)
  residents:    status page login %s / %s, or: hubd home list -data %s
Press Ctrl-C to stop.
`, o.DataDir, base, demoTechUser, demoTechPass, harness.Path(), mbHarness.Path(), m.MQTT.BrokerURL(), demoMQTTUser, demoMQTTPass, o.Alexa, demoToken, base,
			demoToken, demoToken101, demoToken201, demoMgrUser, demoMgrPass, o.DataDir)
		if o.Ready != nil {
			o.Ready(addr, m)
		}
	}
	if err := m.Open(); err != nil {
		return err
	}
	err = m.Run(ctx)
	if sim != nil {
		sim.Close()
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
