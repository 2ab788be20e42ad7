//go:build linux

package broker

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// fdSocket is a client's socket as the epoll reader keeps it: its
// descriptor and a count of the calls using it, and no place in the Go
// runtime's poller. A socket there (a net.Conn or an *os.File) costs the
// runtime some 570 bytes of its own memory besides the file's 150 on the
// heap, for each client, all to wait for bytes the epoll reader waits
// for itself. Only a write that finds the socket full has to wait: it
// waits on a duplicate of the descriptor made for the while (write).
//
// The count keeps the descriptor from being closed, and its number
// given to a new client, while a call uses it: Close marks the socket
// closed and wakes a waiting write (shutdown), and whichever call ends
// last closes the descriptor.
type fdSocket struct {
	state atomic.Uint64 // fdClosed, and the number of calls using fd
	wd    atomic.Int64  // write deadline, Unix nanoseconds; 0: none
	fd    int32
}

// fdClosed is the state's bit for a socket Close was called on.
const fdClosed = 1 << 63

func newFDSocket(fd int) *fdSocket { return &fdSocket{fd: int32(fd)} }

// acquire counts a call using the descriptor, unless the socket is
// closed.
func (s *fdSocket) acquire() bool {
	for {
		st := s.state.Load()
		if st&fdClosed != 0 {
			return false
		}
		if s.state.CompareAndSwap(st, st+1) {
			return true
		}
	}
}

// release ends a call; the last one after Close closes the descriptor.
func (s *fdSocket) release() {
	if s.state.Add(^uint64(0)) == fdClosed {
		_ = unix.Close(int(s.fd))
	}
}

// control calls f with the descriptor, unless the socket is closed.
func (s *fdSocket) control(f func(fd int)) error {
	if !s.acquire() {
		return os.ErrClosed
	}
	defer s.release()
	f(int(s.fd))
	return nil
}

// Close closes the socket: calls that have the descriptor finish (a
// waiting write is woken with an error), later ones fail with
// os.ErrClosed.
func (s *fdSocket) Close() error {
	for {
		st := s.state.Load()
		if st&fdClosed != 0 {
			return os.ErrClosed
		}
		// Closed, and counted as a call for the shutdown below.
		if s.state.CompareAndSwap(st, (st|fdClosed)+1) {
			break
		}
	}
	// Wakes a write waiting on a duplicate (which keeps the socket open
	// until it returns) and tells the client at once.
	_ = unix.Shutdown(int(s.fd), unix.SHUT_RDWR)
	s.release()
	return nil
}

// Read reads what the socket has, without waiting: the epoll reader
// calls it when epoll says there is something.
func (s *fdSocket) Read(b []byte) (int, error) {
	if !s.acquire() {
		return 0, os.ErrClosed
	}
	defer s.release()
	for {
		n, err := unix.Read(int(s.fd), b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		}
		return n, nil
	}
}

// writeNow writes what the socket takes of b without waiting; an error
// is left for the write that follows to meet again.
func (s *fdSocket) writeNow(b []byte) int {
	if len(b) == 0 || !s.acquire() {
		return 0
	}
	defer s.release()
	n, _ := s.writeSome(b)
	return n
}

// writeSome writes b until it is written or the socket is full
// (unix.EAGAIN) or fails. The caller holds the descriptor.
func (s *fdSocket) writeSome(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(s.fd), b[n:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return n, err
		case m <= 0:
			return n, unix.EAGAIN
		}
		n += m
	}
	return n, nil
}

// Write writes all of b, waiting for the socket to take it until the
// write deadline (SetWriteDeadline); past it the error is
// os.ErrDeadlineExceeded.
func (s *fdSocket) Write(b []byte) (int, error) {
	if !s.acquire() {
		return 0, os.ErrClosed
	}
	defer s.release()
	n, err := s.writeSome(b)
	if err == nil || !errors.Is(err, unix.EAGAIN) {
		if err != nil {
			err = os.NewSyscallError("write", err)
		}
		return n, err
	}
	// Full: the rest is written through a duplicate in the runtime's
	// poller, which waits without holding a thread and keeps the
	// deadline. Rare (a client slow to read what it is sent), so the
	// duplicate's cost is paid then and given back at once.
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return n, fmt.Errorf("waiting for the socket to take more: %w", os.NewSyscallError("fcntl", err))
	}
	f := os.NewFile(uintptr(dup), "client socket")
	defer f.Close()
	deadline := time.Time{}
	if wd := s.wd.Load(); wd != 0 {
		deadline = time.Unix(0, wd)
	}
	if err := f.SetWriteDeadline(deadline); err != nil {
		// Not in the poller: it would block a thread with no deadline.
		return n, fmt.Errorf("waiting for the socket to take more: %w", err)
	}
	m, err := f.Write(b[n:])
	return n + m, err
}

// SetWriteDeadline sets when a Write that waits gives up; the zero time
// for never.
func (s *fdSocket) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		s.wd.Store(0)
	} else {
		s.wd.Store(t.UnixNano())
	}
	return nil
}

// SetReadDeadline does nothing: Read never waits, and the epoll reader
// keeps each client's time itself (poller.sweep).
func (s *fdSocket) SetReadDeadline(time.Time) error { return nil }
