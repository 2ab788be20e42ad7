package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"hubd/drivers/modbus"
	"hubd/drivers/mqtt"
	"hubd/drivers/serial"
	"hubd/hub"
	"hubd/hub/alexa"
	"hubd/hub/uplink"
	"hubd/hub/web"
	"hubd/hub/yandex"
	"hubd/store"
)

// shutdownTimeout bounds a graceful stop; the unit's TimeoutStopSec is a
// little longer.
const shutdownTimeout = 5 * time.Second

// Main is the running daemon: every component, wired from a Config.
type Main struct {
	Config *Config
	Log    *slog.Logger
	// Extra lets the demo hook emulators in once the hub is up; it runs
	// before the listener opens.
	Extra func(ctx context.Context, m *Main) error
	// Ready is called once the store and the listener are up.
	Ready func(addr string)
	// AlexaHTTP replaces the Alexa client's HTTP client (the demo's simulator).
	AlexaHTTP *http.Client

	DB       *store.DB
	Ledger   *store.Ledger
	Hub      *hub.Hub
	Serial   *serial.Driver
	Modbus   *modbus.Driver
	MQTT     *mqtt.Driver
	Yandex   *yandex.Handler
	Notifier *yandex.Notifier
	Alexa    *alexa.Syncer
	Web      *web.Server
	Uplink   *uplink.Uplink
	Addr     string // the bound HTTP address
	// Residents gives homes their resident logins and checks them out.
	Residents *residents
	// AdminMaxConns bounds the admin socket's open connections; more are
	// closed at once and counted in adminRefused. Zero: 4.
	AdminMaxConns int
	adminRefused  atomic.Uint64
	// trace times the start-up's steps for "hubd started"; nil: not timed.
	trace *startupTrace
	// early is the store opened while the config was parsed
	// (startup_store.go); nil: Open opens it.
	early *earlyStore
	// settleGC ends the start-up's collector tuning (startup_gc.go); Run
	// calls it once it serves. Nil: none.
	settleGC func()

	mqttCreds *mqttCredentials // device accounts' passwords (mqtt section only)
	// Base loads the configuration without the adopted devices (the
	// config file alone); nil turns adoption off (discovery.go).
	Base     func() (*Config, error)
	Adoption *Adoption

	started time.Time
	alarms  alarmBook  // what the ledger found, until acknowledged
	cfgMu   sync.Mutex // Config is replaced by Reload while Run reads it
	applyMu sync.Mutex // orders Reload and adoptions: each reads, then applies
	wg      sync.WaitGroup
	lnErr   error
	lnMu    sync.Mutex
}

// Open builds every component; Run starts them.
func (m *Main) Open() (err error) {
	c := m.Config
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	m.started = time.Now()
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var states hub.Store
	if p := m.early.take(c.DataDir, m.Log.With("component", "store")); p != nil {
		m.DB, states = p.DB, p
		m.trace.span("store_early", m.early.took)
	} else {
		// A corrupt file is moved aside: the ledger reports it and keeps
		// what was revoked revoked.
		m.DB, err = store.Open(filepath.Join(c.DataDir, "hubd.db"), store.Options{Logger: m.Log.With("component", "store"), MoveAsideCorrupt: true})
		if err != nil {
			return err
		}
		states = m.DB
	}
	m.trace.step("store_open")
	defer func() {
		if err != nil {
			if m.Hub != nil {
				m.Hub.Close()
			}
			m.DB.Close()
		}
	}()
	if err := m.openLedger(); err != nil {
		return err
	}
	m.trace.step("ledger")
	devs, err := c.HubDevices()
	if err != nil {
		return err
	}
	site := c.HubSite()
	m.trace.step("hub_devices")
	var mqttMsg string
	mqttDone := func() error { return nil }
	if c.MQTT != nil {
		if mqttMsg, err = m.openMQTTCredentials(); err != nil {
			return err
		}
		mqttDone = m.openMQTTAside(c, devs)
		m.trace.step("mqtt_credentials")
	}
	defer func() {
		if derr := mqttDone(); err == nil {
			err = derr
		}
	}()
	m.Hub, err = hub.New(devs, site, hub.Options{
		StaleAfter:     c.StaleAfter,
		CommandTimeout: c.CommandTimeout,
		Store:          states,
		Logger:         m.Log.With("component", "hub"),
	})
	if err != nil {
		return err
	}
	m.trace.step("hub_new")
	if err := m.DB.PutSite(site); err != nil {
		return err
	}
	m.trace.step("put_site")
	if len(c.Serial) > 0 {
		m.Serial, err = serial.New(serialOptions(c, devs, m))
		if err != nil {
			return err
		}
		m.Hub.SetDriver(serial.Name, m.Serial)
	}
	if err := m.openModbus(); err != nil {
		return err
	}
	if c.MQTT != nil {
		err = mqttDone()
		mqttDone = func() error { return nil }
		if err != nil {
			return err
		}
		m.Hub.SetDriver(mqtt.DriverName, m.MQTT)
		if mqttMsg != "" {
			m.Hub.Log("error", "hubd", "", mqttMsg)
		}
		m.trace.step("mqtt_new")
	}
	// From here on the daemon keeps the config without its device list,
	// which the hub and the drivers now hold (kept).
	c = c.kept(m.Hub.Devices)
	m.cfgMu.Lock()
	m.Config = c
	m.cfgMu.Unlock()
	m.Residents = &residents{m: m, cfg: c}
	if err := m.openAdoption(); err != nil {
		return err
	}
	m.trace.step("adoption")
	m.Web, err = web.New(m.Hub, m.webOptions())
	if err != nil {
		return err
	}
	m.trace.step("web_new")
	users, err := m.Residents.users(c)
	if err != nil {
		return err
	}
	m.trace.step("residents")
	yo := yandex.Options{
		Users:      users,
		Revoked:    m.DB.Bucket(bucketRevoked),
		Journal:    m.Ledger,
		Logger:     m.Log.With("component", "yandex"),
		Observe:    m.Web.ObserveAPI,
		Reportable: c.Yandex.Notify != nil,

		MaxCachedAnswers: c.Yandex.QueryCache,
	}
	if o := c.Yandex.OAuth; o != nil {
		yo.OAuth = &yandex.OAuthOptions{
			ClientID: o.ClientID, ClientSecretHash: o.ClientSecretHash, RedirectURIs: o.RedirectURIs,
			AccessTTL: o.AccessTTL, RefreshTTL: o.RefreshTTL, Tokens: guardedKV{m.DB.Bucket(bucketTokens), m.Ledger},
			ClientIP:  m.Web.ClientAddr, // web.trusted_proxies apply to the OAuth login too
			RecordKey: m.Ledger.SubKey("yandex-oauth-records"),
		}
	}
	m.Yandex, err = yandex.New(m.Hub, yo)
	if err != nil {
		return err
	}
	if n := c.Yandex.Notify; n != nil {
		m.Notifier, err = yandex.NewNotifier(m.Hub, yandex.NotifierOptions{
			BaseURL: n.URL, SkillID: n.SkillID, OAuthToken: n.OAuthToken, UserID: n.UserID,
			Recipients: notifyRecipients(m.Yandex, n.UserID),
			Logger:     m.Log.With("component", "notifier"),
		})
		if err != nil {
			return err
		}
	}
	if a := c.Alexa; a != nil {
		m.Alexa, err = alexa.New(site, alexaOptions(a, m))
		if err != nil {
			return err
		}
	}
	m.trace.step("yandex_alexa")
	m.Uplink, err = m.openUplink()
	m.trace.step("uplink")
	return err
}

func serialOptions(c *Config, devs []hub.Device, m *Main) serial.Options {
	o := serial.Options{Apply: m.Hub.Apply, Logger: m.Log, Events: m.Hub.LogEvent}
	for _, b := range c.Serial {
		if b.isModbus() {
			continue
		}
		o.Buses = append(o.Buses, serial.BusConfig{Name: b.Name, Port: b.Port, Baud: b.Baud, PollInterval: b.PollInterval, Timeout: b.Timeout})
	}
	o.Devices = devicesOf(devs, serial.Name)
	return o
}

// devicesOf returns the devices owned by driver.
func devicesOf(devs []hub.Device, driver string) []hub.Device {
	var out []hub.Device
	for _, d := range devs {
		if d.Driver == driver {
			out = append(out, d)
		}
	}
	return out
}

func mqttOptions(c *Config, devs []hub.Device, m *Main) mqtt.Options {
	mc := c.MQTT
	o := mqtt.Options{
		Broker: mc.Broker, Listen: mc.Listen, Username: mc.Username, Password: mc.Password,
		CAFile: mc.CAFile, ClientID: mc.ClientID, TasmotaFullTopic: mc.TasmotaFullTopic, Z2MBase: mc.Z2MBase,
		RefreshInterval: mc.RefreshInterval,
		Logger:          m.Log,
		// m.Hub when called: the driver is built while the hub is made
		// (openMQTTAside), and reports nothing before Run.
		Apply:  func(r hub.Report) error { return m.Hub.Apply(r) },
		Events: func(ev hub.Event) { m.Hub.LogEvent(ev) },
	}
	o.Devices = devicesOf(devs, mqtt.DriverName)
	o.DeviceAccounts, o.CheckPassword, o.PasswordStamp = c.mqttDeviceAccounts(), m.mqttCreds.Check, m.mqttCreds.stamp
	mc.embeddedBrokerOptions(&o)
	return o
}

func yandexUsers(c *Config) []yandex.User {
	var out []yandex.User
	for _, u := range c.Yandex.Users {
		out = append(out, yandex.User{ID: u.ID, TokenHashes: append([]string(nil), u.Tokens...), PasswordHash: u.PasswordHash, Scope: scopeOf(u)})
	}
	return out
}

func alexaOptions(a *AlexaConfig, m *Main) alexa.Options {
	return alexa.Options{
		Region: a.Region, APIBase: a.APIURL, TokenURL: a.TokenURL, RatePerSecond: a.CallsPerSecond,
		ClientID: a.ClientID, ClientSecret: a.ClientSecret, RefreshToken: a.RefreshToken,
		ParentID: a.ParentID, SkillID: a.SkillID, SkillStage: a.SkillStage, Residential: a.Residential,
		SubscriptionSkillID: a.SubscriptionSkillID,
		KV:                  m.DB.Bucket("alexa"), HTTPClient: m.AlexaHTTP,
		Logger: m.Log.With("component", "alexa"),
	}
}

func webUsers(c *Config) []web.User {
	var out []web.User
	for _, u := range c.Web.Users {
		out = append(out, web.User{Name: u.Name, PasswordHash: u.PasswordHash, Role: u.Role})
	}
	return out
}

func (m *Main) webOptions() web.Options {
	c := m.Config
	o := web.Options{
		Name: c.Gateway.Name, Version: version, Commit: commit, Started: m.started,
		Users: webUsers(c), AllowAnonymousView: c.Web.AnonymousView,
		StoreSize:    func() int64 { n, _ := m.DB.Size(); return n },
		StorePending: func() int { return m.DB.Stats().Pending },
		Health:       m.health,
		Alarms:       m.Alarms,
		Homes:        m.Residents,
		AckAlarms:    m.AckAlarms,
		Logger:       m.Log.With("component", "web"),
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	m.applyWebGuard(&o)
	if m.Adoption != nil {
		o.Adoption = m.Adoption
	}
	if len(c.Serial) > 0 {
		o.Buses = m.busStatus
		if m.Serial != nil {
			o.UpdateFirmware = func(ctx context.Context, id string, image []byte, downgrade bool, progress func(sent, total int)) error {
				return m.Serial.UpdateFirmwareWith(ctx, id, image, serial.UpdateOptions{AllowDowngrade: downgrade}, progress)
			}
		}
	}
	if c.MQTT != nil {
		o.Brokers = func() []hub.BrokerStatus { return m.MQTT.Status() }
		m.mqttWebOptions(&o)
	}
	if c.Yandex.Notify != nil {
		o.Notifier = func() hub.NotifierStatus { return m.Notifier.Status() }
	}
	if c.Alexa != nil {
		o.Alexa = func() hub.SyncStatus { return m.Alexa.Status() }
		o.SyncNow = func(ctx context.Context) error { _, err := m.Alexa.Sync(ctx); return err }
	}
	if c.Uplink != nil {
		o.Uplink = m.uplinkStatus
	}
	return o
}

// health is 200 on /healthz when the store answers and the listener is up.
func (m *Main) health() error {
	if _, err := m.DB.Site(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if st := m.DB.Stats(); st.LastError != "" {
		return fmt.Errorf("store: last commit failed at %s: %s", st.LastErrorAt.Format(time.RFC3339), st.LastError)
	}
	m.lnMu.Lock()
	defer m.lnMu.Unlock()
	if m.lnErr != nil {
		return fmt.Errorf("http listener: %w", m.lnErr)
	}
	return nil
}

// Handler is the one HTTP handler: the Yandex API under /v1.0, the status
// page and its feeds everywhere else.
func (m *Main) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1.0", m.Yandex)
	mux.Handle("/v1.0/", m.Yandex)
	mux.Handle("/oauth/", m.Yandex)
	mux.Handle("/", m.Web.Handler())
	return m.Web.Guard(mux)
}

// Run starts the drivers, integrations and the listener, and blocks until
// ctx is done; then it shuts everything down in reverse order.
func (m *Main) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	goRun := func(name string, fn func(context.Context) error) {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				m.Log.Error("component stopped", "component", name, "err", err)
			}
		}()
	}
	if m.Serial != nil {
		goRun("serial", m.Serial.Run)
	}
	if m.Modbus != nil {
		goRun("modbus", m.Modbus.Run)
	}
	if m.MQTT != nil {
		goRun("mqtt", m.MQTT.Run)
	}
	goRun("discovery", m.Adoption.Run)
	if m.Notifier != nil {
		goRun("notifier", m.Notifier.Run)
	}
	if m.Uplink != nil {
		goRun("uplink", m.Uplink.Run)
	}
	if m.Alexa != nil {
		interval := m.config().Alexa.SyncInterval
		goRun("alexa", func(ctx context.Context) error { return m.Alexa.Run(ctx, interval) })
	}
	m.trace.step("run_components")
	if m.Extra != nil {
		if err := m.Extra(ctx, m); err != nil {
			cancel()
			m.wg.Wait()
			m.close()
			return err
		}
	}
	cfg := m.config()
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		cancel()
		m.wg.Wait()
		m.close()
		return fmt.Errorf("http: listen %s: %w", cfg.HTTP.Listen, err)
	}
	m.Addr = ln.Addr().String()
	stopAdmin, err := m.startAdmin(cfg.DataDir)
	if err != nil {
		stopAdmin = func() {}
		m.Log.Warn("admin socket is off: `hubd home ...` and `hubd mqtt-account ...` can not reach this daemon", "err", err)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	m.trace.step("listen")
	// Parsing the config and opening the store and the drivers leave
	// freed pages behind that the runtime would return to the OS only
	// minutes later (1-4 MB with 1,000 devices at GOGC=100, little at the
	// daemon's 50); resident memory is the daemon's budget.
	if m.settleGC != nil {
		m.settleGC()
	}
	debug.FreeOSMemory()
	m.trace.step("free_os_memory")
	m.Log.Info("hubd started", "version", versionString(), "http", m.Addr, "devices", len(m.Hub.Devices()), "data", cfg.DataDir, m.trace.attr())
	if m.Ready != nil {
		m.Ready(m.Addr)
	}
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		m.lnMu.Lock()
		m.lnErr = err
		m.lnMu.Unlock()
		m.Log.Error("http listener failed", "err", err)
	}
	m.Log.Info("hubd stopping")
	sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout-time.Second)
	defer scancel()
	// The status page's live streams never go idle: end them first, or
	// Shutdown would wait for them until its deadline.
	m.Web.Close()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	stopAdmin()
	cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		m.Log.Warn("components did not stop in time")
	}
	return m.close()
}

func (m *Main) close() error {
	if m.Hub != nil {
		m.Hub.Close()
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// Reload applies a new config file's devices, site, tokens and users without
// dropping connections. A bad file is refused and the old config kept.
func (m *Main) Reload(path string) error {
	// The file and the adopted devices are read and applied under
	// applyMu, so an adoption can not land between and be undone.
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	c.logWarnings(m.Log)
	return m.Apply(c)
}

// Apply puts a checked configuration in force the way Reload does (an
// adoption applies the config with the new device).
func (m *Main) Apply(c *Config) error {
	old := m.config()
	if c.DataDir != old.DataDir || c.HTTP.Listen != old.HTTP.Listen {
		return errors.New("reload: data_dir and http.listen change only with a restart")
	}
	if (len(c.Serial) > 0) != (m.Serial != nil) || (c.MQTT != nil) != (m.MQTT != nil) {
		return errors.New("reload: adding or removing the serial or mqtt section needs a restart")
	}
	if err := checkYandexReload(old, c); err != nil {
		return err
	}
	if err := checkModbusReload(old, c); err != nil {
		return err
	}
	if c.MQTT != nil && c.MQTT.brokerRestartKeys() != old.MQTT.brokerRestartKeys() {
		return errors.New("reload: mqtt broker, listen, tls_listen, tls_cert_file, tls_key_file and limits change only with a restart")
	}
	if err := uplinkReload(old, c); err != nil {
		return err
	}
	devs, err := c.HubDevices()
	if err != nil {
		return err
	}
	site := c.HubSite()
	serialDevs, mqttDevs := devicesOf(devs, serial.Name), devicesOf(devs, mqtt.DriverName)
	// Check every part first, so a refused file changes nothing; then the
	// hub before the drivers, or it would refuse the first reports of new
	// devices.
	if m.Serial != nil {
		if err := m.Serial.CheckDevices(serialDevs); err != nil {
			return err
		}
	}
	if m.MQTT != nil {
		if err := m.MQTT.CheckDevices(mqttDevs); err != nil {
			return err
		}
	}
	if err := m.Hub.Reconfigure(devs, site); err != nil {
		return err
	}
	if m.Serial != nil {
		if err := m.Serial.SetDevices(serialDevs); err != nil {
			return err
		}
	}
	if m.MQTT != nil {
		// The hub's view: capabilities learned from the devices included.
		if err := m.MQTT.SetDevices(devicesOf(m.Hub.Devices(), mqtt.DriverName)); err != nil {
			return err
		}
		if err := m.MQTT.SetDeviceAccounts(c.mqttDeviceAccounts()); err != nil {
			return err
		}
		if err := m.MQTT.ReloadTLS(); err != nil {
			m.Log.Error("MQTT TLS certificate not reloaded, the old one stays", "err", err)
			m.Hub.Log("error", "hubd", "", "MQTT TLS certificate not reloaded, the old one stays: "+err.Error())
		}
	}
	// Kept without its device list, as at start (Open).
	c = c.kept(m.Hub.Devices)
	if err := m.Residents.apply(c); err != nil {
		return err
	}
	if err := m.Web.SetUsers(webUsers(c)); err != nil {
		return err
	}
	if m.Alexa != nil {
		if err := m.Alexa.SetSite(site); err != nil {
			return err
		}
	}
	if err := m.DB.PutSite(site); err != nil {
		return err
	}
	m.cfgMu.Lock()
	m.Config = c
	m.cfgMu.Unlock()
	return nil
}

func (m *Main) config() *Config {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	return m.Config
}

// runService runs production: config from path, SIGHUP reloads (a bad file
// is refused and the running config stays), SIGTERM or SIGINT stops within
// shutdownTimeout, readiness and the watchdog go to systemd. settleGC
// ends the start-up's collector tuning (tuneGCForStart); nil: none.
func runService(path string, stderr io.Writer, settleGC func()) error {
	trace := newStartupTrace(processStart)
	trace.step("exec")
	early := openStoreEarly(path)
	defer early.discard() // a no-op once Open took it
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	trace.step("config")
	log := newLogger(stderr, c.Log.Level, c.Log.Format)
	c.logWarnings(log)
	m := &Main{Config: c, Log: log, Base: func() (*Config, error) { return loadConfigFile(path) }, trace: trace, early: early, settleGC: settleGC}
	if err := m.Open(); err != nil {
		return err
	}
	m.Ready = func(addr string) {
		if err := sdReady("serving on " + addr); err != nil {
			log.Warn("sd_notify", "err", err)
		}
	}
	return runAsServiceWith(m.Run, serviceRunOptions{
		Reload: func(context.Context) error {
			if err := m.Reload(path); err != nil {
				m.Hub.Log("error", "hubd", "", "config reload refused: "+err.Error())
				return err
			}
			m.Hub.Log("info", "hubd", "", "config reloaded")
			return nil
		},
		Alive:  m.health,
		Logger: log,
	})
}

// runAlexa is `hubd alexa plan|sync`: one-off, outside the daemon, on the
// daemon's store (the daemon must be stopped, or the store is locked).
func runAlexa(ctx context.Context, what, path string, stdout, stderr io.Writer) error {
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if c.Alexa == nil {
		return errors.New("the config has no alexa section")
	}
	db, err := store.Open(filepath.Join(c.DataDir, "hubd.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	m := &Main{Config: c, DB: db, Log: newLogger(stderr, c.Log.Level, c.Log.Format)}
	s, err := alexa.New(c.HubSite(), alexaOptions(c.Alexa, m))
	if err != nil {
		return err
	}
	return alexaCommand(ctx, s, what, stdout)
}

func alexaCommand(ctx context.Context, s *alexa.Syncer, what string, stdout io.Writer) error {
	if what == "plan" {
		p, err := s.Plan(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, p.String())
		return nil
	}
	res, err := s.Sync(ctx)
	fmt.Fprintln(stdout, res)
	return err
}

// checkYandexReload refuses a reload that changes what the Yandex API was
// built with and keeps: the bound of its cached answers.
func checkYandexReload(old, c *Config) error {
	if c.Yandex.QueryCache != old.Yandex.QueryCache {
		return errors.New("reload: yandex.query_cache changes only with a restart")
	}
	return nil
}
