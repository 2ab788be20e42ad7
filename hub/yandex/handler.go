package yandex

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hubd/hub"
)

// Options configure a Handler. The zero value serves nobody (no users) but
// is otherwise usable.
type Options struct {
	// Users are the linked accounts and their token hashes.
	Users []User
	// Revoked persists tokens revoked by unlink; nil keeps them in memory
	// only (they come back after a restart).
	Revoked KV
	// Journal, when set, records revoked configured tokens first, outside
	// the store, and is consulted on every request: a token it holds stays
	// refused even if Revoked is lost or rolled back. When one of the two
	// writes fails the other is still made, unlink answers 500, and the
	// platform's retry of the unlink (with the token, now refused
	// elsewhere) writes both again. IsRevoked must not wait for writes.
	Journal Journal
	// Logger; nil discards.
	Logger *slog.Logger
	// Observe, when set, is called once per request with the endpoint name
	// ("liveness", "devices", "query", "action", "unlink", "unknown"), the
	// HTTP status and the time spent, for metrics.
	Observe func(endpoint string, status int, d time.Duration)
	// MaxBody bounds request bodies; larger ones get 413. Zero: 64 KiB.
	MaxBody int64
	// ActionTimeout bounds a devices/action request as a whole: devices that
	// have not confirmed by then are answered DEVICE_UNREACHABLE. Zero:
	// 2.3 s, which keeps the round trip under the platform's 3 s.
	ActionTimeout time.Duration
	// Reportable marks capabilities and properties reportable in discovery;
	// set it when a Notifier pushes state to the platform.
	Reportable bool
	// OAuth, when set, serves the account-linking server under /oauth/
	// (see OAuthOptions) and accepts the access tokens it issues. Nil: no
	// OAuth, the /oauth/ routes answer 404.
	OAuth *OAuthOptions
	// MaxCachedAnswers bounds the devices whose encoded devices/query
	// answer is kept for their next query (valid while the device's state,
	// capabilities and reachability stay as they were; some 600 bytes a
	// device). Past it, a device new to the cache pushes out the oldest
	// answer. Zero: DefaultMaxCachedAnswers; negative: none is kept.
	MaxCachedAnswers int
}

// DefaultMaxCachedAnswers is Options.MaxCachedAnswers' zero value: the
// devices of the homes being looked at in a large building, in about
// 1.2 MB.
const DefaultMaxCachedAnswers = 2000

// Handler serves the provider API under /v1.0 and, when OAuth is on, the
// account-linking server under /oauth/. Mount it at both prefixes; it
// matches full paths.
type Handler struct {
	hub    *hub.Hub
	opts   Options
	log    *slog.Logger
	tokens *tokens
	oauth  *oauthServer // nil: OAuth off

	frags sync.Map // device id -> *frag
	// order is the ids of the answers in frags in the order they came,
	// MaxCachedAnswers at most: a device new to a full cache pushes out
	// the oldest answer. oldest is its place once order is full.
	orderMu sync.Mutex
	order   []string
	oldest  int

	ridPrefix string
	ridSeq    atomic.Uint64

	calls sync.Pool
}

var _ http.Handler = (*Handler)(nil)

// New builds the API handler for h.
func New(h *hub.Hub, opts Options) (*Handler, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: no hub", ErrInvalidOptions)
	}
	if opts.MaxCachedAnswers == 0 {
		opts.MaxCachedAnswers = DefaultMaxCachedAnswers
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 2300 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t, err := newTokens(opts.Users, opts.Revoked)
	if err != nil {
		return nil, err
	}
	t.journal = opts.Journal
	log := opts.Logger.With("api", "yandex")
	var osrv *oauthServer
	if opts.OAuth != nil {
		if osrv, err = newOAuth(*opts.OAuth, log, h.Now()); err != nil {
			return nil, err
		}
		t.issued = osrv.store
	}
	var p [6]byte
	_, _ = rand.Read(p[:])
	hd := &Handler{
		hub:       h,
		opts:      opts,
		log:       log,
		tokens:    t,
		oauth:     osrv,
		ridPrefix: "hubd-" + hex.EncodeToString(p[:]) + "-",
	}
	hd.calls.New = func() any { return &call{ids: make([]string, 0, 16)} }
	return hd, nil
}

// SetUsers replaces the linked accounts (a configuration reload). It is
// safe to call while requests are served: each request sees the old or the
// new set whole. Tokens issued by the OAuth server to a user who is no
// longer listed stop working. On error nothing changes.
func (h *Handler) SetUsers(users []User) error {
	set, err := buildUsers(users)
	if err != nil {
		return err
	}
	h.tokens.setUsers(set)
	return nil
}

// call is the per-request scratch space, pooled.
type call struct {
	rid    string
	user   string
	scope  hub.Scope // what user may see and control
	digest [sha256.Size]byte
	grant  string // set when the bearer token was issued by the OAuth server
	body   []byte
	out    []byte
	ids    []string
	vers   []hub.Version // the Versions of ids (devices/query)
	run    idRun         // decodeQuery's scratch
	nDevs  int
	result string
}

const maxPooled = 1 << 20

func (h *Handler) getCall() *call { return h.calls.Get().(*call) }

func (h *Handler) putCall(c *call) {
	if cap(c.body) > maxPooled || cap(c.out) > maxPooled || cap(c.ids) > 4096 ||
		cap(c.vers) > 4096 || cap(c.run.names) > maxPooled || cap(c.run.ends) > 4096 {
		return
	}
	for i := range c.ids {
		c.ids[i] = ""
	}
	*c = call{body: c.body[:0], out: c.out[:0], ids: c.ids[:0], vers: c.vers[:0],
		run: idRun{names: c.run.names[:0], ends: c.run.ends[:0]}}
	h.calls.Put(c)
}

type endpoint struct {
	name   string
	method string // besides HEAD for liveness
	auth   bool
	serve  func(h *Handler, c *call, w http.ResponseWriter, r *http.Request) error
}

var routes = map[string]*endpoint{
	"/v1.0":                     {name: "liveness", method: http.MethodHead, serve: (*Handler).serveLiveness},
	"/v1.0/":                    {name: "liveness", method: http.MethodHead, serve: (*Handler).serveLiveness},
	"/v1.0/user/devices":        {name: "devices", method: http.MethodGet, auth: true, serve: (*Handler).serveDevices},
	"/v1.0/user/devices/query":  {name: "query", method: http.MethodPost, auth: true, serve: (*Handler).serveQuery},
	"/v1.0/user/devices/action": {name: "action", method: http.MethodPost, auth: true, serve: (*Handler).serveAction},
	"/v1.0/user/unlink":         {name: "unlink", method: http.MethodPost, auth: true, serve: (*Handler).serveUnlink},
}

var unknownEndpoint = &endpoint{name: "unknown"}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := h.getCall()
	defer h.putCall(c)
	c.rid = r.Header.Get("X-Request-Id")
	if c.rid == "" {
		c.rid = h.ridPrefix + strconv.FormatUint(h.ridSeq.Add(1), 10)
	} else {
		c.rid = clip(c.rid, 128)
	}

	ep := routes[r.URL.Path]
	var err error
	if ep == nil && h.oauth != nil && strings.HasPrefix(r.URL.Path, "/oauth/") {
		name, status, err := h.serveOAuth(w, r, c)
		h.finish(r, c, name, status, err, start)
		return
	}
	switch {
	case ep == nil:
		ep = unknownEndpoint
		err = fmt.Errorf("%w: %s", ErrNoRoute, clip(r.URL.Path, 128))
	case r.Method != ep.method && !(ep.name == "liveness" && r.Method == http.MethodGet):
		w.Header().Set("Allow", ep.method)
		err = fmt.Errorf("%w: %s wants %s", ErrMethod, ep.name, ep.method)
	case ep.auth:
		var g grant
		g, err = h.tokens.check(bearer(r), h.hub.Now())
		c.user, c.scope, c.digest, c.grant = g.user, g.scope, g.digest, g.id
		if errors.Is(err, errUnsaved) && ep.name == "unlink" {
			err = nil // the platform's retry: persist the revocation again
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hubd"`)
		}
	}
	if err == nil {
		err = ep.serve(h, c, w, r)
	}
	status := http.StatusOK
	if err != nil {
		status = h.writeError(w, c, err)
	}
	h.finish(r, c, ep.name, status, err, start)
}

// finish reports a served request to Observe and the log.
func (h *Handler) finish(r *http.Request, c *call, name string, status int, err error, start time.Time) {
	d := time.Since(start)
	if h.opts.Observe != nil {
		h.opts.Observe(name, status, d)
	}
	if lh := h.log.Handler(); lh.Enabled(r.Context(), slog.LevelInfo) {
		result := c.result
		if err != nil {
			result = err.Error()
		}
		// The record is made here rather than by the Logger, which would
		// look up its caller's program counter for every line (a quarter
		// of the line's cost in a profile of the demo under queries); the
		// line names its endpoint, and no handler of the daemon prints
		// the source.
		rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
		rec.AddAttrs(
			slog.String("request_id", c.rid),
			slog.String("endpoint", name),
			slog.String("user", c.user),
			slog.String("devices", idList(c.ids, c.nDevs)),
			slog.Int("status", status),
			slog.String("result", result),
			slog.Duration("took", d))
		_ = lh.Handle(r.Context(), rec)
	}
}

// idList names at most a few of the devices a request was about, in
// one allocation of the size it needs (none for a single device): it is
// built for every request's log line.
func idList(ids []string, n int) string {
	const show = 8
	shown := ids[:min(len(ids), show)]
	if len(shown) == 1 && n <= show {
		return clip(shown[0], 64)
	}
	size := 0
	for _, id := range shown {
		size += len(clip(id, 64)) + 1
	}
	if n > show {
		size += len(",...( in all)") + 20
	}
	var b strings.Builder
	b.Grow(size)
	for i, id := range shown {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(clip(id, 64))
	}
	if n > show {
		b.WriteString(",...(")
		b.WriteString(strconv.Itoa(n))
		b.WriteString(" in all)")
	}
	return b.String()
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	const p = "bearer "
	if len(a) > len(p) && strings.EqualFold(a[:len(p)], p) {
		return strings.TrimSpace(a[len(p):])
	}
	return ""
}

// errorMap is the one table from errors to what the API answers: the HTTP
// status for protocol-level problems and the Yandex error code. Device
// problems travel inside a 200 response.
var errorMap = []struct {
	err    error
	status int
	code   string
}{
	{ErrUnauthorized, http.StatusUnauthorized, "UNAUTHORIZED"},
	{ErrMalformed, http.StatusBadRequest, "BAD_REQUEST"},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE"},
	{ErrNoRoute, http.StatusNotFound, "NOT_FOUND"},
	{ErrMethod, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	{hub.ErrNotFound, http.StatusOK, "DEVICE_NOT_FOUND"},
	{hub.ErrUnreachable, http.StatusOK, "DEVICE_UNREACHABLE"},
	{ErrTimeout, http.StatusOK, "DEVICE_UNREACHABLE"},
	{hub.ErrNotSupported, http.StatusOK, "NOT_SUPPORTED_IN_CURRENT_MODE"},
	{hub.ErrInvalidValue, http.StatusOK, "INVALID_VALUE"},
	{hub.ErrBusy, http.StatusOK, "DEVICE_BUSY"},
	{ErrDeviceOff, http.StatusOK, "DEVICE_OFF"},
	{ErrInvalidAction, http.StatusOK, "INVALID_ACTION"},
}

// classify returns the HTTP status and error code for err.
func classify(err error) (int, string) {
	for _, m := range errorMap {
		if errors.Is(err, m.err) {
			return m.status, m.code
		}
	}
	return http.StatusInternalServerError, "INTERNAL_ERROR"
}

// writeError answers a protocol-level error with a JSON body.
func (h *Handler) writeError(w http.ResponseWriter, c *call, err error) int {
	status, code := classify(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		h.log.Error("internal error", "request_id", c.rid, "err", err)
		msg = "internal error"
	}
	b := append(c.out[:0], `{"request_id":`...)
	b = appendString(b, c.rid)
	b = append(b, `,"error_code":"`...)
	b = append(b, code...)
	b = append(b, `","error_message":`...)
	b = appendString(b, msg)
	b = append(b, "}\n"...)
	c.out = b
	writeJSON(w, status, b)
	return status
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	hd := w.Header()
	hd["Content-Type"] = []string{"application/json"}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads the request body into c.body, at most MaxBody bytes.
func (h *Handler) readBody(c *call, r *http.Request) error {
	return h.readBodyMax(c, r, h.opts.MaxBody)
}

// readBodyMax reads the request body into c.body, at most max bytes.
func (h *Handler) readBodyMax(c *call, r *http.Request, max int64) error {
	if r.ContentLength > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, max)
	}
	b := c.body[:0]
	if r.ContentLength > 0 && int64(cap(b)) < r.ContentLength {
		b = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			c.body = b
			return fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.body = b
			return fmt.Errorf("%w: read body: %v", ErrMalformed, err)
		}
	}
	c.body = b
	return nil
}

func (h *Handler) serveLiveness(c *call, w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// serveQuery answers devices/query from the hub's memory.
func (h *Handler) serveQuery(c *call, w http.ResponseWriter, r *http.Request) error {
	if err := h.readBody(c, r); err != nil {
		return err
	}
	ids, err := decodeQuery(c.body, c.ids[:0], &c.run)
	c.ids = ids
	c.nDevs = len(ids)
	if err != nil {
		return err
	}
	b := append(c.out[:0], `{"request_id":`...)
	b = appendString(b, c.rid)
	b = append(b, `,"payload":{"devices":[`...)
	now := h.hub.Now()
	c.vers = h.hub.VersionsOf(ids, c.scope, now, c.vers[:0])
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = h.appendQueried(b, id, c.vers[i], c.scope, now)
	}
	b = append(b, "]}}\n"...)
	c.out = b
	c.result = "ok"
	writeJSON(w, http.StatusOK, b)
	return nil
}

// frag is a device's encoded query answer, valid while the snapshot's Seq,
// the device's fields and its reachability are unchanged.
type frag struct {
	seq    uint64
	fields hub.FieldSet
	reach  bool
	b      []byte
}

// appendQueried answers one id of a query, whose Version ver is. A device
// outside the caller's scope answers exactly as an unknown id does.
func (h *Handler) appendQueried(b []byte, id string, ver hub.Version, sc hub.Scope, now time.Time) []byte {
	if !ver.In {
		return appendDeviceError(b, id, "DEVICE_NOT_FOUND", "no such device")
	}
	if v, ok := h.frags.Load(id); ok {
		f := v.(*frag)
		if f.seq == ver.Seq && f.reach == ver.Reachable && f.fields == ver.Fields {
			return append(b, f.b...)
		}
	}
	// The cached answer is out of date (or there is none): render the
	// device's snapshot, taken now. A reload between the two looks may
	// have removed the device or taken it out of sc.
	dev, snap, ok := h.hub.Snapshot(id)
	if !ok || !sc.Staff && !h.hub.InScope(sc, id) {
		return appendDeviceError(b, id, "DEVICE_NOT_FOUND", "no such device")
	}
	reach := snap.Reachable(now, h.hub.StaleAfter())
	// Encoded into the answer, and kept as an exact copy: a fragment grown
	// by appending from nothing held up to a third more than its bytes
	// (10,000 devices' fragments are some 4 MB), besides the garbage of
	// each step of its growth.
	start := len(b)
	if reach {
		b = appendDeviceState(b, id, &snap.State, dev.Fields)
	} else {
		b = appendDeviceError(b, id, "DEVICE_UNREACHABLE", "device is offline or has not reported for "+h.hub.StaleAfter().String())
	}
	if h.opts.MaxCachedAnswers > 0 {
		h.keepAnswer(id, &frag{seq: snap.Seq, fields: dev.Fields, reach: reach, b: bytes.Clone(b[start:])})
	}
	return b
}

// keepAnswer caches f as device id's answer. A device new to the cache
// past MaxCachedAnswers pushes out the oldest answer (first in, first
// out: an answer asked for again keeps its age), so every device's
// answer stays for as many newcomers as any other's.
//
// The id is cloned: a query's ids are views of one string of them all
// (decodeQuery), which a key kept for good would hold whole.
func (h *Handler) keepAnswer(id string, f *frag) {
	key := strings.Clone(id)
	if _, had := h.frags.Swap(key, f); had {
		return
	}
	h.orderMu.Lock()
	if len(h.order) < h.opts.MaxCachedAnswers {
		h.order = append(h.order, key)
		h.orderMu.Unlock()
		return
	}
	out := h.order[h.oldest]
	h.order[h.oldest] = key
	h.oldest = (h.oldest + 1) % len(h.order)
	h.orderMu.Unlock()
	h.frags.Delete(out)
}

// serveUnlink revokes the token the call came with. For a token the
// OAuth server issued, that is every token of the same account linking:
// the access token, its refresh token and their predecessors.
func (h *Handler) serveUnlink(c *call, w http.ResponseWriter, r *http.Request) error {
	if c.grant != "" {
		if err := h.oauth.store.revokeGrant(c.grant, h.hub.Now()); err != nil {
			return err
		}
	} else if err := h.tokens.revoke(c.digest, h.hub.Now()); err != nil {
		return err
	}
	h.log.Info("account unlinked", "user", c.user, "request_id", c.rid)
	b := append(c.out[:0], `{"request_id":`...)
	b = appendString(b, c.rid)
	b = append(b, "}\n"...)
	c.out = b
	c.result = "unlinked"
	writeJSON(w, http.StatusOK, b)
	return nil
}
