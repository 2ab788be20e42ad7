package firmware

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Harness runs a Bus on a pseudo-terminal. The serial driver opens Path, a
// symlink to the PTY's slave side that stays the same across Stop and
// Restart, so a test or the demo can make the port vanish and come back.
type Harness struct {
	bus  *Bus
	srv  Server
	link string

	mu     sync.Mutex
	master *os.File
	slave  *os.File // held open so the line keeps its settings and the master never reads EIO
	pts    string
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// StartPTY starts devs on a new PTY and links it as dir/ttyHUB<n>, the first
// free n.
func StartPTY(dir string, devs ...Device) (*Harness, error) {
	bus, err := NewBus(devs...)
	if err != nil {
		return nil, err
	}
	return StartBus(dir, bus)
}

// StartBus is StartPTY for a bus built by the caller.
func StartBus(dir string, bus *Bus) (*Harness, error) {
	h, err := StartServer(dir, bus)
	if h != nil {
		h.bus = bus
	}
	return h, err
}

// Server is what a Harness runs on its PTY: the devices of a bus, of
// hubd's protocol (Bus) or another one (a Modbus slave emulator). Serve
// returns when rw fails or ctx ends.
type Server interface {
	Serve(ctx context.Context, rw io.ReadWriter) error
}

// StartServer is StartBus for any Server; Bus of the harness is nil.
func StartServer(dir string, srv Server) (*Harness, error) {
	h := &Harness{srv: srv}
	m, s, err := openRaw()
	if err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		link := filepath.Join(dir, fmt.Sprintf("ttyHUB%d", n))
		err := os.Symlink(s.Name(), link)
		if err == nil {
			h.link = link
			break
		}
		if !os.IsExist(err) || n > 1000 {
			m.Close()
			s.Close()
			return nil, fmt.Errorf("firmware: link pty: %w", err)
		}
	}
	h.mu.Lock()
	h.serve(m, s)
	h.mu.Unlock()
	return h, nil
}

// openRaw opens a PTY pair and puts the line in raw mode: no echo, no line
// editing, no CR/LF translation, as a serial line.
func openRaw() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: open pty: %w", err)
	}
	t, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err == nil {
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, t)
	}
	if err != nil {
		m.Close()
		s.Close()
		return nil, nil, fmt.Errorf("firmware: raw mode: %w", err)
	}
	// pty.Open leaves the master in blocking mode (its ioctls go through
	// Fd), so Close would not interrupt a Read. A non-blocking duplicate
	// joins Go's poller: reads get deadlines and Close wakes them.
	fd, err := unix.Dup(int(m.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
		if err != nil {
			unix.Close(fd)
		}
	}
	m.Close()
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("firmware: pty master: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), s, nil
}

// serve starts the bus on a PTY pair. Called with h.mu held.
func (h *Harness) serve(m, s *os.File) {
	ctx, cancel := context.WithCancel(context.Background())
	h.master, h.slave, h.pts, h.cancel = m, s, s.Name(), cancel
	done := make(chan struct{})
	h.done = done
	go func() {
		defer close(done)
		h.srv.Serve(ctx, m) // ends when Stop closes the master
	}()
}

// Path is the stable path the driver opens.
func (h *Harness) Path() string { return h.link }

// PTS is the current slave device, e.g. /dev/pts/3 ("" while stopped).
func (h *Harness) PTS() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pts
}

// Bus returns the devices.
func (h *Harness) Bus() *Bus { return h.bus }

// Running reports whether the port exists now.
func (h *Harness) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.master != nil
}

// Stop makes the port vanish, as an unplugged USB adapter: the PTY is
// closed (the driver's reads and writes fail) and the link is removed (a
// reopen fails). The devices keep their state.
func (h *Harness) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopLocked()
}

func (h *Harness) stopLocked() error {
	if h.master == nil {
		return nil
	}
	h.cancel()
	err := h.master.Close()
	<-h.done
	if e := h.slave.Close(); err == nil {
		err = e
	}
	if e := os.Remove(h.link); e != nil && !os.IsNotExist(e) && err == nil {
		err = e
	}
	h.master, h.slave, h.pts = nil, nil, ""
	if err != nil {
		return fmt.Errorf("firmware: stop pty: %w", err)
	}
	return nil
}

// Restart brings the port back on a new PTY behind the same Path. It stops
// the current one first if it is running.
func (h *Harness) Restart() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if err := h.stopLocked(); err != nil {
		return err
	}
	m, s, err := openRaw()
	if err != nil {
		return err
	}
	// Re-point atomically: a new link beside the old name, renamed over it.
	tmp := h.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(s.Name(), tmp); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("firmware: link pty: %w", err)
	}
	if err := os.Rename(tmp, h.link); err != nil {
		m.Close()
		s.Close()
		return fmt.Errorf("firmware: link pty: %w", err)
	}
	h.serve(m, s)
	return nil
}

// InjectNoise writes b onto the line towards the master, as a burst of
// line noise between frames.
func (h *Harness) InjectNoise(b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.master == nil {
		return fmt.Errorf("firmware: inject noise: port is stopped")
	}
	_, err := h.master.Write(b)
	return err
}

// Close stops the port for good.
func (h *Harness) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	return h.stopLocked()
}
