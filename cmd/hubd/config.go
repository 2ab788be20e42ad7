package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/drivers/modbus"
	"hubd/drivers/mqtt"
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
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, ConfigErrors{yamlError(name, err)}
	}
	if len(root.Content) == 0 {
		return nil, ConfigErrors{{File: name, Line: 1, Msg: "file is empty"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var es ConfigErrors
			for _, m := range te.Errors {
				es = append(es, yamlError(name, errors.New(m)))
			}
			return nil, es
		}
		return nil, ConfigErrors{yamlError(name, err)}
	}
	c.applyDefaults()
	c.published = published
	if es := c.validate(name, root.Content[0]); len(es) > 0 {
		return nil, es
	}
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

func (c *Config) validate(name string, root *yaml.Node) ConfigErrors {
	var es ConfigErrors
	add := func(line int, format string, args ...any) {
		es = append(es, ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		add(lineOf(root, "http", "listen"), "http.listen %q is not host:port", c.HTTP.Listen)
	}
	if c.StaleAfter < time.Second {
		add(lineOf(root, "stale_after"), "stale_after %v is shorter than 1s", c.StaleAfter)
	}
	if c.CommandTimeout < 100*time.Millisecond || c.CommandTimeout > 2500*time.Millisecond {
		add(lineOf(root, "command_timeout"), "command_timeout %v must be between 100ms and 2.5s (voice platforms give up after about 3s)", c.CommandTimeout)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		add(lineOf(root, "log", "level"), "log.level %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add(lineOf(root, "log", "format"), "log.format %q is not text or json", c.Log.Format)
	}

	buses := map[string]bool{}
	for i, s := range c.Serial {
		l := lineOf(root, "serial", i)
		switch {
		case s.Name == "":
			add(l, "serial bus has no name")
		case buses[s.Name]:
			add(l, "serial bus %q is defined twice", s.Name)
		}
		if s.Port == "" {
			add(l, "serial bus %q has no port", s.Name)
		}
		if s.Baud < 1200 || s.Baud > 4000000 {
			add(lineOf(root, "serial", i, "baud"), "serial bus %q: baud %d is not a serial speed", s.Name, s.Baud)
		}
		if s.PollInterval != 0 && s.PollInterval < 100*time.Millisecond {
			add(lineOf(root, "serial", i, "poll_interval"), "serial bus %q: poll_interval %v is shorter than 100ms", s.Name, s.PollInterval)
		}
		buses[s.Name] = true
	}

	ids := map[string]bool{}
	serialAddr := map[string]string{}
	mqttAddr := map[string]string{}
	needMQTT := false
	for i, d := range c.Devices {
		l := lineOf(root, "devices", i)
		if d.ID == "" {
			add(l, "device has no id")
			continue
		}
		if ids[d.ID] {
			add(lineOf(root, "devices", i, "id"), "device id %q is used twice", d.ID)
		}
		ids[d.ID] = true
		if d.Kind != string(hub.KindLight) && d.Kind != string(hub.KindSocket) {
			add(lineOf(root, "devices", i, "kind"), "device %q: kind %q is not light or socket", d.ID, d.Kind)
		}
		if !deviceDrivers[d.Driver] {
			add(lineOf(root, "devices", i, "driver"), "device %q: driver %q is not one of serial, tasmota, zigbee2mqtt, shelly, shelly2, modbus", d.ID, d.Driver)
			continue
		}
		if d.Driver == "serial" {
			if !buses[d.Bus] {
				add(lineOf(root, "devices", i, "bus"), "device %q: serial bus %q is not defined under serial", d.ID, d.Bus)
			}
			if d.Address < 1 || d.Address > 247 {
				add(lineOf(root, "devices", i, "address"), "device %q: address %d is outside 1..247", d.ID, d.Address)
			}
			key := fmt.Sprintf("%s/%d", d.Bus, d.Address)
			if other, ok := serialAddr[key]; ok {
				add(lineOf(root, "devices", i, "address"), "device %q: bus %s address %d is already used by %q", d.ID, d.Bus, d.Address, other)
			}
			serialAddr[key] = d.ID
		} else if d.Driver != modbus.Name {
			needMQTT = true
			if d.Topic == "" {
				add(l, "device %q: driver %s needs a topic", d.ID, d.Driver)
			} else if err := c.topicError(i); err != nil {
				add(lineOf(root, "devices", i, "topic"), "device %q: %v", d.ID, err)
			}
			key := mqttAddress(d)
			if other, ok := mqttAddr[key]; ok {
				add(lineOf(root, "devices", i, "topic"), "device %q: %s topic %q is already used by %q", d.ID, d.Driver, d.Topic, other)
			}
			mqttAddr[key] = d.ID
		}
		for j, cp := range d.Capabilities {
			if _, ok := hub.ParseField(cp); !ok {
				add(lineOf(root, "devices", i, "capabilities", j), "device %q: unknown capability %q (known: %s)", d.ID, cp, hub.FieldSet(1<<hub.NumFields-1))
			}
		}
		if r := d.TemperatureK; r != nil && (r.Min < 1000 || r.Max > 20000 || r.Min >= r.Max) {
			add(lineOf(root, "devices", i, "temperature_k"), "device %q: temperature_k range %d..%d is not within 1000..20000 K", d.ID, r.Min, r.Max)
		}
		if _, err := c.device(i); err != nil && len(es) == 0 {
			add(l, "%v", err)
		}
	}
	if needMQTT && c.MQTT == nil {
		add(lineOf(root, "devices"), "MQTT devices are configured but there is no mqtt section")
	}
	if m := c.MQTT; m != nil {
		if m.Broker != "" && !strings.HasPrefix(m.Broker, "tcp://") && !strings.HasPrefix(m.Broker, "ssl://") && !strings.HasPrefix(m.Broker, "mqtt://") && !strings.HasPrefix(m.Broker, "mqtts://") {
			add(lineOf(root, "mqtt", "broker"), "mqtt.broker %q must start with tcp:// or ssl://", m.Broker)
		}
		if m.Broker == "" && (m.Username == "" || m.Password == "") {
			add(lineOf(root, "mqtt"), "the embedded MQTT broker needs mqtt.username and mqtt.password")
		}
		if m.RefreshInterval != 0 && (m.RefreshInterval < time.Second || m.RefreshInterval >= c.StaleAfter) {
			add(lineOf(root, "mqtt", "refresh_interval"), "mqtt.refresh_interval %v must be at least 1s and shorter than stale_after (%v)", m.RefreshInterval, c.StaleAfter)
		}
		if m.RefreshInterval == 0 && c.StaleAfter <= mqtt.DefaultRefreshInterval {
			add(lineOf(root, "stale_after"), "stale_after %v is not longer than the MQTT state refresh (%v): set mqtt.refresh_interval shorter", c.StaleAfter, mqtt.DefaultRefreshInterval)
		}
		if m.Broker == "" && m.Listen != "" {
			if _, _, err := net.SplitHostPort(m.Listen); err != nil {
				add(lineOf(root, "mqtt", "listen"), "mqtt.listen %q is not host:port", m.Listen)
			}
		}
	}

	// The site: ids unique, depth, devices known and in one room.
	seen := map[string]bool{}
	inRoom := map[string]string{}
	var walk func(ns []*NodeConfig, path []any, depth int)
	walk = func(ns []*NodeConfig, path []any, depth int) {
		for i, n := range ns {
			p := append(append([]any(nil), path...), i)
			l := lineOf(root, p...)
			if n == nil {
				add(l, "empty site node")
				continue
			}
			switch {
			case n.ID == "":
				add(l, "site node %q has no id", n.Name)
			case seen[n.ID]:
				add(lineOf(root, append(p, "id")...), "site node id %q is used twice", n.ID)
			}
			seen[n.ID] = true
			if n.Name == "" {
				add(l, "site node %q has no name", n.ID)
			}
			switch hub.NodeKind(n.Kind) {
			case hub.NodeBuilding, hub.NodeFloor, hub.NodeWing, hub.NodeRoom, hub.NodeHome, "":
			default:
				add(lineOf(root, append(p, "kind")...), "site node %q: kind %q is not building, floor, wing, room or home", n.ID, n.Kind)
			}
			if depth > hub.MaxSiteDepth {
				add(l, "site node %q is %d levels deep; Alexa allows at most %d", n.ID, depth, hub.MaxSiteDepth)
			}
			for j, d := range n.Devices {
				dl := lineOf(root, append(p, "devices", j)...)
				if !ids[d] {
					add(dl, "site node %q lists unknown device %q", n.ID, d)
				}
				if other, ok := inRoom[d]; ok {
					add(dl, "device %q is in both %q and %q", d, other, n.ID)
				}
				inRoom[d] = n.ID
			}
			walk(n.Children, append(p, "children"), depth+1)
		}
	}
	walk(c.Site, []any{"site"}, 1)
	es = append(es, c.validateTenancy(name, root)...)

	users := map[string]bool{}
	for i, u := range c.Yandex.Users {
		l := lineOf(root, "yandex", "users", i)
		if u.ID == "" {
			add(l, "yandex user has no id")
		}
		if users[u.ID] {
			add(l, "yandex user %q is defined twice", u.ID)
		}
		users[u.ID] = true
		for j, t := range u.Tokens {
			if !validTokenHash(t) {
				add(lineOf(root, "yandex", "users", i, "tokens", j), "yandex user %q: token must be sha256:<64 hex digits> (make one with `hubd hash-token`), never the token itself", u.ID)
			}
		}
	}
	for i, u := range c.Yandex.Users {
		if u.PasswordHash != "" && !validBcrypt(u.PasswordHash) {
			add(lineOf(root, "yandex", "users", i, "password_hash"), "yandex user %q: password_hash must be a bcrypt hash (make one with `hubd hash-password`)", u.ID)
		}
	}
	if o := c.Yandex.OAuth; o != nil {
		l := lineOf(root, "yandex", "oauth")
		if o.ClientID == "" || len(o.RedirectURIs) == 0 {
			add(l, "yandex.oauth needs client_id and redirect_uris")
		}
		if !validTokenHash(o.ClientSecretHash) {
			add(lineOf(root, "yandex", "oauth", "client_secret_hash"), "yandex.oauth.client_secret_hash must be sha256:<64 hex digits> (make one with `hubd hash-token SECRET`)")
		}
		for j, u := range o.RedirectURIs {
			if !strings.HasPrefix(u, "https://") {
				add(lineOf(root, "yandex", "oauth", "redirect_uris", j), "yandex.oauth redirect URI %q must be https://", u)
			}
		}
		// Logins may also come from `hubd home set-login` (the store), so
		// none in the file is fine.
	}
	if n := c.Yandex.Notify; n != nil {
		if n.SkillID == "" || n.OAuthToken == "" {
			add(lineOf(root, "yandex", "notify"), "yandex.notify needs skill_id and oauth_token")
		}
		if n.UserID != "" && !users[n.UserID] {
			add(lineOf(root, "yandex", "notify", "user_id"), "yandex.notify.user_id %q is not one of yandex.users", n.UserID)
		}
	}
	if a := c.Alexa; a != nil {
		switch a.Region {
		case "NA", "EU", "FE":
		default:
			add(lineOf(root, "alexa", "region"), "alexa.region %q is not NA, EU or FE", a.Region)
		}
		if a.ClientID == "" || a.ClientSecret == "" || a.ParentID == "" || a.SkillID == "" {
			add(lineOf(root, "alexa"), "alexa needs client_id, client_secret, parent_id and skill_id (and a refresh_token or a `hubd alexa login`)")
		}
		if a.SyncInterval < time.Minute {
			add(lineOf(root, "alexa", "sync_interval"), "alexa.sync_interval %v is shorter than 1m", a.SyncInterval)
		}
		if a.Residential && a.Region != "NA" {
			add(lineOf(root, "alexa", "residential"), "Alexa for Residential is only available in the NA region (US, CA)")
		}
		c.validateAlexa(name, root, add)
	}
	webUsers := map[string]bool{}
	for i, u := range c.Web.Users {
		l := lineOf(root, "web", "users", i)
		if u.Name == "" {
			add(l, "web user has no name")
		}
		if webUsers[u.Name] {
			add(l, "web user %q is defined twice", u.Name)
		}
		webUsers[u.Name] = true
		if !validBcrypt(u.PasswordHash) && !isPlaceholder(u.PasswordHash) {
			add(lineOf(root, "web", "users", i, "password_hash"), "web user %q: password_hash must be a bcrypt hash (make one with `hubd hash-password`)", u.Name)
		}
	}
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

// HubDevices returns every configured device.
func (c *Config) HubDevices() ([]hub.Device, error) {
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
