//go:build linux

package broker

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollBuffer is the one read buffer of the epoll reader.
const pollBuffer = 64 << 10

// poller reads every connection from one goroutine: an epoll set says
// which sockets have bytes, the goroutine reads them into one buffer and
// handles the complete packets. A client costs no goroutine and no
// buffer of its own while it is quiet, only the bytes of a packet that
// has not fully arrived. Writes stay with the connections (flush). A
// socket is an fdSocket, outside the Go runtime's poller, and is never
// closed (and its number reused) while it is being read or written.
type poller struct {
	b      *Broker
	epfd   int
	ep     *os.File // epfd, for the Go runtime to wait on
	wake   int      // an eventfd that stop writes to
	kickfd int      // an eventfd that kick writes to
	buf    []byte

	mu      sync.Mutex
	conns   []*conn // by socket descriptor: the kernel gives the lowest free ones, so a slice is dense
	kicked  []*conn // paused connections to read again (kick)
	evicted []*conn // connections to end (evict)
	running bool    // run was started and not stopped
	stopped bool    // stop was called: run never starts again

	done chan struct{}
}

func newPoller(b *Broker) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("broker: epoll: %w", os.NewSyscallError("epoll_create1", err))
	}
	var fds [2]int
	for i := range fds {
		if fds[i], err = eventfd(epfd); err != nil {
			for _, fd := range append([]int{epfd}, fds[:i]...) {
				unix.Close(fd)
			}
			return nil, err
		}
	}
	// The reader waits for the epoll set to have events through the Go
	// runtime's own poller (an epoll fd is itself pollable), so no thread
	// is held in epoll_wait and a wake-up is an ordinary goroutine wake-up.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("broker: epoll: %w", os.NewSyscallError("fcntl", err))
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	return &poller{b: b, epfd: epfd, ep: ep, wake: fds[0], kickfd: fds[1], done: make(chan struct{})}, nil
}

// eventfd makes an eventfd in the epoll set epfd.
func eventfd(epfd int) (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("broker: epoll: %w", os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("broker: epoll: %w", os.NewSyscallError("epoll_ctl", err))
	}
	return fd, nil
}

// watched are the events the reader waits for on a connection.
const watched = unix.EPOLLIN | unix.EPOLLRDHUP

// add watches a new connection, which has until ConnectTimeout to send
// CONNECT. The reader owns the socket from then on (see ownSocket).
func (p *poller) add(c *conn) error {
	s, err := ownSocket(c.nc)
	if err != nil {
		return err
	}
	c.nc, c.poll = s, p
	c.fd = s.fd
	c.deadline = p.b.clock() + p.b.opts.ConnectTimeout
	p.mu.Lock()
	p.put(c.fd, c)
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: watched, Fd: s.fd}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(s.fd), &ev); err != nil {
		p.mu.Lock()
		p.put(c.fd, nil)
		p.mu.Unlock()
		c.poll = nil
		_ = s.Close()
		return fmt.Errorf("broker: watching a connection: %w", os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// sock is c's socket as the epoll reader owns it; a closed one if c is
// not the reader's.
func sock(c *conn) *fdSocket {
	if s, ok := c.nc.(*fdSocket); ok {
		return s
	}
	return closedSocket
}

// closedSocket is the socket of a connection that has no fdSocket.
var closedSocket = func() *fdSocket {
	s := &fdSocket{fd: -1}
	s.state.Store(fdClosed)
	return s
}()

// writeNow writes to c's socket what it takes without waiting, if the
// epoll reader owns it (see ownSocket); an error is left for the write
// that follows to meet again.
func writeNow(c *conn, b []byte) int { return sock(c).writeNow(b) }

// ownSocket takes nc's socket as a non-blocking descriptor of its own
// (a duplicate; nc is closed): see fdSocket.
func ownSocket(nc socket) (*fdSocket, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("broker: %T has no socket", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("broker: socket: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("broker: socket: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("broker: socket: %w", os.NewSyscallError("fcntl", derr))
	}
	// A socket that blocks would hold the reader in a read and a writer
	// past its deadline. Go's own are non-blocking; one from elsewhere
	// is made so (the mode is the socket's, shared with nc, now closed).
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("broker: socket: %w", os.NewSyscallError("fcntl", err))
	}
	_ = nc.Close() // the socket stays open through fd
	return newFDSocket(fd), nil
}

// get is the connection of socket fd, or nil. p.mu is held.
func (p *poller) get(fd int32) *conn {
	if fd < 0 || int(fd) >= len(p.conns) {
		return nil
	}
	return p.conns[fd]
}

// put sets the connection of socket fd. p.mu is held.
func (p *poller) put(fd int32, c *conn) {
	if fd < 0 {
		return
	}
	if int(fd) >= len(p.conns) {
		if c == nil {
			return
		}
		p.conns = append(p.conns, make([]*conn, int(fd)+1-len(p.conns))...)
	}
	p.conns[fd] = c
}

// live appends the connections the reader watches to list.
func (p *poller) live(list []*conn) []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c != nil {
			list = append(list, c)
		}
	}
	return list
}

// terminate deals with a connection's end once: it leaves the epoll set,
// its socket is closed, and its session learns of it (see end).
func (p *poller) terminate(c *conn, normal bool, why error) {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	if p.get(c.fd) == c {
		p.put(c.fd, nil)
	}
	p.mu.Unlock()
	_ = sock(c).control(func(fd int) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	})
	c.closeSocket(why)
	c.finish(normal, why)
	p.b.conns.Done()
}

// start runs the reader, unless stop came first.
func (p *poller) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.stopped {
		return
	}
	p.running = true
	go p.run()
}

// run is the reader: until stop, it reads the sockets epoll reports and,
// once a second, ends the connections whose keep-alive (or CONNECT
// deadline) passed.
func (p *poller) run() {
	defer close(p.done)
	p.buf = make([]byte, pollBuffer)
	events := make([]unix.EpollEvent, 128)
	raw, err := p.ep.SyscallConn()
	if err != nil {
		p.b.log.Error("epoll: the broker reads nothing", "error", err)
		return
	}
	last := time.Now()
	for {
		_ = p.ep.SetReadDeadline(last.Add(time.Second))
		var n int
		var werr error
		err := raw.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n != 0 || werr != nil && !errors.Is(werr, unix.EINTR)
		})
		switch {
		case werr != nil:
			p.b.log.Error("epoll_wait failed; the broker reads no more", "error", werr)
			return
		case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
			p.b.log.Error("waiting for epoll failed; the broker reads no more", "error", err)
			return
		}
		for _, ev := range events[:n] {
			switch int(ev.Fd) {
			case p.wake:
				return
			case p.kickfd:
				p.resumeKicked()
			default:
				p.read(ev.Fd)
			}
		}
		if now := time.Now(); now.Sub(last) >= time.Second {
			last = now
			p.sweep(p.b.clock())
		}
	}
}

// stop ends run, if it was started, and waits for it. The epoll set
// stays open for the connections to leave it (see close).
func (p *poller) stop() {
	p.mu.Lock()
	running := p.running
	p.running, p.stopped = false, true
	p.mu.Unlock()
	if !running {
		return
	}
	var one = [8]byte{1}
	if _, err := unix.Write(p.wake, one[:]); err != nil {
		p.b.log.Error("cannot wake the epoll reader", "error", err)
		return
	}
	<-p.done
}

// close releases the epoll set and the eventfd, once the reader stopped
// and every connection ended.
func (p *poller) close() {
	_ = p.ep.Close()
	_ = unix.Close(p.wake)
	_ = unix.Close(p.kickfd)
}

// watch puts c's socket back in the epoll set, or takes it out while c
// is paused (see conn.backlogged), so that its bytes wait in the kernel
// and TCP holds the client's sending up. Out of the set, not just
// without events: epoll would report a hang-up regardless.
func (p *poller) watch(c *conn, on bool) {
	_ = sock(c).control(func(fd int) {
		if on {
			ev := unix.EpollEvent{Events: watched, Fd: int32(fd)}
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
		} else {
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
	})
	c.disarmed = !on
}

// kick has the reader read c again: its writer took its backlog. It is
// called with c's session's lock held, so it only queues c and writes to
// the eventfd.
func (p *poller) kick(c *conn) { p.hand(&p.kicked, c) }

// hand puts c on a list for the reader and wakes it.
func (p *poller) hand(list *[]*conn, c *conn) {
	p.mu.Lock()
	*list = append(*list, c)
	p.mu.Unlock()
	var one = [8]byte{1}
	if _, err := unix.Write(p.kickfd, one[:]); err != nil {
		p.b.log.Error("cannot wake the epoll reader", "error", err)
	}
}

// evict has the reader end c, closed to make room (MaxPending): c may
// be in the middle of its CONNECT, which only the reader may touch.
func (p *poller) evict(c *conn) { p.hand(&p.evicted, c) }

// resumeKicked ends the evicted connections, takes the packets the
// kicked ones had sent before they were paused, and watches their
// sockets again.
func (p *poller) resumeKicked() {
	var count [8]byte
	_, _ = unix.Read(p.kickfd, count[:])
	p.mu.Lock()
	kicked, evicted := p.kicked, p.evicted
	p.kicked, p.evicted = nil, nil
	p.mu.Unlock()
	for _, c := range evicted {
		p.terminate(c, false, errCrowded(p.b))
	}
	for _, c := range kicked {
		if c.ended.Load() || !c.disarmed {
			continue
		}
		s := c.s
		s.mu.Lock()
		paused := c.paused
		s.mu.Unlock()
		if paused {
			continue // paused again since: a later kick comes
		}
		p.watch(c, true)
		if c.keepAlive > 0 {
			c.deadline = p.b.clock() + c.keepAliveFor()
		}
		p.handle(c, nil)
	}
}

// read takes what a socket has and handles the complete packets.
func (p *poller) read(fd int32) {
	p.mu.Lock()
	c := p.get(fd)
	p.mu.Unlock()
	if c == nil {
		return // ended since epoll saw it
	}
	n, rerr := sock(c).Read(p.buf)
	switch {
	case errors.Is(rerr, os.ErrClosed):
		return // closed meanwhile
	case errors.Is(rerr, unix.EAGAIN):
		return
	case rerr != nil:
		p.terminate(c, false, rerr)
		return
	case n == 0:
		err := errEOF
		if len(c.partial()) > 0 {
			err = fmt.Errorf("%w: connection closed in the middle of a packet", ErrMalformed)
		} else if !c.connected {
			err = fmt.Errorf("waiting for CONNECT: %w", errEOF)
		}
		p.terminate(c, false, err)
		return
	}
	p.handle(c, p.buf[:n])
	c.b.bytesIn.Add(uint64(n))
}

// handle feeds c what was read of it, and ends or pauses it as told.
func (p *poller) handle(c *conn, data []byte) {
	paused, err := c.feed(data)
	switch {
	case errors.Is(err, errBye):
		p.terminate(c, true, nil)
	case err != nil:
		p.terminate(c, false, err)
	case paused:
		p.watch(c, false)
	}
}

// sweep ends the connections that have been silent too long.
func (p *poller) sweep(now time.Duration) {
	var late []*conn
	p.mu.Lock()
	for _, c := range p.conns {
		if c == nil {
			continue
		}
		if !c.disarmed && c.deadline != 0 && now > c.deadline {
			late = append(late, c)
		}
	}
	p.mu.Unlock()
	for _, c := range late {
		if !c.connected {
			p.terminate(c, false, fmt.Errorf("waiting for CONNECT: %w: no CONNECT within %v", ErrProtocol, p.b.opts.ConnectTimeout))
			continue
		}
		p.terminate(c, false, c.silent())
	}
}
