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
	perAddr map[string]int // clients by hub.AddrKey of their address

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
}

type client struct {
	ch   chan []byte
	gone chan struct{} // closed when the feed drops the client
	addr string        // hub.AddrKey of the client's address
}

func newFeed(s *Server) *feed {
	return &feed{s: s, done: make(chan struct{}), clients: map[*client]struct{}{}, perAddr: map[string]int{},
		touched: map[string]struct{}{}, kick: make(chan struct{}, 1)}
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
func (f *feed) add(addr string) (*client, error) {
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
	c := &client{ch: make(chan []byte, clientBuffer), gone: make(chan struct{}), addr: key}
	f.clients[c] = struct{}{}
	f.perAddr[key]++
	return c, nil
}

// dropLocked forgets c and tells its stream to end.
func (f *feed) dropLocked(c *client) {
	if _, ok := f.clients[c]; !ok {
		return
	}
	delete(f.clients, c)
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
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		select {
		case c.ch <- msg:
		default:
			f.dropLocked(c)
			f.dropped.Add(1)
		}
	}
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

	dirty := map[string]struct{}{}
	var events []hub.Event
	resync := false
	var lost uint64

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	refresh := time.NewTicker(s.opts.RefreshEvery)
	defer refresh.Stop()
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	seen := map[string]time.Time{}

	for {
		select {
		case <-s.closed:
			return
		case c, ok := <-sub.C:
			if !ok {
				return
			}
			switch c.Kind {
			case hub.ChangeState, hub.ChangeOnline, hub.ChangeInfo, hub.ChangeFault:
				dirty[c.Device] = struct{}{}
			case hub.ChangeDevices:
				resync = true
			case hub.ChangeEvent:
				if len(events) < 100 {
					events = append(events, c.Event)
				} else {
					resync = true
				}
			}
			if !armed {
				timer.Reset(s.opts.Coalesce)
				armed = true
			}
			continue
		case <-f.kick:
			f.touchMu.Lock()
			for id := range f.touched {
				dirty[id] = struct{}{}
			}
			clear(f.touched)
			f.touchMu.Unlock()
			if !armed {
				timer.Reset(s.opts.Coalesce)
				armed = true
			}
			continue
		case <-timer.C:
			armed = false
		case <-refresh.C:
			if f.count() > 0 {
				var st Status
				l := s.links()
				st.Gateway = s.gateway(&l)
				s.sections(&st, &l)
				f.broadcast(sseMessage(nil, "sections", st))
			}
			continue
		case <-heartbeat.C:
			if f.count() > 0 {
				f.broadcast(sseMessage(nil, "tick", s.tick(seen)))
			}
			continue
		}

		if d := sub.Dropped(); d != lost {
			f.lostChange.Add(d - lost)
			lost = d
			resync = true
		}
		if f.count() == 0 {
			clear(dirty)
			events, resync = events[:0], false
			continue
		}
		f.flushes.Add(1)
		if resync {
			f.broadcast(sseMessage(nil, "snapshot", s.status()))
		} else if buf := f.deltas(dirty, events); len(buf) > 0 {
			f.broadcast(buf)
		}
		clear(dirty)
		events, resync = events[:0], false
	}
}

// deltas is one flush's messages: the changed devices, the header's
// verdict they may have changed, and the new events.
func (f *feed) deltas(dirty map[string]struct{}, events []hub.Event) []byte {
	s := f.s
	var buf []byte
	l := s.links()
	for id := range dirty {
		if v, ok := s.deviceView(id, &l); ok {
			buf = sseMessage(buf, "device", v)
		}
	}
	if len(dirty) > 0 {
		buf = sseMessage(buf, "gateway", s.gateway(&l))
	}
	for _, ev := range events {
		buf = sseMessage(buf, "event", ev)
	}
	return buf
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
	c, err := s.feed.add(s.guard.clientAddr(r))
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
	first.Write(sseMessage(nil, "snapshot", s.status()))
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
