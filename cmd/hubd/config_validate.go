package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"hubd/drivers/modbus"
	"hubd/drivers/mqtt"
	"hubd/hub"
	"hubd/hub/yandex"
)

// maxQueryCache bounds yandex.query_cache: some 600 bytes a device, so
// 100,000 devices are 60 MB.
const maxQueryCache = 100_000

// addFunc records a config error at a line.
type addFunc func(line int, format string, args ...any)

// validateGeneral checks the top-level keys: http.listen, stale_after,
// command_timeout, log.
func (c *Config) validateGeneral(root *yaml.Node, add addFunc) {
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
}

// validateSerial checks the serial buses and returns their names.
func (c *Config) validateSerial(root *yaml.Node, add addFunc) map[string]bool {
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
	return buses
}

// validateDevices checks the devices against the buses and returns their
// ids; clean says whether no error was found so far (a device is built
// only then, for the errors building finds).
func (c *Config) validateDevices(root *yaml.Node, add addFunc, buses map[string]bool, clean func() bool) map[string]bool {
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
			add(lineOf(root, "devices", i, "driver"), "device %q: driver %q is not one of %s", d.ID, d.Driver, deviceDriverList)
			continue
		}
		if d.Driver == "serial" {
			if !buses[d.Bus] {
				add(lineOf(root, "devices", i, "bus"), "device %q: serial bus %q is not defined under serial", d.ID, d.Bus)
			}
			if d.Address < 1 || d.Address > maxBusAddress {
				add(lineOf(root, "devices", i, "address"), "device %q: address %d is outside 1..%d", d.ID, d.Address, maxBusAddress)
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
		if _, err := c.device(i); err != nil && clean() {
			add(l, "%v", err)
		}
	}
	if needMQTT && c.MQTT == nil {
		add(lineOf(root, "devices"), "MQTT devices are configured but there is no mqtt section")
	}
	return ids
}

// validateMQTTSection checks the mqtt section's broker, credentials,
// refresh and listener.
func (c *Config) validateMQTTSection(root *yaml.Node, add addFunc) {
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
}

// validateSite checks the site tree: ids unique, depth, devices known and
// in one room.
func (c *Config) validateSite(root *yaml.Node, add addFunc, ids map[string]bool) {
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
}

// validateYandex checks the yandex section: users, oauth, notify.
func (c *Config) validateYandex(root *yaml.Node, add addFunc) {
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
	if q := c.Yandex.QueryCache; q < -1 || q > maxQueryCache {
		add(lineOf(root, "yandex", "query_cache"), "yandex.query_cache %d: want 0 (the default, %d), -1 (none) or up to %d devices", q, yandex.DefaultMaxCachedAnswers, maxQueryCache)
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
}

// validateAlexaSection checks the alexa section.
func (c *Config) validateAlexaSection(name string, root *yaml.Node, add addFunc) {
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
}

// validateWebUsers checks the status page's users.
func (c *Config) validateWebUsers(root *yaml.Node, add addFunc) {
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
}
