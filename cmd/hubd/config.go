package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/drivers/modbus"
	"hubd/hub"
)

// maxConfigSize bounds the config file; a real building's file is a few
// hundred kilobytes at most.
const maxConfigSize = 4 << 20

// Config is the daemon's configuration file (YAML). See systemd/hubd.yaml
// for a commented example.
type Config struct {
	Gateway        GatewayConfig  `yaml:"gateway"`
	HTTP           HTTPConfig     `yaml:"http"`
	DataDir        string         `yaml:"data_dir"`
	StaleAfter     time.Duration  `yaml:"stale_after"`
	CommandTimeout time.Duration  `yaml:"command_timeout"`
	Log            LogConfig      `yaml:"log"`
	Serial         []SerialConfig `yaml:"serial"`
	MQTT           *MQTTConfig    `yaml:"mqtt"`
	Devices        []DeviceConfig `yaml:"devices"`
	Site           []*NodeConfig  `yaml:"site"`
	Yandex         YandexConfig   `yaml:"yandex"`
	Alexa          *AlexaConfig   `yaml:"alexa"`
	Web            WebConfig      `yaml:"web"`
	ModbusConfig   `yaml:",inline"`
	Uplink         *UplinkConfig `yaml:"uplink"`

	Warnings ConfigErrors `yaml:"-"` // what validation let pass but an operator should see
	// published marks the demo's configuration, whose passwords are
	// published on purpose (DESIGN.md); a real one may not have them.
	published bool
	// keptDevs stands for Devices once the config is in force (kept);
	// nil: Devices is the list.
	keptDevs *keptDevices

	Discovery DiscoveryConfig `yaml:"discovery"` // discovery.go
}

type GatewayConfig struct {
	Name string `yaml:"name"`
}

type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

type SerialConfig struct {
	Name         string        `yaml:"name"`
	Port         string        `yaml:"port"`
	Baud         int           `yaml:"baud"`
	PollInterval time.Duration `yaml:"poll_interval"`
	Timeout      time.Duration `yaml:"timeout"`
	SerialLine   `yaml:",inline"`
}

type MQTTConfig struct {
	Broker           string `yaml:"broker"` // empty: embedded broker
	Listen           string `yaml:"listen"` // embedded broker address
	Username         string `yaml:"username"`
	Password         string `yaml:"password"`
	CAFile           string `yaml:"ca_file"`
	ClientID         string `yaml:"client_id"`
	TasmotaFullTopic string `yaml:"tasmota_full_topic"`
	Z2MBase          string `yaml:"zigbee2mqtt_base"`
	// RefreshInterval: every device is asked for its state this often, so
	// devices that report rarely (Tasmota's TelePeriod is 5 min) are not
	// taken for stale. Keep it under stale_after. Default 60s.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// The embedded broker's TLS listener (listen "" then means TLS only)
	// and bounds: see config_mqtt_broker.go.
	TLSListen   string     `yaml:"tls_listen"`
	TLSCertFile string     `yaml:"tls_cert_file"` // PEM chain; read again on SIGHUP
	TLSKeyFile  string     `yaml:"tls_key_file"`
	Limits      MQTTLimits `yaml:"limits"`
}

type RangeConfig struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

type DeviceConfig struct {
	ID           string       `yaml:"id"`
	Name         string       `yaml:"name"`
	Kind         string       `yaml:"kind"`
	Driver       string       `yaml:"driver"`  // serial, tasmota, zigbee2mqtt, shelly, shelly2
	Bus          string       `yaml:"bus"`     // serial: bus name
	Address      int          `yaml:"address"` // serial: device address 1..247
	Topic        string       `yaml:"topic"`   // tasmota topic, z2m friendly name, shelly id or prefix
	Capabilities []string     `yaml:"capabilities"`
	TemperatureK *RangeConfig `yaml:"temperature_k"`
	Slow         bool         `yaml:"slow"`
	ModbusDevice `yaml:",inline"`
	MQTTAccount  string `yaml:"mqtt_account"` // embedded broker account; default: the id (zigbee2mqtt: "zigbee2mqtt")
	MQTTOutput   `yaml:",inline"`
}

type NodeConfig struct {
	ID       string        `yaml:"id"`
	Name     string        `yaml:"name"`
	Kind     string        `yaml:"kind"`
	Devices  []string      `yaml:"devices"`
	Children []*NodeConfig `yaml:"children"`
}

type YandexConfig struct {
	Users  []YandexUser  `yaml:"users"`
	Notify *NotifyConfig `yaml:"notify"`
	OAuth  *OAuthConfig  `yaml:"oauth"`
	// QueryCache bounds the devices whose encoded devices/query answer is
	// kept (yandex.Options.MaxCachedAnswers): 0 for 2,000, -1 for none.
	QueryCache int `yaml:"query_cache"`
}

type YandexUser struct {
	ID           string   `yaml:"id"`
	Tokens       []string `yaml:"tokens"`        // sha256:<hex> (see `hubd hash-token`)
	PasswordHash string   `yaml:"password_hash"` // bcrypt; for account linking (oauth)
	// Exactly one of Homes and Staff (see config_homes.go).
	Homes []string `yaml:"homes"` // ids of site nodes of kind home
	Staff bool     `yaml:"staff"` // every device of the site
}

// OAuthConfig turns on the account-linking server the platform uses to get
// tokens by itself.
type OAuthConfig struct {
	ClientID         string        `yaml:"client_id"`
	ClientSecretHash string        `yaml:"client_secret_hash"` // sha256:<hex>
	RedirectURIs     []string      `yaml:"redirect_uris"`
	AccessTTL        time.Duration `yaml:"access_ttl"`
	RefreshTTL       time.Duration `yaml:"refresh_ttl"`
}

type NotifyConfig struct {
	URL        string `yaml:"url"`
	SkillID    string `yaml:"skill_id"`
	OAuthToken string `yaml:"oauth_token"`
	UserID     string `yaml:"user_id"`
}

type AlexaConfig struct {
	Region       string `yaml:"region"` // NA, EU, FE
	APIURL       string `yaml:"api_url"`
	TokenURL     string `yaml:"token_url"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	RefreshToken string `yaml:"refresh_token"`
	ParentID     string `yaml:"parent_id"`
	SkillID      string `yaml:"skill_id"`
	SkillStage   string `yaml:"skill_stage"`
	// SubscriptionSkillID is enabled on a property unit the sync creates
	// directly under an organization, before its floors and rooms.
	SubscriptionSkillID string        `yaml:"subscription_skill_id"`
	ParentLevel         *int          `yaml:"parent_level"` // level of parent_id: 0 the organization, 1 a property; unset: either (config_alexa.go)
	Residential         bool          `yaml:"residential"`
	SyncInterval        time.Duration `yaml:"sync_interval"`
	CallsPerSecond      float64       `yaml:"calls_per_second"` // client rate limit: 0 the default (5), negative none (config_alexa.go)
}

type WebConfig struct {
	AnonymousView bool           `yaml:"anonymous_view"`
	Users         []WebUser      `yaml:"users"`
	Guard         WebGuardConfig `yaml:",inline"` // config_web.go
}

type WebUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"` // bcrypt (see `hubd hash-password`)
	Role         string `yaml:"role"`          // technician (default) or manager (config_homes.go)
}

// ConfigError is one problem in a config file, with the line it is on.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ConfigErrors is every problem found in a file.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// loadConfigFile reads and validates a config file alone, without the
// adopted devices (LoadConfig, adopted.go).
func loadConfigFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, ConfigErrors{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", maxConfigSize)}}
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates config text; name is used in messages.
func ParseConfig(name string, data []byte) (*Config, error) {
	return parseConfig(name, data, false)
}

// parseConfig is ParseConfig; published, for the demo alone, lets its
// documented passwords through.
func parseConfig(name string, data []byte, published bool) (*Config, error) {
	root, err := parseYAMLTree(data)
	if err != nil {
		return nil, ConfigErrors{yamlError(name, err)}
	}
	if len(root.Content) == 0 {
		return nil, ConfigErrors{{File: name, Line: 1, Msg: "file is empty"}}
	}
	// The file is parsed once: the tree is checked for keys no field takes
	// (as a strict decoder would) while it is decoded (both only read it).
	unknown := make(chan []string, 1)
	go func() { unknown <- unknownFields(root, reflect.TypeFor[Config]()) }()
	var c Config
	decodeErr := root.Decode(&c)
	var es ConfigErrors
	for _, m := range <-unknown {
		es = append(es, yamlError(name, errors.New(m)))
	}
	if err := decodeErr; err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, ConfigErrors{yamlError(name, err)}
		}
		for _, m := range te.Errors {
			es = append(es, yamlError(name, errors.New(m)))
		}
	}
	if len(es) > 0 {
		sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
		return nil, es
	}
	c.applyDefaults()
	c.published = published
	if es := c.validate(name, root.Content[0]); len(es) > 0 {
		return nil, es
	}
	c.packStrings()
	return &c, nil
}

// yamlError turns "yaml: line 7: ..." into a ConfigError on line 7.
func yamlError(name string, err error) ConfigError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return ConfigError{File: name, Line: line, Msg: msg}
}

func (c *Config) applyDefaults() {
	if c.Gateway.Name == "" {
		if h, err := os.Hostname(); err == nil {
			c.Gateway.Name = h
		} else {
			c.Gateway.Name = "hubd"
		}
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/hubd"
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 2 * time.Minute
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 2 * time.Second
	}
	for i := range c.Serial {
		s := &c.Serial[i]
		if s.Baud == 0 {
			s.Baud = s.defaultBaud()
		}
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Name == "" {
			d.Name = d.ID
		}
	}
	if c.Uplink != nil {
		c.Uplink.applyDefaults(c.Gateway.Name)
	}
	if c.Alexa != nil {
		if c.Alexa.Region == "" {
			c.Alexa.Region = "NA"
		}
		if c.Alexa.SyncInterval == 0 {
			c.Alexa.SyncInterval = 15 * time.Minute
		}
		if c.Alexa.SkillStage == "" {
			c.Alexa.SkillStage = "LIVE"
		}
	}
}

// lines finds the line of a value in the YAML tree by a path of mapping
// keys (string) and sequence indexes (int); it returns the deepest line found.
func lineOf(n *yaml.Node, path ...any) int {
	line := n.Line
	for _, p := range path {
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return line
		}
		n = next
		line = n.Line
	}
	return line
}

var deviceDrivers = map[string]bool{"serial": true, "tasmota": true, "zigbee2mqtt": true, "shelly": true, "shelly2": true, "modbus": true}

// deviceDriverList is deviceDrivers for messages.
var deviceDriverList = strings.Join(slices.Sorted(maps.Keys(deviceDrivers)), ", ")

// maxBusAddress is the highest address on a serial or Modbus RTU bus
// (addresses are 1..247 on both).
const maxBusAddress = 247

func (c *Config) validate(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	add := func(line int, format string, args ...any) {
		es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	c.validateGeneral(root, add)
	buses := c.validateSerial(root, add)
	ids := c.validateDevices(root, add, buses, func() bool { return len(es) == 0 })
	c.validateMQTTSection(root, add)
	c.validateSite(root, add, ids)
	es = append(es, c.validateTenancy(name, root)...)
	c.validateYandex(root, add)
	c.validateAlexaSection(name, root, add)
	c.validateWebUsers(root, add)
	c.Web.Guard.validate(add, root)
	c.validateModbus(root, add)
	es = append(es, c.validateMQTTAccounts(name, root)...)
	es = append(es, c.validateOutputs(name, root)...)
	if !c.published {
		es = append(es, c.validatePlaceholders(name, root)...)
	}
	es = append(es, c.validateMQTTBroker(name, root)...)
	c.validateUplink(root, add)
	c.Discovery.validate(add, func(path ...any) int { return lineOf(root, path...) })
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

func validBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

func validTokenHash(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// device builds the hub's view of device i.
func (c *Config) device(i int) (hub.Device, error) {
	d := c.Devices[i]
	dev := hub.Device{ID: d.ID, Name: d.Name, Kind: hub.Kind(d.Kind), Slow: d.Slow}
	switch d.Driver {
	case "serial":
		dev.Driver = "serial"
		dev.Address = fmt.Sprintf("%s/%d", d.Bus, d.Address)
	case "tasmota", "zigbee2mqtt", "shelly", "shelly2":
		dev.Driver, dev.Address = "mqtt", mqttAddress(d)
	}
	if len(d.Capabilities) > 0 {
		dev.Pinned |= hub.PinFields
		for _, cp := range d.Capabilities {
			f, _ := hub.ParseField(cp)
			dev.Fields = dev.Fields.With(f)
		}
	} else if dev.Kind == hub.KindLight {
		dev.Fields = hub.LightFields
	} else {
		dev.Fields = hub.MeterFields.With(hub.FieldOn)
	}
	if d.Driver == modbus.Name {
		c.modbusHubDevice(d, &dev)
	}
	if dev.Fields.Has(hub.FieldTemperatureK) {
		dev.TempMinK, dev.TempMaxK = 2700, 6500
		if r := d.TemperatureK; r != nil {
			dev.Pinned |= hub.PinTempRange
			dev.TempMinK, dev.TempMaxK = r.Min, r.Max
		}
	}
	return dev, dev.Validate()
}

// HubDevices returns every configured device; once the config is in
// force (kept), the hub's, which are those.
func (c *Config) HubDevices() ([]hub.Device, error) {
	if c.keptDevs != nil {
		return c.keptDevs.hub(), nil
	}
	out := make([]hub.Device, 0, len(c.Devices))
	for i := range c.Devices {
		d, err := c.device(i)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// HubSite returns the site tree.
func (c *Config) HubSite() *hub.Site {
	var conv func(n *NodeConfig) *hub.Node
	conv = func(n *NodeConfig) *hub.Node {
		out := &hub.Node{ID: n.ID, Name: n.Name, Kind: hub.NodeKind(n.Kind), Devices: append([]string(nil), n.Devices...)}
		for _, c := range n.Children {
			if c != nil {
				out.Children = append(out.Children, conv(c))
			}
		}
		return out
	}
	s := &hub.Site{}
	for _, b := range c.Site {
		if b != nil {
			s.Buildings = append(s.Buildings, conv(b))
		}
	}
	return s
}
