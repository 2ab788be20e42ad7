package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"hubd/drivers/modbus/rtu"
	"hubd/hub"
)

// request is a command on its way to the bus goroutine.
type request struct {
	ctx  context.Context
	node *node
	set  hub.State
	done chan error // buffered: the bus never blocks on it
}

// bus is one serial line and the goroutine that owns it.
type bus struct {
	d     *Driver
	cfg   BusConfig
	log   *slog.Logger
	cmds  chan *request
	nodes []*node // fixed at New

	// Owned by the bus goroutine.
	port     io.ReadWriteCloser
	ioErrs   int
	heard    uint64        // frames heard since the port opened
	charTime time.Duration // one character on the line
	gap      time.Duration // the silence that ends a frame
	quiet    time.Time     // when the line is free: the last frame's end plus the gap
	rd       []byte        // read buffer
	frame    []byte        // the reply being gathered
	out      []byte        // the request frame
	pdu      []byte

	mu     sync.Mutex
	status hub.BusStatus
	slaves map[uint8]*hub.SlaveStatus
	opened bool // opened at least once: later opens are reconnects
}

func newBus(d *Driver, cfg BusConfig) *bus {
	bits := rtu.CharBits(cfg.Parity != 'N', cfg.StopBits)
	return &bus{
		d: d, cfg: cfg, log: d.log.With("bus", cfg.Name, "port", cfg.Port),
		cmds:     make(chan *request, cfg.QueueLen),
		charTime: rtu.CharTime(cfg.Baud, bits),
		gap:      rtu.FrameGap(cfg.Baud, bits),
		rd:       make([]byte, rtu.MaxADU),
		frame:    make([]byte, 0, 2*rtu.MaxADU),
		out:      make([]byte, 0, rtu.MaxADU),
		pdu:      make([]byte, 0, rtu.MaxADU),
		status:   hub.BusStatus{Name: cfg.Name, Port: cfg.Port, Protocol: Name},
		slaves:   map[uint8]*hub.SlaveStatus{},
	}
}

func (b *bus) statusCopy() hub.BusStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.status
	s.Slaves = make([]hub.SlaveStatus, 0, len(b.slaves))
	for _, st := range b.slaves {
		s.Slaves = append(s.Slaves, *st)
	}
	slices.SortFunc(s.Slaves, func(a, b hub.SlaveStatus) int { return a.Addr - b.Addr })
	return s
}

func (b *bus) stat(fn func(s *hub.BusStatus)) {
	b.mu.Lock()
	fn(&b.status)
	b.mu.Unlock()
}

// slave counts a failure of unit, and of the bus.
func (b *bus) slave(unit uint8, fn func(s *hub.SlaveStatus), bus func(s *hub.BusStatus)) {
	b.mu.Lock()
	st := b.slaves[unit]
	if st == nil {
		st = &hub.SlaveStatus{Addr: int(unit)}
		b.slaves[unit] = st
	}
	fn(st)
	if bus != nil {
		bus(&b.status)
	}
	b.mu.Unlock()
}

func (b *bus) event(level, device, text string) {
	b.d.opts.Events(level, Name, device, fmt.Sprintf("bus %s (%s): %s", b.cfg.Name, b.cfg.Port, text))
}

const minBackoff = 100 * time.Millisecond

// run opens, serves and reopens the port until ctx is done.
func (b *bus) run(ctx context.Context) {
	backoff := minBackoff
	failing := false // an open failure was already announced
	for ctx.Err() == nil {
		port, err := b.d.opts.Open(b.cfg.Port, b.cfg.Line)
		if err != nil {
			b.stat(func(s *hub.BusStatus) { s.LastError = err.Error() })
			if !failing {
				b.log.Warn("open failed", "err", err)
				b.event("error", "", "cannot open port: "+err.Error())
				failing = true
			}
			b.idle(ctx, backoff)
			backoff = min(2*backoff, b.cfg.MaxBackoff)
			continue
		}
		failing = false
		b.opening()
		b.port, b.ioErrs, b.heard, b.quiet = port, 0, 0, time.Now().Add(b.gap)
		err = b.serve(ctx)
		port.Close()
		b.port = nil
		b.stat(func(s *hub.BusStatus) {
			s.Open, s.OpenSince = false, time.Time{}
			if err != nil {
				s.LastError = err.Error()
			}
		})
		b.allOffline()
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("port lost", "err", err)
		b.event("error", "", fmt.Sprintf("port lost: %v", err))
		if b.heard > 0 {
			backoff = minBackoff // the port worked: come back fast
		}
		b.idle(ctx, backoff)
		backoff = min(2*backoff, b.cfg.MaxBackoff)
	}
}

// opening records a successful open.
func (b *bus) opening() {
	b.mu.Lock()
	reopen := b.opened
	b.opened = true
	b.status.Open, b.status.OpenSince = true, time.Now()
	if reopen {
		b.status.Reconnects++
	}
	b.mu.Unlock()
	if reopen {
		b.log.Info("port reopened")
		b.event("info", "", "port reopened")
	} else {
		b.log.Info("port open")
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

// allOffline reports every device offline when the port is lost.
func (b *bus) allOffline() {
	for _, n := range b.nodes {
		n.fails, n.nextTry, n.nextMeter = 0, time.Time{}, time.Time{}
		n.online = false
		b.apply(hub.Report{Device: n.id, Avail: hub.AvailOffline})
	}
}

func (b *bus) apply(r hub.Report) {
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
		default:
			return nil
		}
	}
}

// pollCycle visits every device once, letting commands in between.
func (b *bus) pollCycle(ctx context.Context) error {
	for _, n := range b.nodes {
		if ctx.Err() != nil {
			return nil
		}
		if err := b.pending(); err != nil {
			return err
		}
		if err := b.poll(ctx, n); errors.Is(err, ErrPortGone) {
			return err
		}
	}
	return nil
}
