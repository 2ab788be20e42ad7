package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarm/serial"

	"hubd/firmware/wire"
	"hubd/hub"
)

// BusConfig describes one serial bus. Zero values take the defaults given.
type BusConfig struct {
	Name string // referenced by device addresses "name/5"; required
	Port string // e.g. /dev/ttyUSB0; required
	Baud int    // 0: 115200

	PollInterval time.Duration // "any news?" to every device; 0: 1 s
	RefreshEvery time.Duration // full state read of every device; 0: 30 s
	Timeout      time.Duration // wait for one reply; 0: 150 ms
	Retries      int           // extra attempts after a timeout; 0: 2, negative: none
	OfflineAfter int           // failed exchanges in a row before a device is offline; 0: 3
	MaxBackoff   time.Duration // cap of the reopen delay; 0: 5 s
}

// Options configure a Driver.
type Options struct {
	Buses []BusConfig
	// Devices owned by the driver: Driver "serial", Address "bus/addr"
	// where addr is the device's bus address 1..247. Devices of other
	// drivers are ignored.
	Devices []hub.Device
	// Apply takes reports, usually (*hub.Hub).Apply. nil drops them.
	Apply func(hub.Report) error
	// Open opens a port. The port must return from Read within about a
	// second when no byte arrives, (0, io.EOF) or (0, nil), or Run can not
	// stop. nil: github.com/tarm/serial with a 100 ms read timeout.
	Open func(port string, baud int) (io.ReadWriteCloser, error)
	// Logger; nil discards.
	Logger *slog.Logger
	// Events, optional (e.g. (*hub.Hub).LogEvent), hears what a
	// technician should see: a port lost, reopened, a firmware update.
	// Devices that stop answering reach the hub as reports with a Cause.
	Events func(hub.Event)

	// UpdateStall bounds a firmware update that makes no progress (no
	// chunk acknowledged, the port gone): it fails after this long. 0: 15 s.
	UpdateStall time.Duration
	// RebootWait bounds how long UpdateFirmware waits for a device to
	// identify again after it committed an image. 0: 30 s.
	RebootWait time.Duration
}

// Name is the driver name devices carry in hub.Device.Driver.
const Name = "serial"

// Driver owns serial buses and the devices on them.
type Driver struct {
	opts   Options
	log    *slog.Logger
	buses  []*bus
	byName map[string]*bus // fixed after New: adding a bus needs a restart

	cfgMu sync.Mutex // serializes SetDevices

	mu   sync.RWMutex
	devs map[string]target // device id -> where it is

	runMu   sync.Mutex
	running bool

	updMu    sync.Mutex
	updating map[string]bool // device ids with an UpdateFirmware running
}

type target struct {
	bus  *bus
	node *node
}

var _ hub.Driver = (*Driver)(nil)

// OpenTarm opens a port with github.com/tarm/serial, 8N1, with a 100 ms
// read timeout (its smallest step): a Read with no data returns (0, io.EOF).
func OpenTarm(port string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.OpenPort(&serial.Config{Name: port, Baud: baud, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", port, err)
	}
	return p, nil
}

// ParseAddress splits a device address "bus/5".
func ParseAddress(a string) (busName string, addr uint8, err error) {
	name, num, ok := strings.Cut(a, "/")
	if !ok || name == "" {
		return "", 0, fmt.Errorf("%w: address %q is not bus/number", ErrConfig, a)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < wire.AddrMin || n > wire.AddrMax {
		return "", 0, fmt.Errorf("%w: address %q: device number must be %d..%d", ErrConfig, a, wire.AddrMin, wire.AddrMax)
	}
	return name, uint8(n), nil
}

// New checks the configuration and builds a driver; Run starts it.
func New(opts Options) (*Driver, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Open == nil {
		opts.Open = OpenTarm
	}
	if opts.Events == nil {
		opts.Events = func(hub.Event) {}
	}
	if opts.Apply == nil {
		opts.Apply = func(hub.Report) error { return nil }
	}
	if opts.UpdateStall <= 0 {
		opts.UpdateStall = 15 * time.Second
	}
	if opts.RebootWait <= 0 {
		opts.RebootWait = 30 * time.Second
	}
	d := &Driver{opts: opts, log: opts.Logger.With("driver", Name), devs: map[string]target{}, byName: map[string]*bus{}, updating: map[string]bool{}}
	for _, c := range opts.Buses {
		if c.Name == "" || strings.Contains(c.Name, "/") {
			return nil, fmt.Errorf("%w: bus name %q", ErrConfig, c.Name)
		}
		if c.Port == "" {
			return nil, fmt.Errorf("%w: bus %q has no port", ErrConfig, c.Name)
		}
		if d.byName[c.Name] != nil {
			return nil, fmt.Errorf("%w: bus %q defined twice", ErrConfig, c.Name)
		}
		b := newBus(d, withDefaults(c))
		d.byName[c.Name] = b
		d.buses = append(d.buses, b)
	}
	lay, err := d.plan(opts.Devices, false)
	if err != nil {
		return nil, err
	}
	d.commit(lay)
	return d, nil
}

func withDefaults(c BusConfig) BusConfig {
	if c.Baud == 0 {
		c.Baud = 115200
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.RefreshEvery <= 0 {
		c.RefreshEvery = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 150 * time.Millisecond
	}
	switch {
	case c.Retries == 0:
		c.Retries = 2
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 3
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	return c
}

// Run drives every bus until ctx is done, then closes the ports.
func (d *Driver) Run(ctx context.Context) error {
	d.runMu.Lock()
	if d.running {
		d.runMu.Unlock()
		return fmt.Errorf("serial: Run called twice")
	}
	d.running = true
	d.runMu.Unlock()
	var wg sync.WaitGroup
	for _, b := range d.buses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Execute sends a command to a device and returns once the device
// acknowledged it. The device's reply carries its new state, which is
// applied before Execute returns, so the hub sees the echo. ctx bounds the
// whole exchange, retries included.
func (d *Driver) Execute(ctx context.Context, dev hub.Device, cmd hub.Command) error {
	d.mu.RLock()
	t, ok := d.devs[dev.ID]
	d.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownDevice, dev.ID)
	}
	r := &request{ctx: ctx, node: t.node, identify: cmd.Identify, done: make(chan error, 1)}
	if !cmd.Set.Set.Empty() {
		s, err := toWire(cmd.Set)
		if err != nil {
			return err
		}
		r.set = &s
	}
	if r.set == nil && !r.identify {
		return nil
	}
	select {
	case t.bus.cmds <- r:
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: bus %s busy: %v", hub.ErrUnreachable, dev.ID, t.bus.cfg.Name, ctx.Err())
	}
	select {
	case err := <-r.done:
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrPortGone) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w: %s: %w", hub.ErrUnreachable, dev.ID, err)
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", hub.ErrUnreachable, dev.ID, ctx.Err())
	}
}

// Status describes every bus.
func (d *Driver) Status() []hub.BusStatus {
	out := make([]hub.BusStatus, 0, len(d.buses))
	for _, b := range d.buses {
		out = append(out, b.statusCopy())
	}
	return out
}
