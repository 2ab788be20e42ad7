package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"hubd/firmware/wire"
	"hubd/hub"
)

// node is one device as its bus goroutine sees it. Only that goroutine
// touches it, but for gone.
type node struct {
	id         string
	addr       uint8
	gone       atomic.Bool // removed by SetDevices: no more polls, reports or commands
	identified bool
	online     bool      // as last reported to the hub
	fails      int       // failed exchanges in a row
	timeouts   uint64    // exchanges that got no reply
	crcErrors  uint64    // corrupt frames heard while this node was awaited
	lastCRC    time.Time // when the last of them came
	linkSent   [2]uint64 // timeouts and crcErrors as last reported
	lastFull   time.Time
	nextTry    time.Time // when an offline device is tried again
}

// request is a command on its way to the bus goroutine.
type request struct {
	ctx      context.Context
	node     *node
	set      *wire.State
	identify bool
	raw      *rawExchange // one request of a firmware update instead
	done     chan error   // buffered: the bus never blocks on it
}

// bus is one serial line and the goroutine that owns it.
type bus struct {
	d    *Driver
	cfg  BusConfig
	log  *slog.Logger
	cmds chan *request
	// scanning is set while a Scan runs on the bus (scan.go).
	scanning atomic.Bool

	// Owned by the bus goroutine.
	port   io.ReadWriteCloser
	dec    wire.Decoder
	seq    uint8
	ioErrs int
	buf    []byte
	out    []byte
	crcs   uint64 // decoder CRC errors already counted

	mu     sync.Mutex
	nodes  []*node // replaced whole by setNodes, never changed in place
	status hub.BusStatus
	opened bool // opened at least once: later opens are reconnects
}

func newBus(d *Driver, cfg BusConfig) *bus {
	return &bus{
		d: d, cfg: cfg, log: d.log.With("bus", cfg.Name, "port", cfg.Port),
		cmds:   make(chan *request, 16),
		seq:    uint8(rand.N(256)),
		buf:    make([]byte, 256),
		out:    make([]byte, 0, wire.MaxFrame),
		status: hub.BusStatus{Name: cfg.Name, Port: cfg.Port},
	}
}

func (b *bus) statusCopy() hub.BusStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// nodeList returns the devices to poll now. The slice is never modified.
func (b *bus) nodeList() []*node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodes
}

func (b *bus) setNodes(ns []*node) {
	b.mu.Lock()
	b.nodes = ns
	b.status.Devices = len(ns)
	b.mu.Unlock()
}

func (b *bus) stat(fn func(s *hub.BusStatus)) {
	b.mu.Lock()
	fn(&b.status)
	b.mu.Unlock()
}

// event tells a technician about the bus. Code and params (the bus and
// port are added) word it on the status page; text is the English for
// logs; err, maybe nil, is kept as the raw detail.
func (b *bus) event(level, device, code string, params map[string]string, err error, text string) {
	ev := hub.Event{Level: level, Source: Name, Device: device, Code: code,
		Params: map[string]string{"bus": b.cfg.Name, "port": b.cfg.Port},
		Text:   fmt.Sprintf("bus %s (%s): %s", b.cfg.Name, b.cfg.Port, text)}
	for k, v := range params {
		ev.Params[k] = v
	}
	if err != nil {
		ev.Raw = err.Error()
		ev.Text += ": " + ev.Raw
	}
	b.d.opts.Events(ev)
}

// portGone is the cause of every device of a bus whose port is not open.
func (b *bus) portGone(err error) *hub.Cause {
	c := &hub.Cause{Code: hub.CausePortGone, Params: map[string]string{"bus": b.cfg.Name, "port": b.cfg.Port}}
	if err != nil {
		c.Raw = err.Error()
	}
	return c
}

const minBackoff = 100 * time.Millisecond

// run opens, serves and reopens the port until ctx is done.
func (b *bus) run(ctx context.Context) {
	backoff := minBackoff
	failing := false // an open failure was already announced
	for ctx.Err() == nil {
		port, err := b.d.opts.Open(b.cfg.Port, b.cfg.Baud)
		if err != nil {
			b.stat(func(s *hub.BusStatus) { s.LastError = err.Error() })
			if !failing {
				b.log.Warn("open failed", "err", err)
				b.event("error", "", "port_open_failed", nil, err, "cannot open port")
				b.allOffline(err)
				failing = true
			}
			b.idle(ctx, backoff)
			backoff = min(2*backoff, b.cfg.MaxBackoff)
			continue
		}
		failing = false
		b.mu.Lock()
		reopen := b.opened
		b.opened = true
		b.status.Open, b.status.OpenSince = true, time.Now()
		b.status.LastError = "" // an error from before the port opened is history
		if reopen {
			b.status.Reconnects++
		}
		b.mu.Unlock()
		if reopen {
			b.log.Info("port reopened")
			b.event("info", "", "port_reopened", nil, nil, "port reopened")
		} else {
			b.log.Info("port open")
		}
		b.port, b.ioErrs, b.crcs = port, 0, 0
		b.dec = wire.Decoder{}
		heard := b.dec.Frames
		err = b.serve(ctx)
		heard = b.dec.Frames - heard
		port.Close()
		b.port = nil
		b.stat(func(s *hub.BusStatus) {
			s.Open, s.OpenSince = false, time.Time{}
			if err != nil {
				s.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			return
		}
		b.allOffline(err)
		b.log.Warn("port lost", "err", err)
		b.event("error", "", "port_lost", nil, err, "port lost")
		if heard > 0 {
			backoff = minBackoff // the port worked: come back fast
		}
		b.idle(ctx, backoff)
		backoff = min(2*backoff, b.cfg.MaxBackoff)
	}
}

// idle waits d while the port is closed, failing commands at once.
func (b *bus) idle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case r := <-b.cmds:
			r.done <- fmt.Errorf("%w: %s", ErrPortGone, b.cfg.Port)
		}
	}
}

// allOffline reports every device offline when the port is lost or does
// not open; err says why.
func (b *bus) allOffline(err error) {
	for _, n := range b.nodeList() {
		n.identified, n.fails, n.nextTry = false, 0, time.Time{}
		// Reported even when this run never saw the device: the hub may
		// hold it as online from the state stored before a restart.
		n.online = false
		b.apply(n, hub.Report{Device: n.id, Avail: hub.AvailOffline, Cause: b.portGone(err)})
	}
}

// apply passes a report about n to the hub, unless n was removed.
func (b *bus) apply(n *node, r hub.Report) {
	if n.gone.Load() || n.id == "" { // removed, or a scan's probe (scan.go)
		return
	}
	if err := b.d.opts.Apply(r); err != nil {
		b.log.Debug("report refused", "device", r.Device, "err", err)
	}
}

// serve polls and carries commands until ctx is done or the port fails.
func (b *bus) serve(ctx context.Context) error {
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	if err := b.pollCycle(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-b.cmds:
			if err := b.command(r); err != nil {
				return err
			}
		case <-tick.C:
			if err := b.pollCycle(ctx); err != nil {
				return err
			}
		}
	}
}

// pending runs queued commands; it returns a port error.
func (b *bus) pending() error {
	for {
		select {
		case r := <-b.cmds:
			if err := b.command(r); err != nil {
				return err
			}
			if r.raw != nil && r.raw.bulk {
				return nil // one update chunk per gap: the next device's poll goes first
			}
		default:
			return nil
		}
	}
}

// pollCycle visits every device once, letting commands in between.
func (b *bus) pollCycle(ctx context.Context) error {
	for _, n := range b.nodeList() {
		if ctx.Err() != nil {
			return nil
		}
		if err := b.pending(); err != nil {
			return err
		}
		if n.gone.Load() {
			continue
		}
		if err := b.poll(ctx, n); errors.Is(err, ErrPortGone) {
			return err
		}
	}
	return nil
}

// poll does one device's share of a cycle: identify on first contact, then
// a full state read now and then, else "any news?".
func (b *bus) poll(ctx context.Context, n *node) error {
	now := time.Now()
	attempts := 1 + b.cfg.Retries
	if !n.online && n.fails >= b.cfg.OfflineAfter {
		// An offline device gets one try now and then, so that a bus of
		// dead devices does not starve the live ones.
		if now.Before(n.nextTry) {
			return nil
		}
		n.nextTry = now.Add(max(5*b.cfg.PollInterval, 2*time.Second))
		attempts = 1
	}
	deadline := now.Add(time.Duration(attempts) * (b.cfg.Timeout + 100*time.Millisecond))
	if !n.identified {
		resp, err := b.transact(ctx, n, wire.CmdIdentify, nil, attempts, deadline)
		if err != nil {
			return b.failed(n, err)
		}
		if resp.Cmd != wire.ReplyInfo {
			return b.failed(n, fmt.Errorf("%w: %v to IDENTIFY", ErrBadReply, resp.Cmd))
		}
		in, err := wire.DecodeInfo(resp.Payload)
		if err != nil {
			return b.failed(n, fmt.Errorf("%w: %w", ErrBadReply, err))
		}
		n.identified = true
		b.log.Info("device identified", "device", n.id, "addr", n.addr, "model", in.Model, "firmware", in.FirmwareString())
		b.apply(n, hub.Report{Device: n.id, Info: toInfo(in), Caps: capsOf(in)})
		n.lastFull = time.Time{}
	}
	cmd := wire.CmdPoll
	if n.lastFull.IsZero() || now.Sub(n.lastFull) >= b.cfg.RefreshEvery {
		cmd = wire.CmdGetState
	}
	resp, err := b.transact(ctx, n, cmd, nil, attempts, deadline)
	if err != nil {
		return b.failed(n, err)
	}
	switch resp.Cmd {
	case wire.ReplyState:
		if cmd == wire.CmdGetState {
			n.lastFull = now
		}
		return b.takeState(n, resp)
	case wire.ReplyAck:
		b.alive(n)
		return nil
	case wire.ReplyError:
		e, _ := wire.DecodeError(resp.Payload)
		b.alive(n)
		b.log.Warn("device error", "device", n.id, "err", e)
		return nil
	}
	return b.failed(n, fmt.Errorf("%w: %v to %v", ErrBadReply, resp.Cmd, cmd))
}

// takeState applies a STATE reply.
func (b *bus) takeState(n *node, resp wire.Frame) error {
	s, err := wire.DecodeState(resp.Payload)
	if err != nil {
		return b.failed(n, fmt.Errorf("%w: %w", ErrBadReply, err))
	}
	n.fails = 0
	n.online = true
	b.apply(n, b.linkReport(n, hub.Report{Device: n.id, State: toHub(s)}))
	return nil
}

// alive notes an answer that carries no state. It is reported every time:
// the hub's last_seen, and so whether the device is stale, rests on it.
func (b *bus) alive(n *node) {
	n.fails = 0
	n.online = true
	b.apply(n, b.linkReport(n, hub.Report{Device: n.id, Avail: hub.AvailOnline}))
}

// failed counts a failed exchange and reports the device offline after
// OfflineAfter of them. It passes port errors through.
func (b *bus) failed(n *node, err error) error {
	if errors.Is(err, ErrPortGone) {
		return err
	}
	n.fails++
	if n.fails == b.cfg.OfflineAfter {
		n.identified = false
		n.nextTry = time.Now().Add(max(5*b.cfg.PollInterval, 2*time.Second))
		b.log.Warn("device not answering", "device", n.id, "addr", n.addr, "err", err)
		// Reported even when this run never saw the device (see allOffline).
		// The hub logs the event, with the cause.
		n.online = false
		b.apply(n, b.linkReport(n, hub.Report{Device: n.id, Avail: hub.AvailOffline, Cause: b.silentCause(n, err)}))
	}
	return err
}

// command carries one command: BLINK and/or SET_STATE. It returns only a
// port error; the command's own result goes to r.done.
func (b *bus) command(r *request) error {
	n := r.node
	if n.gone.Load() {
		// Removed while the command waited: it never reaches the line.
		r.done <- fmt.Errorf("%w: %s was removed", ErrUnknownDevice, n.id)
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		r.done <- err
		return nil
	}
	if r.raw != nil {
		return b.rawCommand(r)
	}
	deadline, ok := r.ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Duration(1+b.cfg.Retries) * (b.cfg.Timeout + 100*time.Millisecond))
	}
	attempts := 1 + b.cfg.Retries
	if r.identify {
		resp, err := b.transact(r.ctx, n, wire.CmdBlink, nil, attempts, deadline)
		if err == nil {
			switch resp.Cmd {
			case wire.ReplyAck:
				b.alive(n)
			case wire.ReplyError:
				e, _ := wire.DecodeError(resp.Payload)
				b.alive(n)
				err = errorOf(e)
			default:
				err = fmt.Errorf("%w: %v to BLINK", ErrBadReply, resp.Cmd)
			}
		}
		if err != nil || r.set == nil {
			r.done <- err
			if errors.Is(err, ErrPortGone) {
				return err
			}
			return nil
		}
	}
	payload, err := wire.AppendState(nil, r.set)
	if err != nil {
		r.done <- fmt.Errorf("%w: %w", hub.ErrInvalidValue, err)
		return nil
	}
	resp, err := b.transact(r.ctx, n, wire.CmdSetState, payload, attempts, deadline)
	if err == nil {
		switch resp.Cmd {
		case wire.ReplyState:
			err = b.takeState(n, resp)
		case wire.ReplyError:
			e, _ := wire.DecodeError(resp.Payload)
			b.alive(n)
			err = errorOf(e)
		default:
			err = fmt.Errorf("%w: %v to SET_STATE", ErrBadReply, resp.Cmd)
		}
	}
	r.done <- err
	if errors.Is(err, ErrPortGone) {
		return err
	}
	return nil
}

// maxIOErrors is how many read or write errors in a row mean the port is
// gone (an unplugged USB adapter shows up only as such errors).
const maxIOErrors = 3

// transact sends one request and waits for its reply, retrying with the
// same sequence number (the device answers a retry from its cache without
// acting twice). It gives up at deadline.
func (b *bus) transact(ctx context.Context, n *node, cmd wire.Cmd, payload []byte, attempts int, deadline time.Time) (wire.Frame, error) {
	b.seq++
	req := wire.Frame{Addr: n.addr, Seq: b.seq, Cmd: cmd, Payload: payload}
	var err error
	b.out, err = wire.AppendFrame(b.out[:0], req)
	if err != nil {
		return wire.Frame{}, err
	}
	var last error = ErrTimeout
	for range attempts {
		if err := ctx.Err(); err != nil {
			return wire.Frame{}, err
		}
		if !time.Now().Before(deadline) {
			break
		}
		if _, err := b.port.Write(b.out); err != nil {
			if b.ioError(err) {
				return wire.Frame{}, fmt.Errorf("%w: write: %w", ErrPortGone, err)
			}
			last = err
			continue
		}
		b.stat(func(s *hub.BusStatus) { s.FramesOut++ })
		wait := min(b.cfg.Timeout, time.Until(deadline))
		crcs := b.dec.CRCErrors
		resp, err := b.await(ctx, n.addr, req.Seq, wait)
		if c := b.dec.CRCErrors - crcs; c > 0 {
			n.crcErrors += c
			n.lastCRC = time.Now()
		}
		if errors.Is(err, ErrTimeout) {
			n.timeouts++
		}
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, ErrPortGone) {
			return wire.Frame{}, err
		}
		last = err
		if errors.Is(err, ErrTimeout) {
			b.stat(func(s *hub.BusStatus) { s.Timeouts++ })
			b.dec.Reset() // the silence ends any partial frame
		}
	}
	return wire.Frame{}, fmt.Errorf("device %d, %v: %w", n.addr, cmd, last)
}

// ioError counts a read or write error and reports whether the port is gone.
func (b *bus) ioError(err error) bool {
	b.ioErrs++
	b.stat(func(s *hub.BusStatus) { s.LastError = err.Error() })
	return b.ioErrs >= maxIOErrors
}

// await reads until the reply from addr with seq arrives or wait passes.
// Frames that do not match (a late reply to an earlier attempt, another
// device) are dropped.
//
// wait is the reply timeout of PROTOCOL.md section 8, and it is kept to the
// millisecond: a reply whose last byte arrives after it is late and is
// dropped, as a timeout. A port read returns as soon as bytes arrive but
// waits up to its read step (100 ms with tarm/serial) when none do, so the
// silence itself may be noticed up to one step after the deadline.
func (b *bus) await(ctx context.Context, addr, seq uint8, wait time.Duration) (wire.Frame, error) {
	deadline := time.Now().Add(wait)
	quickEOF := 0
	for {
		start := time.Now()
		n, err := b.port.Read(b.buf)
		arrived := time.Now()
		if n > 0 {
			b.ioErrs, quickEOF = 0, 0
			b.dec.Write(b.buf[:n])
			for {
				f, ok := b.dec.Next()
				if !ok {
					break
				}
				b.stat(func(s *hub.BusStatus) { s.FramesIn++ })
				if f.Cmd.IsReply() && f.Addr == addr && f.Seq == seq {
					b.countCRC()
					if arrived.After(deadline) {
						b.log.Debug("late reply dropped", "addr", addr, "late", arrived.Sub(deadline))
						return wire.Frame{}, ErrTimeout
					}
					return f, nil
				}
				b.log.Debug("unexpected frame", "frame", f)
			}
			b.countCRC()
		}
		switch {
		case err == nil || err == io.EOF:
			// A read timeout. A port whose reads return at once with no
			// data, again and again, has hung up (a PTY whose master closed).
			if n == 0 && time.Since(start) < time.Millisecond {
				quickEOF++
				if quickEOF >= 50 {
					return wire.Frame{}, fmt.Errorf("%w: read returns end of file", ErrPortGone)
				}
			}
		default:
			if b.ioError(err) {
				return wire.Frame{}, fmt.Errorf("%w: read: %w", ErrPortGone, err)
			}
		}
		if ctx.Err() != nil {
			return wire.Frame{}, ctx.Err()
		}
		if !time.Now().Before(deadline) {
			return wire.Frame{}, ErrTimeout
		}
	}
}

func (b *bus) countCRC() {
	if c := b.dec.CRCErrors; c != b.crcs {
		d := c - b.crcs
		b.crcs = c
		b.stat(func(s *hub.BusStatus) { s.CRCErrors += d })
	}
}
