package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// dialSmall connects with a small receive buffer, so that the broker's
// writes to a client that does not read block soon.
func dialSmall(t *testing.T, b *Broker) *rawClient {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	nc, err := d.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, c: nc, r: bufio.NewReader(nc)}
}

// A client that sends and never reads has the broker's replies wait (a
// PINGRESP, a PUBACK per packet): the broker reads no more of it once
// QueueLen of them wait, so they do not pile up, and ends it as too slow
// when it takes no byte for WriteTimeout.
func TestBroker_ClientThatDoesNotRead_EndedAsSlow(t *testing.T) {
	const queue = 16
	b, logs := start(t, func(o *Options) {
		o.QueueLen = queue
		o.MaxPacket = 2 << 20
		o.WriteTimeout = 300 * time.Millisecond
	})
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := range 8 {
		b.Publish(fmt.Sprint("big/", i), big, true, 0)
	}
	r := dialSmall(t, b)
	r.connect(connectSpec{id: "deaf", clean: true})
	r.send(subscribePacket(1, 0, "big/#")) // 8 MiB to write
	s := connOf(t, b, "deaf").s
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		pings := bytes.Repeat([]byte{0xc0, 0}, 10_000)
		for range 10 {
			_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := r.c.Write(pings); err != nil {
				return // ended
			}
		}
	}()
	most := 0
	eventually(t, "the client ended as too slow", func() bool {
		s.mu.Lock()
		most = max(most, len(s.queue))
		s.mu.Unlock()
		return b.Stats().SlowClients == 1
	}, logs)
	<-sent
	if most > queue+2 {
		t.Errorf("%d packets queued for a client that reads nothing (QueueLen %d)", most, queue)
	}
	eventually(t, "a log line saying why", func() bool { return strings.Contains(logs.String(), "too slow") }, logs)
}

// pipeline writes the packets made by p(i) for i below n in one go,
// while the test reads what comes back.
func pipeline(r *rawClient, n int, p func(i int) []byte) chan error {
	var all []byte
	for i := range n {
		all = append(all, p(i)...)
	}
	done := make(chan error, 1)
	go func() {
		_ = r.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := r.c.Write(all)
		done <- err
	}()
	return done
}

// A client that sends a burst of 10,000 SUBSCRIBEs, and reads its
// SUBACKs all along, gets every one of them and stays connected: the
// broker's backlog of replies holds the client's sending up, it does not
// end it.
func TestBroker_SubscribeBurstFromAReadingClient_Completes(t *testing.T) {
	// With the default QueueLen, and a tiny one: many pauses.
	for _, queue := range []int{0, 4} {
		t.Run(fmt.Sprint("QueueLen ", queue), func(t *testing.T) { subscribeBurst(t, queue) })
	}
}

func subscribeBurst(t *testing.T, queue int) {
	const n = 10_000
	b, logs := start(t, func(o *Options) { o.QueueLen = queue })
	r := dialSmall(t, b)
	r.connect(connectSpec{id: "burst", clean: true})
	wrote := pipeline(r, n, func(i int) []byte { return subscribePacket(uint16(i+1), 1, fmt.Sprint("s/", i%500)) })
	for i := range n {
		h, body, err := r.tryNext(10 * time.Second)
		if err != nil {
			t.Fatalf("SUBACK %d of %d: %v (stats %+v)\n%s", i+1, n, err, b.Stats(), logs)
		}
		if h != 0x90 || !bytes.Equal(body, []byte{byte((i + 1) >> 8), byte(i + 1), 1}) {
			t.Fatalf("packet %d: %#02x % x, want its SUBACK", i+1, h, body)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	r.send([]byte{0xc0, 0})
	if h, _ := r.next(); h != 0xd0 {
		t.Errorf("want PINGRESP after the burst, got %#02x", h)
	}
	if st := b.Stats(); st.SlowClients != 0 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The same for 5,000 QoS 1 PUBLISHes: each PUBACK arrives, and each
// message reaches the subscriber.
func TestBroker_PublishBurstFromAReadingClient_Completes(t *testing.T) {
	const n = 5000
	b, logs := start(t, nil)
	var got atomic.Int64
	l := b.NewLocal(func(string, []byte) { got.Add(1) })
	if err := l.Subscribe("burst/#"); err != nil {
		t.Fatal(err)
	}
	r := dialSmall(t, b)
	r.connect(connectSpec{id: "burst", clean: true})
	wrote := pipeline(r, n, func(i int) []byte { return publishPacket("burst/x", "some payload", 1, false, uint16(i+1)) })
	for i := range n {
		h, body, err := r.tryNext(10 * time.Second)
		if err != nil {
			t.Fatalf("PUBACK %d of %d: %v (stats %+v)\n%s", i+1, n, err, b.Stats(), logs)
		}
		if h != 0x40 || !bytes.Equal(body, []byte{byte((i + 1) >> 8), byte(i + 1)}) {
			t.Fatalf("packet %d: %#02x % x, want its PUBACK", i+1, h, body)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if got.Load() != n {
		t.Errorf("the subscriber got %d of %d", got.Load(), n)
	}
	if st := b.Stats(); st.SlowClients != 0 || st.Received != n {
		t.Errorf("stats %+v", st)
	}
}
