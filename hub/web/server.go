package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"hubd/hub"
)

//go:embed assets
var assets embed.FS

// User is one person allowed to run controls.
type User struct {
	Name string
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$), as made by
	// HashPassword or `htpasswd -nbBC 10`.
	PasswordHash string
	// Role is RoleTechnician (also when empty) or RoleManager (homes.go).
	Role string
}

// Options configure a Server. The zero value serves a read-only page with no
// users, so controls are refused; nil functions show as "not configured".
type Options struct {
	// Gateway identity shown at the top of the page.
	Name, Version, Commit string
	// Started is when the daemon started; zero: when New was called.
	Started time.Time

	// Users who may sign in and run controls. None: controls are disabled.
	Users []User
	// AllowAnonymousView lets anyone who reaches the listener see the page
	// and its feed without signing in. False: viewing needs a session too.
	AllowAnonymousView bool
	// SessionTTL is how long a session lasts after sign-in. Zero: 12 hours.
	SessionTTL time.Duration
	// LoginBurst and LoginEvery rate-limit login attempts per client address:
	// a burst of LoginBurst attempts, then one per LoginEvery.
	// Zero: 5 attempts, then one every 12 seconds.
	LoginBurst int
	LoginEvery time.Duration
	// LoginAccountBurst and LoginAccountEvery rate-limit failed logins per
	// user name, from any number of addresses. One address (IPv6: /64) has
	// a share of half the burst at half the rate, so it alone can not
	// empty the account; addresses that signed in before are checked even
	// while it is empty (limit.go). Zero: 10, then one every minute.
	LoginAccountBurst int
	LoginAccountEvery time.Duration
	// MaxLoginAddresses bounds each login limiter table (client addresses,
	// unknown user names). When it is full of limited entries, newcomers
	// share one limiter (hubd_web_login_limiter_overflows_total). Zero: 4096.
	MaxLoginAddresses int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed. None: the headers are ignored.
	TrustedProxies []netip.Prefix
	// Hosts are the host names the gateway answers to, besides IP literals
	// (and localhost on a loopback connection); a request naming any other
	// host is refused with 421 (DNS rebinding). None: no names at all.
	Hosts []string

	// The functions below are called on every page load, feed refresh and
	// scrape: they must be quick, non-blocking snapshots, safe to call from
	// several goroutines.

	// Buses reports the serial buses; nil: no serial driver configured.
	Buses func() []hub.BusStatus
	// Brokers reports the MQTT connections; nil: no MQTT configured.
	Brokers func() []hub.BrokerStatus
	// MQTTAccounts lists the embedded broker's device accounts (all of
	// them: the page lists each, /metrics only those refused at least
	// once) and MQTTBroker its figures; nil: no embedded broker.
	MQTTAccounts func() []MQTTAccount
	MQTTBroker   func() MQTTBroker
	// SetMQTTPassword gives the device account name names (an account or
	// a device) a new password, for POST /api/mqtt-accounts/{name}/create
	// or rotate (rotate: the account has one already). Errors wrapping
	// hub.ErrNotFound answer 404, hub.ErrInvalidValue 422. nil: 501.
	SetMQTTPassword func(name string, rotate bool) (MQTTPassword, error)
	// Notifier reports the Yandex state notifications; nil: not configured.
	Notifier func() hub.NotifierStatus
	// Alexa reports the Alexa sync; nil: not configured.
	Alexa func() hub.SyncStatus
	// Uplink reports the fleet uplink ((*uplink.Uplink).Status); nil: not
	// configured. Disconnected with events queued, it makes the gateway
	// degraded.
	Uplink func() hub.UplinkStatus
	// SyncNow runs an Alexa sync at once; nil: the control is not offered.
	SyncNow func(context.Context) error
	// UpdateFirmware installs a firmware image on a device, reporting the
	// bytes confirmed so far through progress; it is
	// (*serial.Driver).UpdateFirmwareWith. It must refuse an image older
	// than the device's firmware unless allowDowngrade (the technician
	// ticked "downgrade"). The page runs it in the background
	// with a context cancelled by Close. Nil: firmware updates are off, the
	// page offers none and POST /api/devices/{id}/firmware answers 404.
	UpdateFirmware func(ctx context.Context, deviceID string, image []byte, allowDowngrade bool, progress func(sent, total int)) error
	// InspectFirmware reads an image's model and version for the confirm
	// step and the early downgrade refusal (firmware.ParseImage). Nil: the
	// page can not show them and leaves the downgrade check to the driver.
	InspectFirmware func(image []byte) (FirmwareImage, error)
	// FirmwareCapable reports whether a device's firmware can be updated
	// from the page. Nil: devices of the "serial" driver.
	FirmwareCapable func(d hub.Device) bool
	// Homes manages residents (homes.go); nil: the homes routes answer
	// 501. Only users of RoleManager reach it.
	Homes HomesAdmin

	// Adoption lists and adopts the devices discovery found (adoption.go);
	// nil: discovery is off and its endpoints answer 501.
	Adoption Adoption
	// Commissioning opens and closes the embedded MQTT broker's
	// commissioning window (commissioning.go); nil: no embedded broker,
	// its endpoints answer 501.
	Commissioning CommissioningControl
	// StoreSize is the size of the state file in bytes; nil: unknown.
	StoreSize func() int64
	// StorePending is the number of device states not yet committed to
	// the state file; nil: not exported.
	StorePending func() int
	// Health returns nil when the store and listeners are up, or the reason
	// they are not. Nil: only the server itself is checked.
	Health func() error
	// Alarms returns what a technician must know that does not make the
	// gateway unhealthy, such as state found lost or rolled back at start;
	// /healthz answers "degraded" (still 200), the status JSON lists them
	// and the page shows a banner. Nil: none.
	Alarms func() []string
	// AckAlarms clears the alarms once a signed-in technician has dealt
	// with them (POST /api/alarms/ack) and returns how many there were;
	// user is who acknowledged. Nil: the POST answers 501.
	AckAlarms func(user string) (int, error)

	// CommandTimeout bounds a control from click to the device's
	// confirmation. Zero: 5 seconds.
	CommandTimeout time.Duration
	// SyncWait is how long POST /api/alexa/sync waits for the sync it
	// starts before it answers 202 that the sync runs on (the Alexa card
	// shows how it goes; a first sync of a large site takes many
	// minutes). The sync is not bound to the request: it ends when it is
	// done or the server is closed. Zero: 20 seconds.
	SyncWait time.Duration
	// FirmwareTimeout bounds one firmware update, from upload to the
	// device running the new image. Zero: 15 minutes (a 1 MiB image at
	// 115200 baud, between the polls of a busy bus, with room for retries).
	FirmwareTimeout time.Duration
	// MaxFirmwareUpdates caps updates running at once across devices (each
	// holds its image in memory and shares its bus). Zero: 4.
	MaxFirmwareUpdates int
	// Coalesce is how long the live feed gathers changes before sending
	// them, so a burst of reports becomes one message per device.
	// Zero: 100 milliseconds.
	Coalesce time.Duration
	// RefreshEvery is how often the live feed resends the bus, broker,
	// notifier and Alexa sections (they come from functions, not changes).
	// Zero: 5 seconds.
	RefreshEvery time.Duration
	// MaxClients caps concurrent live-feed clients. Zero: 64.
	MaxClients int
	// MaxClientsPerAddress caps the live-feed clients of one client address
	// (an IPv6 /64). Zero: 8.
	MaxClientsPerAddress int
	// MaxFeedDevices caps the devices on one page of the device list, and
	// so the devices one viewer's live feed follows: a larger limit asked
	// of GET /api/devices or /events is cut to it
	// (hubd_web_feed_pages_capped_total). Zero: 200.
	MaxFeedDevices int
	// MaxCompressed caps the answers gzip-compressed at once (each holds
	// about 0.8 MB while it is written; a live feed for as long as it is
	// open, and feeds take at most half); the rest go out as they are
	// (hubd_web_compression_skipped_total). Zero: 8.
	MaxCompressed int
	// HealthTimeout bounds how long /healthz waits for Health. Zero: 2 s.
	HealthTimeout time.Duration

	// Logger receives one line per control with the user; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Server is the status page, its feed, controls, health and metrics.
type Server struct {
	h    *hub.Hub
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	auth    *auth
	guard   *requestGuard
	limit   *loginLimiter
	metrics *metrics
	feed    *feed
	fw      *firmware
	devIdx  indexCache // the device list's order and search text

	health *healthChecker

	closeOnce sync.Once
	closed    chan struct{}
	syncing   atomic.Bool    // a sync started from the page runs
	syncs     sync.WaitGroup // the page's syncs, waited for by Close
	gzip      *gzipSlots
}

// New builds a Server for h. It subscribes to h for the live feed; call
// Close to stop that.
func New(h *hub.Hub, opts Options) (*Server, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: no hub", ErrInvalidOptions)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	if opts.LoginEvery <= 0 {
		opts.LoginEvery = 12 * time.Second
	}
	if opts.LoginAccountBurst <= 0 {
		opts.LoginAccountBurst = 10
	}
	if opts.LoginAccountEvery <= 0 {
		opts.LoginAccountEvery = time.Minute
	}
	if opts.MaxLoginAddresses <= 0 {
		opts.MaxLoginAddresses = 4096
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Second
	}
	if opts.SyncWait <= 0 {
		opts.SyncWait = 20 * time.Second
	}
	if opts.FirmwareTimeout <= 0 {
		opts.FirmwareTimeout = 15 * time.Minute
	}
	if opts.MaxFirmwareUpdates <= 0 {
		opts.MaxFirmwareUpdates = 4
	}
	if opts.Coalesce <= 0 {
		opts.Coalesce = 100 * time.Millisecond
	}
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = 5 * time.Second
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 64
	}
	if opts.MaxClientsPerAddress <= 0 {
		opts.MaxClientsPerAddress = 8
	}
	if opts.MaxFeedDevices <= 0 {
		opts.MaxFeedDevices = 200
	}
	if opts.MaxCompressed <= 0 {
		opts.MaxCompressed = 8
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 2 * time.Second
	}
	if opts.Name == "" {
		opts.Name = "hubd"
	}
	guard, err := newRequestGuard(&opts)
	if err != nil {
		return nil, err
	}
	limit := newLoginLimiter(&opts)
	a, err := newAuth(opts.Users, opts.SessionTTL, limit, opts.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{
		h:      h,
		opts:   opts,
		log:    opts.Logger,
		auth:   a,
		guard:  guard,
		limit:  limit,
		closed: make(chan struct{}),
		gzip:   newGzipSlots(opts.MaxCompressed),
	}
	s.health = newHealthChecker(s)
	s.metrics = newMetrics(s)
	s.feed = newFeed(s)
	s.fw = newFirmware(s)
	s.routes()
	go s.feed.run()
	return s, nil
}

// Close cancels running firmware updates (waiting up to 10 seconds for them
// to return), stops the live feed and ends every open event stream, so that
// an http.Server.Shutdown that follows does not wait for them.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.fw.close()
		close(s.closed)
		<-s.feed.done
		s.syncs.Wait() // cancelled by closed: the store must outlast it
	})
	return nil
}

// Handler serves every route of the page; mount it at "/". Requests for
// another host are refused (see Guard).
func (s *Server) Handler() http.Handler { return s.Guard(s.mux) }

// SetUsers replaces the users who may log in (a config reload). Sessions of
// removed users, or users whose password changed, end at once.
func (s *Server) SetUsers(users []User) error { return s.auth.setUsers(users) }

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServer(http.FS(static))
	m := http.NewServeMux()
	m.Handle("GET /{$}", s.page(s.serveIndex))
	m.Handle("GET /assets/", s.page(http.StripPrefix("/assets/", files).ServeHTTP))
	m.Handle("GET /healthz", http.HandlerFunc(s.serveHealth))
	m.Handle("GET /metrics", s.metrics.handler)
	m.Handle("GET /events", s.api(s.serveEvents))
	m.Handle("GET /api/status", s.api(s.serveStatus))
	m.Handle("GET /api/devices", s.api(s.serveDevices))
	m.Handle("GET /api/session", s.api(s.serveSession))
	m.Handle("GET /api/i18n", s.api(s.serveI18n))
	m.Handle("POST /login", s.api(s.serveLogin))
	m.Handle("POST /logout", s.api(s.serveLogout))
	m.Handle("POST /api/devices/{id}/command", s.api(s.serveCommand))
	m.Handle("POST /api/devices/{id}/firmware", s.api(s.serveFirmware))
	m.Handle("POST /api/devices/{id}/firmware/check", s.api(s.serveFirmwareCheck))
	m.Handle("POST /api/alexa/sync", s.api(s.serveSync))
	s.homeRoutes(m)
	m.Handle("POST /api/mqtt-accounts/{name}/{op}", s.api(s.serveMQTTPassword))
	m.Handle("POST /api/alarms/ack", s.api(s.serveAckAlarms))
	m.Handle("GET /api/discovered", s.api(s.serveDiscovered))
	m.Handle("POST /api/adopt", s.api(s.serveAdopt))
	m.Handle("POST /api/forget", s.api(s.serveForget))
	s.commissioningRoutes(m)
	s.mux = m
}

// page adds the headers every browser-facing response carries.
func (s *Server) page(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		compress(fn, s.gzip).ServeHTTP(w, r)
	})
}

func (s *Server) api(fn http.HandlerFunc) http.Handler {
	return s.page(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r)
	})
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// errorStatus is the one table from errors to HTTP responses.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrBadLogin):
		return http.StatusUnauthorized
	case errors.Is(err, ErrCrossSite), errors.Is(err, ErrBadCSRFToken), errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrTooManyAttempts):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrDowngrade):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrUpdateRunning):
		return http.StatusConflict
	case errors.Is(err, ErrNotConfigured):
		return http.StatusNotImplemented
	case errors.Is(err, ErrTooManyClients), errors.Is(err, ErrTooManyUpdates), errors.Is(err, ErrClosed), errors.Is(err, ErrUnhealthy):
		return http.StatusServiceUnavailable
	case errors.Is(err, hub.ErrNotFound), errors.Is(err, hub.ErrNotHome):
		return http.StatusNotFound
	case errors.Is(err, hub.ErrNotSupported), errors.Is(err, hub.ErrInvalidValue), errors.Is(err, hub.ErrInvalidDevice):
		return http.StatusUnprocessableEntity
	case errors.Is(err, hub.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, hub.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, hub.ErrNoDriver), errors.Is(err, hub.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error  string `json:"error"`
	Result string `json:"result,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := errorStatus(err)
	if code == http.StatusInternalServerError {
		s.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", fmt.Sprint(int(s.opts.LoginEvery.Seconds()+0.999)))
	}
	writeJSON(w, code, errorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"web: encoding response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
