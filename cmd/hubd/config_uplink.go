package main

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/hub"
	"hubd/hub/uplink"
	"hubd/store"
)

// UplinkConfig is the `uplink:` section: the gateway's connection to the
// fleet's MQTT broker, independent of the device-side mqtt section.
type UplinkConfig struct {
	Broker   string `yaml:"broker"`    // tcp://HOST:PORT or ssl://HOST:PORT
	CAFile   string `yaml:"ca_file"`   // ssl://: CA of the broker; empty: system roots
	CertFile string `yaml:"cert_file"` // mutual TLS: client certificate
	KeyFile  string `yaml:"key_file"`  // mutual TLS: its key
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	ClientID string `yaml:"client_id"` // default hubd-<gateway.name>
	Prefix   string `yaml:"prefix"`    // default hubd/<gateway.name>
	QoS      *int   `yaml:"qos"`       // default 1
	// Commands accepts commands on <prefix>/v1/devices/<id>/set.
	Commands bool `yaml:"commands"`
	// CommandMaxAge refuses a command whose "at" is older. Default 30s.
	CommandMaxAge time.Duration `yaml:"command_max_age"`
	// HomeAssistant publishes MQTT discovery configs.
	HomeAssistant   bool   `yaml:"homeassistant"`
	DiscoveryPrefix string `yaml:"discovery_prefix"` // default homeassistant
	// HealthInterval: health is published this often. Default 60s.
	HealthInterval time.Duration `yaml:"health_interval"`
	// QueueMaxEvents and QueueMaxBytes bound the events kept on disk while
	// the uplink is down; the oldest are dropped (and counted) beyond
	// them. Defaults 100000 and 67108864 (64 MiB).
	QueueMaxEvents int   `yaml:"queue_max_events"`
	QueueMaxBytes  int64 `yaml:"queue_max_bytes"`
}

// uplinkQueue is the store namespace of the uplink's event queue.
const uplinkQueue = "uplink-events"

var _ uplink.Queue = (*store.Queue)(nil)

func (u *UplinkConfig) applyDefaults(gateway string) {
	if u.Prefix == "" {
		u.Prefix = "hubd/" + gateway
	}
	if u.QoS == nil {
		u.QoS = new(int)
		*u.QoS = 1
	}
	if u.CommandMaxAge == 0 {
		u.CommandMaxAge = 30 * time.Second
	}
	if u.HealthInterval == 0 {
		u.HealthInterval = time.Minute
	}
	if u.QueueMaxEvents == 0 {
		u.QueueMaxEvents = store.DefaultQueueItems
	}
	if u.QueueMaxBytes == 0 {
		u.QueueMaxBytes = store.DefaultQueueBytes
	}
}

// validateUplink checks the uplink section; add reports one problem.
func (c *Config) validateUplink(root *yaml.Node, add func(line int, format string, args ...any)) {
	u := c.Uplink
	if u == nil {
		return
	}
	at := func(key string) int { return lineOf(root, "uplink", key) }
	if !strings.HasPrefix(u.Broker, "tcp://") && !strings.HasPrefix(u.Broker, "ssl://") {
		add(at("broker"), "uplink.broker %q must be tcp://HOST:PORT or ssl://HOST:PORT", u.Broker)
	}
	if (u.CertFile == "") != (u.KeyFile == "") {
		add(at("cert_file"), "uplink.cert_file and uplink.key_file go together (mutual TLS)")
	}
	if (u.CAFile != "" || u.CertFile != "") && !strings.HasPrefix(u.Broker, "ssl://") {
		add(at("broker"), "uplink.ca_file and cert_file need an ssl:// broker")
	}
	if *u.QoS < 0 || *u.QoS > 2 {
		add(at("qos"), "uplink.qos %d is not 0, 1 or 2", *u.QoS)
	}
	if u.Prefix == "" || strings.ContainsAny(u.Prefix, "#+") || strings.HasPrefix(u.Prefix, "/") {
		add(at("prefix"), "uplink.prefix %q must be a topic without wildcards or a leading /", u.Prefix)
	}
	if u.CommandMaxAge < time.Second {
		add(at("command_max_age"), "uplink.command_max_age %v is shorter than 1s", u.CommandMaxAge)
	}
	if u.HealthInterval < time.Second {
		add(at("health_interval"), "uplink.health_interval %v is shorter than 1s", u.HealthInterval)
	}
	if u.QueueMaxEvents < 1 || u.QueueMaxEvents > 10_000_000 {
		add(at("queue_max_events"), "uplink.queue_max_events %d is outside 1..10000000", u.QueueMaxEvents)
	}
	if u.QueueMaxBytes < 64<<10 || u.QueueMaxBytes > 1<<30 {
		add(at("queue_max_bytes"), "uplink.queue_max_bytes %d is outside 64 KiB..1 GiB", u.QueueMaxBytes)
	}
}

// openUplink builds the uplink of m's config (nil when there is none).
func (m *Main) openUplink() (*uplink.Uplink, error) {
	u := m.Config.Uplink
	if u == nil {
		return nil, nil
	}
	q, err := m.DB.Queue(uplinkQueue, store.QueueOptions{MaxItems: u.QueueMaxEvents, MaxBytes: u.QueueMaxBytes})
	if err != nil {
		return nil, err
	}
	o := uplink.Options{
		Broker: u.Broker, CAFile: u.CAFile, CertFile: u.CertFile, KeyFile: u.KeyFile,
		Username: u.Username, Password: u.Password, ClientID: u.ClientID,
		Gateway: m.Config.Gateway.Name, Prefix: u.Prefix, QoS: byte(*u.QoS),
		Commands: u.Commands, MaxCommandAge: u.CommandMaxAge,
		HomeAssistant: u.HomeAssistant, DiscoveryPrefix: u.DiscoveryPrefix,
		HealthInterval: u.HealthInterval,
		Hub:            m.Hub, Queue: q, Version: version, Commit: commit, Started: m.started,
		Logger: m.Log.With("component", "uplink"),
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if m.Serial != nil || m.Modbus != nil {
		o.Buses = m.busStatus // serial and Modbus buses, as the status page shows them
	}
	if m.MQTT != nil {
		o.Brokers = m.MQTT.Status
	}
	return uplink.New(o)
}

// uplinkReload refuses a reload that changes the uplink section: the
// connection is made once, at start.
func uplinkReload(old, c *Config) error {
	if !reflect.DeepEqual(old.Uplink, c.Uplink) {
		return errors.New("reload: a changed uplink section needs a restart")
	}
	return nil
}

// demoUplinkPrefix is where `hubd demo -uplink` publishes (DESIGN.md).
const demoUplinkPrefix = "hubd/demo"

// demoUplink is the demo's uplink section for `-uplink URL`.
func demoUplink(broker string) *UplinkConfig {
	u := &UplinkConfig{Broker: broker, Prefix: demoUplinkPrefix, ClientID: "hubd-demo", HealthInterval: 10 * time.Second}
	u.applyDefaults("demo")
	return u
}

func checkDemoUplink(broker string) error {
	if broker == "" {
		return nil
	}
	u, err := url.Parse(broker)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.Port() == "" {
		return usageError(fmt.Sprintf("hubd demo: -uplink %q is not tcp://HOST:PORT", broker))
	}
	return nil
}

// uplinkStatus is web.Options.Uplink: the uplink's status, or before it is
// opened (the status page is built first) its broker alone.
func (m *Main) uplinkStatus() hub.UplinkStatus {
	if m.Uplink == nil {
		return hub.UplinkStatus{Broker: m.config().Uplink.Broker}
	}
	return m.Uplink.Status()
}
