package yandex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hubd/hub"
)

// NotifierOptions configure a Notifier. Zero values are documented per
// field; SkillID, OAuthToken and one of UserID and Recipients are required.
type NotifierOptions struct {
	// BaseURL of the platform's API. Zero: https://dialogs.yandex.net.
	BaseURL string
	// SkillID names the skill in the callback paths.
	SkillID string
	// OAuthToken is the skill owner's token, sent as "Authorization: OAuth".
	OAuthToken string
	// UserID, when Recipients is nil, is the one platform user every
	// device's changes go to.
	UserID string
	// Recipients returns the linked users, each of whom is sent only the
	// changes of the devices its Scope covers, under its own user id
	// ((*Handler).Recipients). It is called once per push, so it must be
	// quick. Nil: UserID, as staff.
	Recipients func() []Recipient
	// Batch is how long changes are collected before a push. Zero: 1 s.
	Batch time.Duration
	// FloatEvery re-sends every float property this often so the platform's
	// graphs have no holes. Zero: 1 h.
	FloatEvery time.Duration
	// Settle is how long the device set must stay unchanged before a
	// discovery callback is sent. Zero: 10 s.
	Settle time.Duration
	// RetryMin and RetryMax bound the backoff after a failed push.
	// Zero: 1 s and 5 min.
	RetryMin, RetryMax time.Duration
	// Client sends the callbacks. Zero: a client with a 5 s timeout.
	Client *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
}

// maxPerCall bounds the devices in one state callback.
const maxPerCall = 100

// Notifier pushes state changes of the hub to the platform. It coalesces
// per device and field, so memory stays bounded by the number of devices
// however long the platform is unreachable, and it never blocks the hub or
// the API: it reads from a hub subscription and sends on its own goroutine.
type Notifier struct {
	hub     *hub.Hub
	opts    NotifierOptions
	log     *slog.Logger
	running atomic.Bool

	mu          sync.Mutex
	pending     map[string]*pend
	discoveryAt time.Time // zero: no device set check due
	status      hub.NotifierStatus
	// sets is the last known signature of each recipient's device set;
	// discover holds the users a discovery callback is owed to.
	sets     map[string]string
	discover map[string]bool
}

type pend struct {
	fields hub.FieldSet
	snap   hub.Snapshot
	// status: the device's reachability changed, so the callback carries
	// a device-level "status" (online or offline, from snap).
	status bool
}

// NewNotifier builds a notifier for h. Run starts it.
func NewNotifier(h *hub.Hub, opts NotifierOptions) (*Notifier, error) {
	if h == nil || opts.SkillID == "" || opts.OAuthToken == "" || opts.UserID == "" && opts.Recipients == nil {
		return nil, fmt.Errorf("%w: the notifier needs a hub, SkillID, OAuthToken and UserID or Recipients", ErrInvalidOptions)
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "https://dialogs.yandex.net"
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.Batch <= 0 {
		opts.Batch = time.Second
	}
	if opts.FloatEvery <= 0 {
		opts.FloatEvery = time.Hour
	}
	if opts.Settle <= 0 {
		opts.Settle = 10 * time.Second
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = opts.RetryMin
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{
		hub:      h,
		opts:     opts,
		log:      opts.Logger.With("notifier", "yandex"),
		pending:  map[string]*pend{},
		status:   hub.NotifierStatus{Enabled: true},
		sets:     map[string]string{},
		discover: map[string]bool{},
	}, nil
}

// Status reports what the notifier did so far.
func (n *Notifier) Status() hub.NotifierStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.status
	s.Pending = 0
	for _, p := range n.pending {
		s.Pending += len(p.fields.List())
	}
	return s
}

// Run collects changes and pushes them until ctx ends. It returns
// ErrRunning, and does nothing else, when the notifier is running already.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer n.running.Store(false)
	// The device sets are recorded before the subscription, and checked
	// once the set has had time to settle: a change between the two is
	// seen then. Recorded after it, a change racing the record was in the
	// record, and its event found nothing to tell.
	n.baseline(n.recipients())
	sub := n.hub.Subscribe(4096)
	defer n.hub.Unsubscribe(sub)
	n.mu.Lock()
	n.discoveryAt = n.hub.Now().Add(n.opts.Settle)
	n.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.sendLoop(ctx)
	}()
	defer wg.Wait()

	floats := time.NewTicker(n.opts.FloatEvery)
	defer floats.Stop()
	var dropped uint64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-sub.C:
			if !ok {
				return nil
			}
			n.take(c)
			if d := sub.Dropped(); d != dropped {
				// Changes were lost: send everything once more.
				dropped = d
				n.markAll(^hub.FieldSet(0))
				n.mu.Lock()
				n.discoveryAt = n.hub.Now().Add(n.opts.Settle)
				n.mu.Unlock()
			}
		case <-floats.C:
			n.markAll(hub.MeterFields)
		}
	}
}

// take records one change, keeping only the newest value per field.
func (n *Notifier) take(c hub.Change) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch c.Kind {
	case hub.ChangeState:
		n.addLocked(c.Device, c.Fields, c.Snapshot)
	case hub.ChangeOnline:
		if n.hub.Reachable(&c.Snapshot) {
			// Back online: the platform may have missed anything.
			n.addLocked(c.Device, c.Snapshot.State.Set, c.Snapshot)
		} else {
			// Offline or stale: values pending for it are moot now.
			n.addLocked(c.Device, 0, c.Snapshot)
			n.pending[c.Device].fields = 0
		}
		n.pending[c.Device].status = true
	case hub.ChangeDevices:
		n.discoveryAt = n.hub.Now().Add(n.opts.Settle)
	}
}

func (n *Notifier) addLocked(id string, fields hub.FieldSet, snap hub.Snapshot) {
	p := n.pending[id]
	if p == nil {
		p = &pend{snap: snap}
		n.pending[id] = p
	}
	p.fields |= fields
	if snap.Seq >= p.snap.Seq {
		p.snap = snap
	}
}

func (n *Notifier) restoreLocked(id string, old *pend) {
	n.addLocked(id, old.fields, old.snap)
	if old.status {
		n.pending[id].status = true
	}
}

// markAll queues fields of every device that knows them.
func (n *Notifier) markAll(fields hub.FieldSet) {
	for _, d := range n.hub.Devices() {
		_, snap, ok := n.hub.Snapshot(d.ID)
		if !ok {
			continue
		}
		if f := snap.State.Set.Intersect(fields); !f.Empty() {
			n.mu.Lock()
			n.addLocked(d.ID, f, snap)
			n.mu.Unlock()
		}
	}
}

func (n *Notifier) sendLoop(ctx context.Context) {
	backoff := time.Duration(0)
	t := time.NewTimer(n.opts.Batch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		again := n.push(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case again:
			backoff = min(max(2*backoff, n.opts.RetryMin), n.opts.RetryMax)
		default:
			backoff = 0
		}
		t.Reset(max(n.opts.Batch, backoff))
	}
}

// push sends the discovery callbacks owed and the pending changes. It
// reports whether a passing failure calls for a retry after a backoff.
func (n *Notifier) push(ctx context.Context) bool {
	recips := n.recipients()
	n.baseline(recips)
	if n.discoveryDue() {
		n.checkSets(recips)
	}
	if err := n.sendDiscoveries(ctx); err != nil && retryable(err) {
		return true
	}
	err := n.flush(ctx, recips)
	return err != nil && retryable(err)
}

// discoveryDue reports whether the device set settled since it changed,
// and if so takes the check off the schedule.
func (n *Notifier) discoveryDue() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	due := !n.discoveryAt.IsZero() && !n.hub.Now().Before(n.discoveryAt)
	if due {
		n.discoveryAt = time.Time{}
	}
	return due
}

// flush sends everything pending: to each recipient the changes of its
// own devices, in chunks of maxPerCall. A chunk refused for good is
// dropped and the chunks after it still go; on a passing failure what was
// not sent goes back into pending, merged with newer changes, and the
// push stops until the retry. It returns that passing error, or else the
// first error.
func (n *Notifier) flush(ctx context.Context, recips []Recipient) error {
	n.mu.Lock()
	if len(n.pending) == 0 {
		n.mu.Unlock()
		return nil
	}
	batch := n.pending
	n.pending = make(map[string]*pend, len(batch))
	n.mu.Unlock()

	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	// Sorted for stable bodies (and tests).
	slices.Sort(ids)
	var first error
	for ri, r := range recips {
		mine := n.inScope(r.Scope, ids)
		for len(mine) > 0 {
			chunk := mine[:min(len(mine), maxPerCall)]
			var err error
			if body := n.stateBody(r.UserID, chunk, batch); body != nil {
				err = n.post(ctx, "/callback/state", body)
			}
			if err != nil && first == nil {
				first = err
			}
			if err != nil && retryable(err) {
				n.restore(mine, batch)
				if ri+1 < len(recips) {
					n.restore(ids, batch)
				}
				return err
			}
			mine = mine[len(chunk):]
		}
	}
	return first
}

func (n *Notifier) restore(ids []string, batch map[string]*pend) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		n.restoreLocked(id, batch[id])
	}
}

// stateBody builds a state callback, or nil when none of the devices has
// anything to say.
func (n *Notifier) stateBody(user string, ids []string, batch map[string]*pend) []byte {
	b := append([]byte(nil), `{"ts":`...)
	b = appendTS(b, n.hub.Now())
	b = append(b, `,"payload":{"user_id":`...)
	b = appendString(b, user)
	b = append(b, `,"devices":[`...)
	count := 0
	for _, id := range ids {
		p := batch[id]
		reach := n.hub.Reachable(&p.snap)
		switch {
		case !reach && !p.status, reach && !p.status && p.snap.State.Set.Intersect(p.fields).Empty():
			continue
		}
		if count > 0 {
			b = append(b, ',')
		}
		count++
		switch {
		case !reach:
			b = append(b, `{"id":`...)
			b = appendString(b, id)
			b = append(b, `,"status":"offline"}`...)
		case p.status:
			b = appendDeviceStatus(b, id, "online", &p.snap.State, p.fields)
		default:
			b = appendDeviceState(b, id, &p.snap.State, p.fields)
		}
	}
	if count == 0 {
		return nil
	}
	return append(b, "]}}"...)
}

// appendDeviceStatus is appendDeviceState with a device-level "status"
// after the id.
func appendDeviceStatus(b []byte, id, status string, st *hub.State, fields hub.FieldSet) []byte {
	enc := appendDeviceState(nil, id, st, fields)
	head := len(appendString([]byte(`{"id":`), id))
	b = append(b, enc[:head]...)
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, '"')
	return append(b, enc[head:]...)
}

func appendTS(b []byte, t time.Time) []byte {
	return strconv.AppendFloat(b, float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func (n *Notifier) sendDiscovery(ctx context.Context, user string) error {
	b := append([]byte(nil), `{"ts":`...)
	b = appendTS(b, n.hub.Now())
	b = append(b, `,"payload":{"user_id":`...)
	b = appendString(b, user)
	b = append(b, "}}"...)
	return n.post(ctx, "/callback/discovery", b)
}

// callbackError is a failed callback; temporary ones are retried.
type callbackError struct {
	status    int // 0: no HTTP answer
	temporary bool
	msg       string
}

func (e *callbackError) Error() string { return e.msg }
func (e *callbackError) Unwrap() error { return ErrCallback }

func retryable(err error) bool {
	ce, ok := err.(*callbackError)
	return ok && ce.temporary
}

func (n *Notifier) post(ctx context.Context, path string, body []byte) error {
	url := n.opts.BaseURL + "/api/v1/skills/" + n.opts.SkillID + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return n.failed(&callbackError{msg: fmt.Sprintf("yandex: callback %s: %v", path, err)})
	}
	req.Header.Set("Authorization", "OAuth "+n.opts.OAuthToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		return n.failed(&callbackError{temporary: true, msg: fmt.Sprintf("yandex: callback %s: %v", path, redact(err.Error(), n.opts.OAuthToken))})
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		n.mu.Lock()
		n.status.Sent++
		n.status.LastSuccess = n.hub.Now()
		n.mu.Unlock()
		return nil
	}
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_message"`
	}
	_ = json.Unmarshal(reply, &e)
	return n.failed(&callbackError{
		status:    resp.StatusCode,
		temporary: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
		msg:       fmt.Sprintf("yandex: callback %s: HTTP %d %s %s", path, resp.StatusCode, clip(e.Code, 64), clip(e.Msg, 200)),
	})
}

func (n *Notifier) failed(err *callbackError) error {
	n.mu.Lock()
	n.status.Failed++
	n.status.LastError = err.msg
	n.status.LastErrorAt = n.hub.Now()
	n.mu.Unlock()
	n.log.Warn("callback failed", "err", err.msg, "retry", err.temporary)
	return err
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "***")
}
