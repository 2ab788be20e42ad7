//go:build linux

package broker

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With one descriptor free, the accepted socket takes it and the epoll
// reader's duplicate (ownSocket) finds none: the client is closed, and
// the refusals are logged once per logEvery, not once each (the rest at
// debug level). The goroutine reader needs no duplicate: it serves them. The test lowers the process's open-file limit while it
// runs, so it does not run in parallel.
func TestBroker_AtTheDescriptorLimit_RefusalsLoggedOnce(t *testing.T) {
	b, logs := start(t, nil)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Fill the table but for two: the client's socket and the broker's.
	var fill []*os.File
	defer func() {
		for _, f := range fill {
			f.Close()
		}
	}()
	low := lim
	low.Cur = uint64(openFDs(t) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	for {
		f, err := os.Open("/dev/null")
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	fill[len(fill)-1].Close()
	fill[len(fill)-2].Close()
	fill = fill[:len(fill)-2]
	const n = 20
	acked := 0
	for range n {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(connectSpec{id: "dev", clean: true}.packet())
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf [4]byte
		_, rerr := c.Read(buf[:])
		c.Close()
		if rerr == nil && buf[0] == 0x20 {
			acked++
		}
		// The broker's socket is closed once the client's EOF/RST is seen
		// either way; wait for the connection count to fall.
		eventually(t, "the connection gone", func() bool { return b.Stats().Connections == 0 })
	}
	all := strings.Count(logs.String(), "cannot watch a new connection")
	loud := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "cannot watch a new connection") && !strings.Contains(l, "level=DEBUG") {
			loud++
		}
	}
	if *goroutineReader {
		// That reader keeps the accepted socket itself: no second
		// descriptor, so every client is served.
		if acked != n || all != 0 {
			t.Fatalf("goroutine reader: %d of %d clients got CONNACK, %d refusal lines", acked, n, all)
		}
		return
	}
	if acked > 0 || all < n/2 || loud != 1 {
		t.Fatalf("%d of %d clients got CONNACK; %d refusal lines, %d of them above debug; want none served, most lines at debug and one above", acked, n, all, loud)
	}
}
