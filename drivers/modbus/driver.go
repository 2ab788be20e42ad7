package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tarm/serial"

	"hubd/hub"
)

// Name is the driver name devices carry in hub.Device.Driver.
const Name = "modbus"

// DefaultMeterEvery is how often measurements are read when a device does
// not say.
const DefaultMeterEvery = 10 * time.Second

// Line is a port's character format.
type Line struct {
	Baud     int  // 0: 9600, the most common factory setting of meters
	Parity   byte // 'N', 'E' or 'O'; 0: 'N'
	StopBits int  // 1 or 2; 0: 1
}

// BusConfig describes one Modbus RTU bus. Zero values take the defaults
// given.
type BusConfig struct {
	Name string // referenced by device addresses; required
	Port string // e.g. /dev/ttyUSB0; required
	Line

	PollInterval time.Duration // least time between two poll cycles; 0: 1 s
	Timeout      time.Duration // wait for one reply after the request left; 0: 200 ms
	Retries      int           // extra attempts after a timeout or bad reply; 0: 1, negative: none
	OfflineAfter int           // failed polls in a row before a device is offline; 0: 3
	MaxBackoff   time.Duration // cap of the reopen delay; 0: 5 s
	// QueueLen bounds the commands waiting for the bus; a command that
	// finds the queue full waits for room until its context ends. 0: 16.
	QueueLen int
}

// Meter is an energy meter attached to a device: its measurements become
// the device's.
type Meter struct {
	Unit    uint8
	Profile string
}

// Device is one hub device on a Modbus bus: a channel of a slave.
type Device struct {
	ID         string
	Bus        string
	Unit       uint8  // slave address 1..247
	Profile    string // a builtin or custom profile name
	Channel    int    // 1-based; 0: 1
	Meter      *Meter // optional, on the same bus
	MeterEvery time.Duration
}

// Options configure a Driver.
type Options struct {
	Buses    []BusConfig
	Devices  []Device
	Profiles []Profile // custom profiles, in addition to Builtin
	// Apply takes reports, usually (*hub.Hub).Apply. nil drops them.
	Apply func(hub.Report) error
	// Open opens a port. Its Read must return within about a second when
	// no byte arrives ((0, io.EOF) or (0, nil)). nil: OpenTarm.
	Open func(port string, line Line) (io.ReadWriteCloser, error)
	// Logger; nil discards.
	Logger *slog.Logger
	// Events, optional (e.g. (*hub.Hub).Log), hears what a technician
	// should see: a port lost, reopened, a slave that stopped answering.
	Events func(level, source, device, text string)
}

// Driver owns Modbus buses and the devices on them.
type Driver struct {
	opts  Options
	log   *slog.Logger
	buses []*bus
	devs  map[string]target // fixed after New

	runMu   sync.Mutex
	running bool
}

type target struct {
	bus  *bus
	node *node
}

var _ hub.Driver = (*Driver)(nil)

// OpenTarm opens a port with github.com/tarm/serial, 8 data bits, with a
// 100 ms read timeout (its smallest step).
func OpenTarm(port string, line Line) (io.ReadWriteCloser, error) {
	c := &serial.Config{Name: port, Baud: line.Baud, ReadTimeout: 100 * time.Millisecond, Size: 8}
	switch line.Parity {
	case 'E':
		c.Parity = serial.ParityEven
	case 'O':
		c.Parity = serial.ParityOdd
	default:
		c.Parity = serial.ParityNone
	}
	c.StopBits = serial.Stop1
	if line.StopBits == 2 {
		c.StopBits = serial.Stop2
	}
	p, err := serial.OpenPort(c)
	if err != nil {
		return nil, fmt.Errorf("modbus: open %s: %w", port, err)
	}
	return p, nil
}

// New checks the configuration and builds a driver; Run starts it.
func New(opts Options) (*Driver, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Open == nil {
		opts.Open = OpenTarm
	}
	if opts.Apply == nil {
		opts.Apply = func(hub.Report) error { return nil }
	}
	if opts.Events == nil {
		opts.Events = func(string, string, string, string) {}
	}
	profiles, err := Profiles(opts.Profiles)
	if err != nil {
		return nil, err
	}
	d := &Driver{opts: opts, log: opts.Logger.With("driver", Name), devs: map[string]target{}}
	byName := map[string]*bus{}
	for _, c := range opts.Buses {
		if err := c.check(); err != nil {
			return nil, err
		}
		if byName[c.Name] != nil {
			return nil, fmt.Errorf("%w: bus %q defined twice", ErrConfig, c.Name)
		}
		b := newBus(d, c.withDefaults())
		byName[c.Name] = b
		d.buses = append(d.buses, b)
	}
	taken := map[string]string{}
	for _, dev := range opts.Devices {
		b := byName[dev.Bus]
		switch {
		case dev.ID == "":
			return nil, fmt.Errorf("%w: device on %s/%d has no id", ErrConfig, dev.Bus, dev.Unit)
		case b == nil:
			return nil, fmt.Errorf("%w: device %s is on unknown bus %q", ErrConfig, dev.ID, dev.Bus)
		}
		if _, dup := d.devs[dev.ID]; dup {
			return nil, fmt.Errorf("%w: device %s listed twice", ErrConfig, dev.ID)
		}
		n, err := newNode(dev, profiles)
		if err != nil {
			return nil, err
		}
		addr := Address(dev.Bus, dev.Unit, dev.Channel)
		if other, ok := taken[addr]; ok {
			return nil, fmt.Errorf("%w: devices %s and %s share %s", ErrConfig, other, dev.ID, addr)
		}
		taken[addr] = dev.ID
		b.nodes = append(b.nodes, n)
		d.devs[dev.ID] = target{bus: b, node: n}
	}
	for _, b := range d.buses {
		b.status.Devices = len(b.nodes)
	}
	return d, nil
}

func (c BusConfig) check() error {
	switch {
	case c.Name == "" || strings.Contains(c.Name, "/"):
		return fmt.Errorf("%w: bus name %q", ErrConfig, c.Name)
	case c.Port == "":
		return fmt.Errorf("%w: bus %q has no port", ErrConfig, c.Name)
	case c.Baud < 0 || c.Baud > 4000000:
		return fmt.Errorf("%w: bus %q: baud %d", ErrConfig, c.Name, c.Baud)
	case c.Parity != 0 && c.Parity != 'N' && c.Parity != 'E' && c.Parity != 'O':
		return fmt.Errorf("%w: bus %q: parity %q is not N, E or O", ErrConfig, c.Name, c.Parity)
	case c.StopBits != 0 && c.StopBits != 1 && c.StopBits != 2:
		return fmt.Errorf("%w: bus %q: stop bits %d is not 1 or 2", ErrConfig, c.Name, c.StopBits)
	case c.QueueLen < 0:
		return fmt.Errorf("%w: bus %q: queue length %d", ErrConfig, c.Name, c.QueueLen)
	}
	return nil
}

func (c BusConfig) withDefaults() BusConfig {
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.Parity == 0 {
		c.Parity = 'N'
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 200 * time.Millisecond
	}
	switch {
	case c.Retries == 0:
		c.Retries = 1
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 3
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.QueueLen == 0 {
		c.QueueLen = 16
	}
	return c
}

// Run drives every bus until ctx is done, then closes the ports.
func (d *Driver) Run(ctx context.Context) error {
	d.runMu.Lock()
	if d.running {
		d.runMu.Unlock()
		return fmt.Errorf("modbus: Run called twice")
	}
	d.running = true
	d.runMu.Unlock()
	var wg sync.WaitGroup
	for _, b := range d.buses {
		wg.Go(func() { b.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Execute switches or dims a device and returns once the value was written
// and read back; the value read is applied to the hub before Execute
// returns. ctx bounds the whole exchange, the wait for the bus included.
func (d *Driver) Execute(ctx context.Context, dev hub.Device, cmd hub.Command) error {
	t, ok := d.devs[dev.ID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownDevice, dev.ID)
	}
	if err := t.node.supports(cmd); err != nil {
		return err
	}
	if cmd.Set.Set.Empty() {
		// Identify alone: a relay module has no light to blink, and
		// clicking a relay would switch whatever hangs on it.
		return fmt.Errorf("%w: %s: a Modbus device cannot identify itself", hub.ErrNotSupported, dev.ID)
	}
	r := &request{ctx: ctx, node: t.node, set: cmd.Set, done: make(chan error, 1)}
	select {
	case t.bus.cmds <- r:
	default:
		t.bus.stat(func(s *hub.BusStatus) { s.QueueFull++ })
		select {
		case t.bus.cmds <- r:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: bus %s busy: %v", hub.ErrBusy, dev.ID, t.bus.cfg.Name, ctx.Err())
		}
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

// Status describes every bus, with per-slave counters.
func (d *Driver) Status() []hub.BusStatus {
	out := make([]hub.BusStatus, 0, len(d.buses))
	for _, b := range d.buses {
		out = append(out, b.statusCopy())
	}
	return out
}
