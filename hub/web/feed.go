package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"hubd/hub"
)

const (
	// clientBuffer is how many flushes a client may lag behind before it is
	// dropped; a dropped EventSource reconnects and starts from a snapshot.
	clientBuffer = 32
	// subBuffer is the hub subscription's room; when it overflows the feed
	// sends everyone a fresh snapshot instead of deltas.
	subBuffer = 4096
	// writeTimeout bounds one write to a client.
	writeTimeout = 10 * time.Second
)

// feed turns hub changes into server-sent events. One goroutine reads the
// hub subscription, gathers changes for Options.Coalesce, and hands each
// client one ready-made chunk per flush without ever waiting on it.
type feed struct {
	s    *Server
	done chan struct{}

	mu      sync.Mutex
	clients map[*client]struct{}
	byID    map[string]*client // by client.id
	perAddr map[string]int     // clients by hub.AddrKey of their address

	// touched holds devices whose view changed outside the hub (firmware
	// update progress); kick wakes the feed to send them.
	touchMu sync.Mutex
	touched map[string]struct{}
	kick    chan struct{}

	dropped    atomic.Uint64 // clients dropped for being slow
	refused    atomic.Uint64 // clients refused: the total cap
	refusedPer atomic.Uint64 // clients refused: their address's cap
	lostChange atomic.Uint64 // hub changes that did not fit the subscription
	flushes    atomic.Uint64
	capped     atomic.Uint64 // pages cut to Options.MaxFeedDevices
}

// headerEvery is how often at most the header's counts, the summary of
// problems and a viewer's "list" hint are sent: at 10,000 devices some
// device changes nearly every millisecond.
const headerEvery = time.Second

func newFeed(s *Server) *feed {
	return &feed{s: s, done: make(chan struct{}), clients: map[*client]struct{}{}, byID: map[string]*client{},
		perAddr: map[string]int{}, touched: map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

// touch asks the feed to resend device id; it never blocks.
func (f *feed) touch(id string) {
	f.touchMu.Lock()
	f.touched[id] = struct{}{}
	f.touchMu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// add registers a client from addr. Each address (an IPv6 /64) may hold
// Options.MaxClientsPerAddress streams, so that one address can not take
// every one of the Options.MaxClients slots from the other viewers.
func (f *feed) add(addr, owner string, q deviceQuery) (*client, error) {
	id, err := randomToken()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return nil, ErrClosed
	default:
	}
	key := hub.AddrKey(addr)
	if n := f.perAddr[key]; n >= f.s.opts.MaxClientsPerAddress {
		f.refusedPer.Add(1)
		return nil, fmt.Errorf("%w: %d streams from your address already", ErrTooManyClients, n)
	}
	if len(f.clients) >= f.s.opts.MaxClients {
		f.refused.Add(1)
		return nil, ErrTooManyClients
	}
	c := &client{ch: make(chan []byte, clientBuffer), gone: make(chan struct{}), addr: key, id: id, owner: owner, q: q}
	f.clients[c] = struct{}{}
	f.byID[id] = c
	f.perAddr[key]++
	return c, nil
}

// dropLocked forgets c and tells its stream to end.
func (f *feed) dropLocked(c *client) {
	if _, ok := f.clients[c]; !ok {
		return
	}
	delete(f.clients, c)
	delete(f.byID, c.id)
	if f.perAddr[c.addr]--; f.perAddr[c.addr] <= 0 {
		delete(f.perAddr, c.addr)
	}
	close(c.gone)
}

func (f *feed) remove(c *client) {
	f.mu.Lock()
	f.dropLocked(c)
	f.mu.Unlock()
}

func (f *feed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// broadcast hands msg to every client; a client whose buffer is full is
// dropped rather than waited for.
func (f *feed) broadcast(msg []byte) {
	for _, c := range f.list() {
		f.send(c, msg)
	}
}

// send hands msg to c, or drops c when its buffer is full.
func (f *feed) send(c *client, msg []byte) {
	select {
	case c.ch <- msg:
	default:
		f.mu.Lock()
		if _, ok := f.clients[c]; ok {
			f.dropLocked(c)
			f.dropped.Add(1)
		}
		f.mu.Unlock()
	}
}

// list returns the clients now connected.
func (f *feed) list() []*client {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*client, 0, len(f.clients))
	for c := range f.clients {
		out = append(out, c)
	}
	return out
}

// feedState is what the feed goroutine keeps between flushes.
type feedState struct {
	dirty  map[string]struct{}
	events []hub.Event
	resync bool
	// classes holds each device's class as last seen, while anyone
	// watches; nil: not known (no viewer since the last one left). The
	// Options functions are only called once a viewer is there: cmd/hubd
	// wires some of them after New.
	classes map[string]devClass

	headerDue   bool      // a device changed since the header was sent
	problemsDue bool      // a device's class changed since the summary was sent
	headerAt    time.Time // when the header was last sent
	headerKey   string    // the counts it carried
}

func (f *feed) run() {
	s := f.s
	sub := s.h.Subscribe(subBuffer)
	defer func() {
		s.h.Unsubscribe(sub)
		f.mu.Lock()
		for c := range f.clients {
			f.dropLocked(c)
		}
		close(f.done)
		f.mu.Unlock()
	}()
	st := &feedState{dirty: map[string]struct{}{}}
	var lost uint64

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	arm := func() {
		if !armed {
			timer.Reset(s.opts.Coalesce)
			armed = true
		}
	}
	refresh := time.NewTicker(s.opts.RefreshEvery)
	defer refresh.Stop()
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	// A quarter of headerEvery: what is held back goes at most that late.
	pulse := time.NewTicker(headerEvery / 4)
	defer pulse.Stop()

	for {
		select {
		case <-s.closed:
			return
		case c, ok := <-sub.C:
			if !ok {
				return
			}
			st.note(c)
			arm()
		case <-f.kick:
			f.touchMu.Lock()
			for id := range f.touched {
				st.dirty[id] = struct{}{}
			}
			clear(f.touched)
			f.touchMu.Unlock()
			arm()
		case <-timer.C:
			armed = false
			if d := sub.Dropped(); d != lost {
				f.lostChange.Add(d - lost)
				lost = d
				st.resync = true
			}
			f.flush(st)
		case <-refresh.C:
			if f.count() > 0 {
				f.broadcast(sseMessage(nil, "sections", s.sectionsStatus()))
			}
		case <-heartbeat.C:
			if f.count() > 0 {
				f.ticks()
			}
		case <-pulse.C:
			f.pulse(st)
		}
	}
}

// note takes one hub change into the next flush.
func (st *feedState) note(c hub.Change) {
	switch c.Kind {
	case hub.ChangeState, hub.ChangeOnline, hub.ChangeInfo, hub.ChangeFault:
		st.dirty[c.Device] = struct{}{}
	case hub.ChangeDevices:
		st.resync = true
	case hub.ChangeEvent:
		if len(st.events) < 100 {
			st.events = append(st.events, c.Event)
		} else {
			st.resync = true
		}
	}
}

// flush sends each viewer the changes of the devices it shows, the new
// events, and a hint to refetch its page where a device's change may have
// moved it into or out of the viewer's filter.
func (f *feed) flush(st *feedState) {
	s := f.s
	defer func() {
		clear(st.dirty)
		st.events, st.resync = st.events[:0], false
	}()
	clients := f.list()
	if len(clients) == 0 {
		st.classes = nil
		if st.resync {
			s.devIdx.invalidate()
		}
		return
	}
	f.flushes.Add(1)
	if st.resync {
		s.devIdx.invalidate()
		st.classes = nil
		f.snapshots()
		return
	}
	if st.classes == nil {
		// The devices of this flush count as changed: their class before
		// is not known.
		st.classes = s.classes()
		for id := range st.dirty {
			delete(st.classes, id)
		}
	}
	l := s.links()
	var changed []string
	for id := range st.dirty {
		c, ok := s.classOf(id, &l)
		if old, had := st.classes[id]; ok && (!had || old != c) {
			st.classes[id] = c
			changed = append(changed, id)
		}
	}
	if len(st.dirty) > 0 {
		st.headerDue = true
	}
	if len(changed) > 0 {
		st.problemsDue = true
	}
	views := map[string][]byte{}
	msg := func(id string) []byte {
		b, ok := views[id]
		if !ok {
			if v, ok := s.deviceView(id, &l); ok {
				b = sseMessage(nil, "device", v)
			}
			views[id] = b
		}
		return b
	}
	var evs []byte
	for _, ev := range st.events {
		evs = sseMessage(evs, "event", s.eventView(ev))
	}
	idx := s.index()
	for _, c := range clients {
		buf := c.deltas(st.dirty, changed, idx, msg)
		if buf = append(buf, evs...); len(buf) > 0 {
			f.send(c, buf)
		}
	}
	f.pulse(st)
}

// pulse sends what is due at most once a headerEvery: the header's counts
// (when they changed), the summary of problems, and each viewer's hint.
func (f *feed) pulse(st *feedState) {
	s := f.s
	now := time.Now()
	if st.headerDue && now.Sub(st.headerAt) >= headerEvery && f.count() > 0 {
		l := s.links()
		g := s.gateway(&l)
		key := fmt.Sprint(g.State, g.Online, g.Total, g.Faulty, g.LinksDown, g.Health, g.Alarms)
		var buf []byte
		if key != st.headerKey {
			buf = sseMessage(buf, "gateway", g)
			st.headerKey = key
		}
		if st.problemsDue {
			buf = sseMessage(buf, "problems", problemsMsg{Problems: s.problems(&l)})
		}
		if len(buf) > 0 {
			f.broadcast(buf)
		}
		st.headerDue, st.problemsDue, st.headerAt = false, false, now
	}
	for _, c := range f.list() {
		if c.hintNow(now) {
			f.send(c, sseMessage(nil, "list", struct{}{}))
		}
	}
}

// problemsMsg is the "problems" event: the summary's devices.
type problemsMsg struct {
	Problems []ProblemView `json:"problems"`
}

// snapshots sends every viewer a fresh snapshot of its own page.
func (f *feed) snapshots() {
	s := f.s
	base := s.baseStatus()
	for _, c := range f.list() {
		q, ver := c.view()
		st := s.withPage(base, &q, c, ver)
		if _, now := c.view(); now != ver {
			continue // the viewer moved to another page meanwhile: its answer stands
		}
		f.send(c, sseMessage(nil, "snapshot", st))
	}
}

// ticks sends each viewer the heartbeat, with the last-seen times of the
// devices it shows that were heard from since its last tick.
func (f *feed) ticks() {
	s := f.s
	l := s.links()
	t := Tick{Gateway: s.gateway(&l), Buses: l.buses, Brokers: l.brokers}
	for _, c := range f.list() {
		t.Seen = c.seenSince(s.h)
		f.send(c, sseMessage(nil, "tick", t))
	}
}

// sseMessage appends one server-sent event to buf. encoding/json never emits
// a raw newline, so the payload always fits one data line.
func sseMessage(buf []byte, event string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return buf
	}
	buf = append(buf, "event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !s.canView(r) {
		s.writeError(w, r, ErrUnauthorized)
		return
	}
	q, feedID, capped, err := parseQuery(r.URL.RawQuery, s.opts.MaxFeedDevices)
	if err == nil && feedID != "" {
		err = fmt.Errorf("%w: a new feed takes no feed id", ErrBadRequest)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if capped {
		s.feed.capped.Add(1)
	}
	c, err := s.feed.add(s.guard.clientAddr(r), s.viewer(r), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.feed.remove(c)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// Registered first, snapshot second: a change racing the snapshot is
	// sent again as a delta, never lost. Clients order devices by seq.
	var first bytes.Buffer
	first.WriteString("retry: 3000\n\n")
	_, ver := c.view()
	first.Write(sseMessage(nil, "snapshot", s.withPage(s.baseStatus(), &q, c, ver)))
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(first.Bytes()) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return
		case msg := <-c.ch:
			if !write(msg) {
				return
			}
		}
	}
}
