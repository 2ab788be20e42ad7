package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Driver carries commands to the devices it owns. Execute sends cmd to dev
// and returns once it was sent (or failed); the hub itself waits for the
// device's state echo to confirm it.
type Driver interface {
	Execute(ctx context.Context, dev Device, cmd Command) error
}

// DriverFunc adapts a function to Driver.
type DriverFunc func(ctx context.Context, dev Device, cmd Command) error

func (f DriverFunc) Execute(ctx context.Context, dev Device, cmd Command) error {
	return f(ctx, dev, cmd)
}

// Store keeps snapshots across restarts. Put must not block on disk: it
// queues the snapshot and the store coalesces writes.
type Store interface {
	Put(id string, snap Snapshot)
	LoadAll() (map[string]Snapshot, error)
}

// Availability is a driver's word on whether a device is reachable.
type Availability uint8

const (
	AvailUnchanged Availability = iota // implied online if the report carries state
	AvailOnline
	AvailOffline
)

// Report is what a driver learned from a device.
type Report struct {
	Device string
	At     time.Time // zero: now
	State  State     // values in State.Set; Updated is ignored
	Avail  Availability
	Info   *Info // set when the device identified itself
	// Cause says why, when the driver knows: with AvailOffline, why the
	// device is unreachable; on a report that keeps the device online, a
	// warning the driver still sees (CRC errors rising). A report without
	// one clears the driver's warning.
	Cause *Cause
	// Link is link quality the device or its bus reported; nil: none.
	Link *Link
	// Caps, when set, is what the device says it can do; it replaces the
	// capabilities the configuration did not pin (Device.Pinned).
	Caps *Caps
}

// Command asks a device to change state or to identify itself.
type Command struct {
	Device   string
	Set      State // the values to set, those in Set.Set
	Identify bool  // blink the lamp or click the relay so a person can find it
	Source   string
}

// Options configure a Hub. The zero value is usable.
type Options struct {
	// StaleAfter marks a device unreachable when it has not been heard from
	// for this long. Zero: 2 minutes.
	StaleAfter time.Duration
	// CommandTimeout bounds a command from send to confirmation. Zero: 2s.
	CommandTimeout time.Duration
	// Store persists snapshots; nil keeps state in memory only.
	Store Store
	// SeenEvery is how often reports that change nothing but when a
	// device was last seen reach the Store: each device's within
	// SeenEvery, a share of the devices at a time, and all at Close,
	// while every other change is put at once (see seen.go). After a
	// power cut the saved LastSeen may be this much older than the last
	// report. Zero: 1 minute. Negative: every report is put.
	SeenEvery time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// ChangeKind says what a Change is about.
type ChangeKind uint8

const (
	ChangeState   ChangeKind = iota + 1 // state values changed
	ChangeOnline                        // online/offline or stale
	ChangeInfo                          // a device identified itself
	ChangeDevices                       // the device set or site changed
	ChangeEvent                         // a notable event for people
	// ChangeFault: only the device's diagnosis changed (a warning came or
	// went, an offline device's cause changed); reachability did not.
	ChangeFault
)

// Change is fanned out to subscribers.
type Change struct {
	Kind     ChangeKind
	Device   string
	Fields   FieldSet // for ChangeState: the fields whose value changed
	Snapshot Snapshot
	Event    Event
}

// Event is something a technician should see in the recent events list.
//
// Text is English for logs and old clients; the page words an event from
// Code and Params in the technician's language, and shows Raw (an error's
// own text) only when asked for details.
type Event struct {
	At     time.Time         `json:"at"`
	Level  string            `json:"level"` // info, warn, error
	Source string            `json:"source"`
	Device string            `json:"device,omitempty"`
	Text   string            `json:"text"`
	Code   string            `json:"code,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	Raw    string            `json:"raw,omitempty"`
}

// Subscription receives changes. Sends never block the hub: when the
// subscription holds as many changes as it has room for, the change is
// dropped and counted.
//
// The changes wait in a ring that grows with the backlog and is let go
// once drained, not in a channel of the full room: a Change is about half
// a kilobyte, and subscribers ask for room for thousands to ride out a
// burst of reports from every device at once. A ring, not a slice that
// is appended to at the back and cut at the front, so that a steady
// stream of changes does not reallocate the queue again and again.
type Subscription struct {
	C       <-chan Change
	c       chan Change
	dropped atomic.Uint64

	mu     sync.Mutex
	q      []Change // ring of waiting changes: n of them from q[head] on
	head   int
	n      int
	room   int
	closed bool
	wake   chan struct{} // q is not empty, or the subscription closed
}

// keepQueue is the capacity a drained subscription queue may keep.
const keepQueue = 16

// minQueue is the capacity a subscription queue starts with.
const minQueue = 8

// Dropped is how many changes did not fit in the channel.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// entry is what the hub keeps of one device. A gateway keeps 10,000, so
// each is held to 512 bytes (TestEntry_FitsItsSizeClass): what few devices
// have at a time (commands waiting for a report, the last capability
// disagreement logged) lives beside the entries (beside.go), and the
// device's last capability report is snap.Caps itself (reported).
type entry struct {
	dev   Device
	snap  Snapshot
	stale bool
	// seenDirty: snap has a LastSeen the store was not given (seen.go).
	seenDirty bool
	// capsUnlearned: the hub took no capability report from the device,
	// whatever snap.Caps holds (one loaded from the store that the config
	// refuses, or one without fields carried over a reload).
	capsUnlearned bool
	// place is where the site puts the device, shared by every device of
	// its room; nil: the site does not place it.
	place *place
}

// reported is the device's last capability report the hub took.
func (e *entry) reported() Caps {
	if e.capsUnlearned {
		return Caps{}
	}
	return e.snap.Caps
}

// place is a room's place in the site: shared by the entries of its
// devices (one pointer each instead of two slices).
type place struct {
	homes []string // the homes the room is in (Site.homesOf)
	path  []*Node  // the site nodes down to the room (Site.Paths)
}

// homes is the homes the device sits in; nil: none.
func (e *entry) homes() []string {
	if e.place == nil {
		return nil
	}
	return e.place.homes
}

// path is the site nodes down to the device's room; nil: not placed.
func (e *entry) path() []*Node {
	if e.place == nil {
		return nil
	}
	return e.place.path
}

type waiter struct {
	want State
	done chan struct{}
}

// Hub is the service in the middle: it owns the current state of every
// device and routes commands to drivers.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	devs    map[string]*entry
	order   []string
	at      map[placeKey]*entry // device by driver and address
	site    *Site
	drivers map[string]Driver
	closed  bool
	waiters map[string][]*waiter // by device id, see beside.go
	clashes map[string]string    // by device id, see beside.go

	subMu sync.RWMutex
	subs  []*Subscription

	evMu   sync.Mutex
	events []Event

	statMu sync.Mutex
	stats  Stats

	stop chan struct{}
	wg   sync.WaitGroup
}

// Stats counts what the hub did, for metrics.
type Stats struct {
	Reports  map[string]uint64    // by driver
	Rejected map[string]uint64    // reports refused (unknown device, bad value), by driver
	Commands map[[2]string]uint64 // by driver and result ("ok", "unreachable", ...)
}

const maxEvents = 200

// New builds a hub for the given devices and site. Snapshots saved in the
// store are loaded so that the last known state is served at once.
func New(devs []Device, site *Site, opts Options) (*Hub, error) {
	if opts.StaleAfter == 0 {
		opts.StaleAfter = 2 * time.Minute
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SeenEvery == 0 {
		opts.SeenEvery = defaultSeenEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		opts:    opts,
		log:     opts.Logger,
		devs:    map[string]*entry{},
		drivers: map[string]Driver{},
		stop:    make(chan struct{}),
		stats: Stats{
			Reports:  map[string]uint64{},
			Rejected: map[string]uint64{},
			Commands: map[[2]string]uint64{},
		},
	}
	if err := h.setDevices(devs, site); err != nil {
		return nil, err
	}
	if opts.Store != nil {
		saved, err := opts.Store.LoadAll()
		if err != nil {
			return nil, err
		}
		for id, s := range saved {
			if e, ok := h.devs[id]; ok {
				e.snap = s
				e.capsUnlearned = true // until learnCaps takes s.Caps
				if s.Info != (Info{}) {
					e.dev.Info = s.Info
				}
				// What the device said it can do before the restart; a
				// disagreement with the config is logged again at its
				// next report.
				if !s.Caps.Fields.Empty() {
					h.learnCaps(e, &s.Caps)
					delete(h.clashes, id)
				}
			}
		}
	}
	h.wg.Add(1)
	go h.watchStale()
	if every := h.seenEvery(); every > 0 {
		h.wg.Add(1)
		go h.persistSeen(every)
	}
	return h, nil
}

func (h *Hub) setDevices(devs []Device, site *Site) error {
	if site == nil {
		site = &Site{} // no rooms
	}
	m := make(map[string]*entry, len(devs))
	order := make([]string, 0, len(devs))
	for _, d := range devs {
		if err := d.Validate(); err != nil {
			return err
		}
		if _, dup := m[d.ID]; dup {
			return fmt.Errorf("%w: device id %q is used twice", ErrInvalidDevice, d.ID)
		}
		e := &entry{dev: d}
		if old, ok := h.devs[d.ID]; ok {
			e.snap = old.snap
			e.seenDirty = old.seenDirty
			if d.Info == (Info{}) {
				e.dev.Info = old.dev.Info
			}
			rep := old.reported()
			e.capsUnlearned = rep.Fields.Empty() // a report without fields is none
			if !rep.Fields.Empty() {
				if nd, _ := e.dev.Learn(rep); nd.Validate() == nil {
					e.dev = nd
				}
			}
		}
		m[d.ID] = e
		order = append(order, d.ID)
	}
	if err := site.Validate(func(id string) bool { _, ok := m[id]; return ok }); err != nil {
		return err
	}
	homes, paths := site.homesOf(), site.Paths()
	places := map[*Node]*place{}
	for _, id := range order {
		p := paths[id]
		if p == nil {
			continue // homes come from the node that holds the device: none
		}
		room := p[len(p)-1]
		pl := places[room]
		if pl == nil {
			pl = &place{homes: homes[id], path: p}
			places[room] = pl
		}
		m[id].dev.Room = room.ID
		m[id].place = pl
	}
	sort.Strings(order)
	at := make(map[placeKey]*entry, len(order))
	for _, id := range order {
		e := m[id]
		at[placeKey{e.dev.Driver, e.dev.Address}] = e
	}
	waiters, clashes := h.besideKept(m)
	h.devs, h.order, h.at, h.site = m, order, at, site
	h.waiters, h.clashes = waiters, clashes
	return nil
}

// placeKey is where a device is: its driver and its address there. Its
// strings are the device's own, so the index costs no copies of them.
type placeKey struct{ driver, address string }

// Reconfigure replaces the device set and site (a config reload). State of
// devices that stay is kept. On error nothing changes.
func (h *Hub) Reconfigure(devs []Device, site *Site) error {
	h.mu.Lock()
	err := h.setDevices(devs, site)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	h.publish(Change{Kind: ChangeDevices})
	return nil
}

// Close stops the hub's background work.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.stop)
	h.wg.Wait()
	if h.seenEvery() > 0 {
		h.flushSeen() // reports after this are put one by one (h.closed)
	}
	return nil
}

// SetDriver registers the driver that owns devices whose Driver is name.
func (h *Hub) SetDriver(name string, d Driver) {
	h.mu.Lock()
	h.drivers[name] = d
	h.mu.Unlock()
}

// Now is the hub's clock.
func (h *Hub) Now() time.Time { return h.opts.Now() }

// StaleAfter is the configured silence after which a device is stale.
func (h *Hub) StaleAfter() time.Duration { return h.opts.StaleAfter }

// Apply takes a report from a driver. It never blocks on subscribers or disk.
func (h *Hub) Apply(r Report) error {
	at := r.At
	if at.IsZero() {
		at = h.opts.Now()
	}
	if err := r.State.Validate(); err != nil {
		h.countReport(h.driverOf(r.Device), false)
		return fmt.Errorf("hub: report for %s: %w", r.Device, err)
	}
	h.mu.Lock()
	e, ok := h.devs[r.Device]
	if !ok {
		h.mu.Unlock()
		h.countReport("", false)
		return fmt.Errorf("%w: %q", ErrNotFound, r.Device)
	}
	seq, seen := e.snap.Seq, e.snap.LastSeen
	capsChanged, reportedChanged, clash := h.learnCaps(e, r.Caps)
	// Drop values the device does not support, so a chatty device can not
	// grow capabilities it was not configured with.
	r.State.Set = r.State.Set.Intersect(e.dev.Fields)
	changed := e.snap.State.Merge(&r.State, at)
	wasOnline := e.snap.Online && !e.stale
	switch {
	case r.Avail == AvailOffline:
		e.snap.Online = false
	case r.Avail == AvailOnline || !r.State.Set.Empty() || r.Info != nil:
		e.snap.Online = true
		e.snap.LastSeen = at
		e.stale = false
	}
	faultChanged := false
	if r.Avail == AvailOffline || e.snap.Online {
		faultChanged = diagnose(e, &r, at, r.Avail != AvailOffline)
	}
	if r.Link != nil {
		e.snap.Link.merge(r.Link)
	}
	infoChanged := false
	if r.Info != nil && *r.Info != e.dev.Info {
		e.dev.Info = *r.Info
		e.snap.Info = *r.Info
		infoChanged = true
	}
	onlineChanged := wasOnline != e.snap.Online
	if !changed.Empty() || onlineChanged || infoChanged || faultChanged || reportedChanged {
		e.snap.Seq++
	}
	if len(h.waiters) > 0 && !r.State.Set.Empty() {
		h.confirmWaiters(r.Device, &r.State)
	}
	snap := e.snap
	driver := e.dev.Driver
	// A report that changed nothing the store keeps but the seen times
	// waits for flushSeen; any other change takes the newest along.
	put := h.opts.Store != nil && (e.snap.Seq != seq || h.closed || h.seenEvery() == 0)
	if put {
		e.seenDirty = false
	} else if h.opts.Store != nil && (!snap.LastSeen.Equal(seen) || !r.State.Set.Empty()) {
		e.seenDirty = true
	}
	h.mu.Unlock()

	h.countReport(driver, true)
	if put {
		h.opts.Store.Put(r.Device, snap)
	}
	if !changed.Empty() {
		h.publish(Change{Kind: ChangeState, Device: r.Device, Fields: changed, Snapshot: snap})
	}
	if onlineChanged {
		h.publish(Change{Kind: ChangeOnline, Device: r.Device, Snapshot: snap})
		h.logOnline(driver, r.Device, &snap)
	} else if faultChanged {
		h.publish(Change{Kind: ChangeFault, Device: r.Device, Snapshot: snap})
	}
	if infoChanged {
		h.publish(Change{Kind: ChangeInfo, Device: r.Device, Snapshot: snap})
	}
	if clash != "" {
		h.Log("warn", driver, r.Device, clash)
	}
	if capsChanged {
		// The device set as the platforms see it changed: the Yandex
		// notifier sends a discovery callback on ChangeDevices.
		h.publish(Change{Kind: ChangeDevices, Device: r.Device})
	}
	return nil
}

func (h *Hub) driverOf(id string) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if e, ok := h.devs[id]; ok {
		return e.dev.Driver
	}
	return ""
}

func (h *Hub) countReport(driver string, ok bool) {
	h.statMu.Lock()
	if ok {
		h.stats.Reports[driver]++
	} else {
		h.stats.Rejected[driver]++
	}
	h.statMu.Unlock()
}

// Confirms reports whether a device's reported state r shows every value
// asked for in want, within the rounding that real devices apply.
func Confirms(r, want *State) bool {
	for _, f := range want.Set.List() {
		if !r.Set.Has(f) {
			return false
		}
		switch f {
		case FieldOn:
			if r.On != want.On {
				return false
			}
		case FieldBrightness:
			if absInt(r.Brightness-want.Brightness) > 1 {
				return false
			}
		case FieldColor:
			if hueDist(r.Color.H, want.Color.H) > 2 || absInt(r.Color.S-want.Color.S) > 2 || absInt(r.Color.V-want.Color.V) > 2 {
				return false
			}
		case FieldTemperatureK:
			// Devices that work in mireds round to a whole mired.
			if math.Abs(float64(r.TemperatureK-want.TemperatureK)) > float64(want.TemperatureK)*0.03+10 {
				return false
			}
		default:
			if math.Abs(r.Float(f)-want.Float(f)) > 1e-6 {
				return false
			}
		}
	}
	return true
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func hueDist(a, b int) int {
	d := absInt(a-b) % 360
	if d > 180 {
		d = 360 - d
	}
	return d
}

// Execute sends a command to the owning driver and waits for the device to
// confirm it by reporting the new values. A device configured as Slow is
// acknowledged once the command was sent.
func (h *Hub) Execute(ctx context.Context, cmd Command) (err error) {
	h.mu.Lock()
	e, ok := h.devs[cmd.Device]
	if !ok {
		h.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, cmd.Device)
	}
	dev := e.dev
	drv := h.drivers[dev.Driver]
	reachable := e.snap.Reachable(h.opts.Now(), h.opts.StaleAfter) || e.snap.LastSeen.IsZero() && e.snap.Online
	h.mu.Unlock()
	defer func() { h.countCommand(dev.Driver, dev.ID, err) }()

	if missing := cmd.Set.Set.Minus(dev.Fields); !missing.Empty() {
		return fmt.Errorf("%w: %s has no %s", ErrNotSupported, dev.ID, missing)
	}
	if err := cmd.Set.Validate(); err != nil {
		return err
	}
	if cmd.Set.Set.Has(FieldTemperatureK) && (cmd.Set.TemperatureK < dev.TempMinK || cmd.Set.TemperatureK > dev.TempMaxK) {
		return fmt.Errorf("%w: %d K is outside %d..%d K", ErrInvalidValue, cmd.Set.TemperatureK, dev.TempMinK, dev.TempMaxK)
	}
	if drv == nil {
		return fmt.Errorf("%w: %s wants driver %q", ErrNoDriver, dev.ID, dev.Driver)
	}
	if !reachable {
		return fmt.Errorf("%w: %s is offline", ErrUnreachable, dev.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.CommandTimeout)
	defer cancel()

	var w *waiter
	if !cmd.Set.Set.Empty() && !dev.Slow {
		w = &waiter{want: cmd.Set, done: make(chan struct{})}
		h.mu.Lock()
		if e, ok := h.devs[cmd.Device]; ok {
			h.addWaiter(e.dev.ID, w)
		}
		h.mu.Unlock()
		defer h.dropWaiter(cmd.Device, w)
	}
	err = drv.Execute(ctx, dev, cmd)
	h.commandFault(dev.ID, err)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w: %s: %v", ErrUnreachable, dev.ID, err)
		}
		return err
	}
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %s did not confirm within %v", ErrUnreachable, dev.ID, h.opts.CommandTimeout)
	}
}

func (h *Hub) dropWaiter(id string, w *waiter) {
	h.mu.Lock()
	h.removeWaiter(id, w)
	h.mu.Unlock()
}

// ResultOf names an Execute error for logs and metrics.
func ResultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, ErrNotSupported):
		return "not_supported"
	case errors.Is(err, ErrInvalidValue):
		return "invalid_value"
	case errors.Is(err, ErrBusy):
		return "busy"
	default:
		return "error"
	}
}

func (h *Hub) countCommand(driver, device string, err error) {
	res := ResultOf(err)
	h.statMu.Lock()
	h.stats.Commands[[2]string{driver, res}]++
	h.statMu.Unlock()
	if err != nil && res != "not_supported" && res != "invalid_value" {
		h.LogEvent(Event{Level: "warn", Source: driver, Device: device, Text: "command failed: " + err.Error(),
			Code: "command_failed", Params: map[string]string{"result": res}, Raw: err.Error()})
	}
}

// Stats returns a copy of the hub's counters.
func (h *Hub) Stats() Stats {
	h.statMu.Lock()
	defer h.statMu.Unlock()
	s := Stats{Reports: map[string]uint64{}, Rejected: map[string]uint64{}, Commands: map[[2]string]uint64{}}
	for k, v := range h.stats.Reports {
		s.Reports[k] = v
	}
	for k, v := range h.stats.Rejected {
		s.Rejected[k] = v
	}
	for k, v := range h.stats.Commands {
		s.Commands[k] = v
	}
	return s
}

// Device returns a device's definition.
func (h *Hub) Device(id string) (Device, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.devs[id]
	if !ok {
		return Device{}, false
	}
	return e.dev, true
}

// DeviceAt returns the device at address of driver, without copying the
// others (discovery asks this for every message it hears).
func (h *Hub) DeviceAt(driver, address string) (Device, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.at[placeKey{driver, address}]
	if !ok {
		return Device{}, false
	}
	return e.dev, true
}

// Snapshot returns a device's definition and what is known of it now.
func (h *Hub) Snapshot(id string) (Device, Snapshot, bool) {
	h.mu.RLock()
	e, ok := h.devs[id]
	if !ok {
		h.mu.RUnlock()
		return Device{}, Snapshot{}, false
	}
	d, s := e.dev, e.snap
	h.mu.RUnlock()
	return d, s, true
}

// Version is what an answer rendered from a device's snapshot depends on
// besides its id: the snapshot's Seq, the device's fields and whether it
// is reachable. In is false for a device the hub does not have or the
// scope asked about does not cover.
type Version struct {
	Seq       uint64
	Fields    FieldSet
	Reachable bool
	In        bool
}

// versionChunk is how many devices VersionsOf looks up under one hold of
// the read lock: few enough that a report waits only microseconds.
const versionChunk = 64

// VersionsOf appends the Version at now of each of ids, as sc sees it, to
// vers. It copies nothing of the devices, and takes the read lock once
// for many: a cache of answers rendered from Snapshot checks it before
// serving them, and takes the Snapshot only of a device whose cached
// answer is out of date.
func (h *Hub) VersionsOf(ids []string, sc Scope, now time.Time, vers []Version) []Version {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), versionChunk)]
		ids = ids[len(chunk):]
		h.mu.RLock()
		for _, id := range chunk {
			e, ok := h.devs[id]
			if !ok || !sc.Staff && !sc.Covers(e.homes()) {
				vers = append(vers, Version{})
				continue
			}
			vers = append(vers, Version{Seq: e.snap.Seq, Fields: e.dev.Fields, Reachable: e.snap.Reachable(now, h.opts.StaleAfter), In: true})
		}
		h.mu.RUnlock()
	}
	return vers
}

// Devices returns every device, ordered by id.
func (h *Hub) Devices() []Device {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]Device, 0, len(h.order))
	for _, id := range h.order {
		out = append(out, h.devs[id].dev)
	}
	return out
}

// RoomPath is the path of site nodes from a building down to the node
// that holds device id, as Site.RoomOf finds it, without searching the
// tree; nil when the site does not place the device. Callers must not
// modify it.
func (h *Hub) RoomPath(id string) []*Node {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if e, ok := h.devs[id]; ok {
		return e.path()
	}
	return nil
}

// Site returns the site tree. Callers must not modify it.
func (h *Hub) Site() *Site {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.site
}

// Reachable reports whether a device may be served as current now.
func (h *Hub) Reachable(s *Snapshot) bool {
	return s.Reachable(h.opts.Now(), h.opts.StaleAfter)
}

// Subscribe returns a subscription with room for buf changes (zero or
// less: 1024).
func (h *Hub) Subscribe(buf int) *Subscription {
	if buf <= 0 {
		buf = 1024
	}
	c := make(chan Change)
	s := &Subscription{C: c, c: c, room: buf, wake: make(chan struct{}, 1)}
	h.subMu.Lock()
	h.subs = append(h.subs, s)
	h.subMu.Unlock()
	go s.pump()
	return s
}

// Subscribers is the number of subscriptions changes are delivered to.
func (h *Hub) Subscribers() int {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	return len(h.subs)
}

// Unsubscribe stops deliveries to s; its channel is closed once the
// changes still queued are dropped.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	for i, x := range h.subs {
		if x == s {
			h.subs = append(h.subs[:i], h.subs[i+1:]...)
			s.mu.Lock()
			s.closed = true
			s.q, s.head, s.n = nil, 0, 0
			s.mu.Unlock()
			s.signal()
			return
		}
	}
}

func (h *Hub) publish(c Change) {
	h.subMu.RLock()
	for _, s := range h.subs {
		s.offer(c)
	}
	h.subMu.RUnlock()
}

// offer queues c unless the subscription is full or closed.
func (s *Subscription) offer(c Change) {
	s.mu.Lock()
	if s.closed || s.n >= s.room {
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	if s.n == len(s.q) {
		s.grow()
	}
	s.q[(s.head+s.n)%len(s.q)] = c
	s.n++
	first := s.n == 1
	s.mu.Unlock()
	if first {
		s.signal() // the pump waits only on an empty queue (or a close)
	}
}

// grow doubles the ring, up to the room, and lays the queued changes out
// from its start. The caller holds s.mu.
func (s *Subscription) grow() {
	q := make([]Change, min(max(2*len(s.q), minQueue), s.room))
	k := copy(q, s.q[s.head:])
	copy(q[k:], s.q[:s.head])
	s.q, s.head = q, 0
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// pump hands the queued changes to C, one at a time, until the
// subscription is closed; then it closes C.
func (s *Subscription) pump() {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			close(s.c)
			return
		}
		if s.n == 0 {
			if len(s.q) > keepQueue {
				s.q, s.head = nil, 0 // a burst is over: let its queue go
			}
			s.mu.Unlock()
			<-s.wake
			continue
		}
		c := s.q[s.head]
		s.mu.Unlock()
		select {
		case s.c <- c:
			s.mu.Lock()
			if s.n > 0 && !s.closed {
				s.q[s.head] = Change{}
				s.head = (s.head + 1) % len(s.q)
				s.n--
			}
			s.mu.Unlock()
		case <-s.wake:
			// Closed (or a stale wake-up): look again (c is still first).
		}
	}
}

// Log records an event for the status page and fans it out.
func (h *Hub) Log(level, source, device, text string) {
	h.LogEvent(Event{Level: level, Source: source, Device: device, Text: text})
}

// LogEvent records ev (stamped now if its time is zero) for the status
// page and fans it out.
func (h *Hub) LogEvent(ev Event) {
	if ev.At.IsZero() {
		ev.At = h.opts.Now()
	}
	h.evMu.Lock()
	if len(h.events) >= maxEvents {
		copy(h.events, h.events[1:])
		h.events = h.events[:maxEvents-1]
	}
	h.events = append(h.events, ev)
	h.evMu.Unlock()
	h.publish(Change{Kind: ChangeEvent, Device: ev.Device, Event: ev})
}

// Events returns recent events, oldest first.
func (h *Hub) Events() []Event {
	h.evMu.Lock()
	defer h.evMu.Unlock()
	return append([]Event(nil), h.events...)
}

// watchStale announces devices that fell silent, so subscribers learn that
// they are unreachable even though no report said so.
func (h *Hub) watchStale() {
	defer h.wg.Done()
	every := h.opts.StaleAfter / 4
	if every < 50*time.Millisecond {
		every = 50 * time.Millisecond
	}
	if every > 5*time.Second {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.opts.Now()
		var gone []Change
		h.mu.Lock()
		for id, e := range h.devs {
			if e.snap.Online && !e.stale && !e.snap.LastSeen.IsZero() && now.Sub(e.snap.LastSeen) > h.opts.StaleAfter {
				e.stale = true
				e.snap.Fault = newFault(Cause{Code: CauseStale, Params: map[string]string{"for": secs(h.opts.StaleAfter)}},
					SeverityError, e.snap.Fault, e.snap.LastSeen.Add(h.opts.StaleAfter))
				e.snap.Seq++
				gone = append(gone, Change{Kind: ChangeOnline, Device: id, Snapshot: e.snap})
			}
		}
		h.mu.Unlock()
		for _, c := range gone {
			h.publish(c)
			h.logOnline("hub", c.Device, &c.Snapshot)
		}
	}
}
