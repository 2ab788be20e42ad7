//go:build linux

package broker

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair is a connected pair of non-blocking stream sockets: the
// broker's side as an fdSocket, and the client's descriptor.
func socketPair(t *testing.T) (*fdSocket, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Small buffers: a few kilobytes fill them.
	for _, fd := range fds {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	return newFDSocket(fds[0]), fds[1]
}

// inode is the inode of descriptor fd's file, or 0 if fd is not open.
func inode(fd int) uint64 {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0
	}
	return st.Ino
}

// fill writes to s until its socket takes no more.
func fill(t *testing.T, s *fdSocket) {
	t.Helper()
	chunk := make([]byte, 4096)
	for range 1 << 12 {
		if s.writeNow(chunk) < len(chunk) {
			return
		}
	}
	t.Fatal("the socket never filled")
}

// A write waiting for a client that does not read is woken by Close
// with an error, and the descriptor (held by the write) is closed only
// once the write has returned: its number cannot be given to another
// socket while the write might still use it.
func TestFDSocket_CloseWakesAWaitingWrite(t *testing.T) {
	s, _ := socketPair(t)
	fd := int(s.fd)
	ino := inode(fd)
	fill(t, s)
	before := openFDs(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(make([]byte, 64<<10))
		done <- err
	}()
	// The waiting write holds a duplicate of the descriptor.
	eventually(t, "the write to wait on a duplicate", func() bool { return openFDs(t) > before })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the write returned no error after Close")
		}
		if got := inode(fd); got == ino {
			t.Fatalf("descriptor %d still open after the last call ended", fd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write still waits 10 s after Close")
	}
	if err := s.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v, want os.ErrClosed", err)
	}
	eventually(t, "the duplicate closed", func() bool { return openFDs(t) <= before })
}

// A call that holds the descriptor keeps it open across Close; the last
// call to end closes it.
func TestFDSocket_DescriptorOutlivesCloseWhileUsed(t *testing.T) {
	s, _ := socketPair(t)
	fd := int(s.fd)
	ino := inode(fd)
	if !s.acquire() {
		t.Fatal("a new socket refused a call")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if inode(fd) != ino {
		t.Fatal("Close closed the descriptor while a call had it")
	}
	if s.acquire() {
		t.Fatal("a closed socket took a new call")
	}
	s.release()
	if inode(fd) == ino {
		t.Fatal("the descriptor is still open after the last call")
	}
}

// A write the client does not take gives up at the write deadline with
// os.ErrDeadlineExceeded, saying how much was written, and keeps no
// descriptor.
func TestFDSocket_WriteDeadline(t *testing.T) {
	s, peer := socketPair(t)
	defer s.Close()
	fill(t, s)
	before := openFDs(t)
	if err := s.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Write(make([]byte, 64<<10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if n != 0 {
		t.Fatalf("the full socket took %d bytes", n)
	}
	if got := openFDs(t); got > before {
		t.Fatalf("%d descriptors open after the write, %d before", got, before)
	}
	// Once the client reads, a write gets through.
	buf := make([]byte, 1<<20)
	for {
		if m, _ := unix.Read(peer, buf); m <= 0 {
			break
		}
	}
	_ = s.SetWriteDeadline(time.Time{})
	if n, err := s.Write([]byte("after")); err != nil || n != 5 {
		t.Fatalf("write after the client read: %d, %v", n, err)
	}
}

// Read returns what there is without waiting, EAGAIN when nothing, and
// 0 at the client's end; a closed socket refuses every call.
func TestFDSocket_ReadAndClosed(t *testing.T) {
	s, peer := socketPair(t)
	buf := make([]byte, 16)
	if _, err := s.Read(buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("read with nothing sent: %v, want EAGAIN", err)
	}
	if _, err := unix.Write(peer, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	unix.Shutdown(peer, unix.SHUT_WR)
	if n, err := s.Read(buf); n != 0 || err != nil {
		t.Fatalf("read at the client's end: %d, %v", n, err)
	}
	s.Close()
	if _, err := s.Read(buf); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if _, err := s.Write(buf); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if s.writeNow(buf) != 0 {
		t.Fatal("writeNow wrote to a closed socket")
	}
	if err := s.control(func(int) { t.Fatal("control ran on a closed socket") }); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("control after Close: %v", err)
	}
}

// A socket handed over in blocking mode is owned non-blocking: the
// reader's read and a writer's wait must never block a thread.
func TestOwnSocket_MakesABlockingSocketNonBlocking(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "blocking") // not in the poller: stays blocking
	s, err := ownSocket(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fl, err := unix.FcntlInt(uintptr(s.fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Fatalf("owned socket's flags %#x, %v: not non-blocking", fl, err)
	}
	buf := make([]byte, 8)
	if _, err := s.Read(buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("read with nothing sent: %v, want EAGAIN at once", err)
	}
}
