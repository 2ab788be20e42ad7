package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// closeWithin fails the test when b.Close takes longer than d.
func closeWithin(t *testing.T, b *Broker, d time.Duration) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
}

// A broker that was made and never served still closes (a daemon that
// fails to start after binding its broker).
func TestBroker_Close_WithoutServe(t *testing.T) {
	b, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: *goroutineReader})
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, b, 5*time.Second)
}

// Close while clients are being accepted and are connecting: every
// connection ends once, Close returns, and (under -race) nothing is
// touched by two goroutines at once.
func TestBroker_Close_WhileClientsArrive(t *testing.T) {
	for round := range 20 {
		b, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: *goroutineReader})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- b.Serve() }()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
					if err != nil {
						continue
					}
					_, _ = c.Write(connectSpec{id: fmt.Sprintf("c%d-%d", g, i%3), clean: i%2 == 0}.packet())
					if i%2 == 0 {
						_ = c.Close()
					} else {
						defer c.Close()
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5+1) * time.Millisecond)
		closeWithin(t, b, 5*time.Second)
		close(stop)
		wg.Wait()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// connOf returns the broker's connection of client id.
func connOf(t *testing.T, b *Broker, id string) *conn {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[id]
	if s == nil {
		t.Fatalf("no session %q", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		t.Fatalf("session %q has no connection", id)
	}
	return s.c
}

// With the epoll reader a connection can be ended by its writer (a write
// error) while the reader is still handling a packet it read: such a
// late packet must leave nothing behind, neither a subscription of a
// clean session that is gone (held by the tree forever) nor replies
// queued for whoever takes the persistent session next.
func TestBroker_PacketAfterItsConnectionEnded_LeavesNothing(t *testing.T) {
	b, _ := start(t, nil)
	for _, clean := range []bool{true, false} {
		id := fmt.Sprint("late-", clean)
		r := dial(t, b)
		r.connect(connectSpec{id: id, clean: clean})
		c := connOf(t, b, id)
		s := c.s
		c.shut(ErrSlowClient) // as flush does on a write error
		c.wait()
		// What the reader still had in hand.
		if _, body := splitPacket(t, subscribePacket(3, 1, "late/#")); c.subscribe(body) != nil {
			t.Fatal("subscribe failed")
		}
		if _, err := c.packet(0xc0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.packet(0x62, []byte{0, 5}); err != nil {
			t.Fatal(err)
		}
		b.subMu.RLock()
		held := b.tree.match("late/x", nil)
		b.subMu.RUnlock()
		if len(held) != 0 {
			t.Errorf("clean=%v: the ended connection's subscription is in the tree", clean)
		}
		s.mu.Lock()
		queued := len(s.queue)
		s.mu.Unlock()
		if queued != 0 {
			t.Errorf("clean=%v: %d packets queued for the next connection", clean, queued)
		}
		if clean {
			continue
		}
		// The next connection gets its CONNACK and nothing else.
		r = dial(t, b)
		r.connect(connectSpec{id: id, clean: false})
		if h, body, err := r.tryNext(200 * time.Millisecond); err == nil {
			t.Errorf("the resumed session got %#02x % x, meant for the ended connection", h, body)
		}
	}
}

// splitPacket returns an encoded packet's first byte and body.
func splitPacket(t *testing.T, p []byte) (byte, []byte) {
	t.Helper()
	h, body, err := readPacket(bufio.NewReader(bytes.NewReader(p)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// A connection that is ending on another goroutine (a write error, or
// its own reader) when the client comes back must have published its
// will before the new connection is accepted: otherwise the device's
// "online" can come before its old "offline", which then stays retained.
func TestBroker_ReconnectWhileTheOldConnectionEnds_WillComesFirst(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprint("clean=", clean), func(t *testing.T) {
			b, _ := start(t, nil)
			inWill, release := make(chan struct{}), make(chan struct{})
			l := b.NewLocal(func(topic string, p []byte) {
				if string(p) == "offline" {
					close(inWill)
					<-release
				}
			})
			if err := l.Subscribe("avail/dev"); err != nil {
				t.Fatal(err)
			}
			old := dial(t, b)
			old.connect(connectSpec{id: "dev", clean: clean, will: &Message{Topic: "avail/dev", Payload: []byte("offline"), Retain: true}})
			go connOf(t, b, "dev").shut(ErrSlowClient) // as flush does on a write error
			<-inWill
			fresh := dial(t, b)
			fresh.send(connectSpec{id: "dev", clean: clean}.packet())
			if h, body, err := fresh.tryNext(300 * time.Millisecond); err == nil {
				close(release)
				t.Fatalf("got %#02x % x while the old connection's will was being published", h, body)
			}
			close(release)
			if h, _ := fresh.next(); h != 0x20 {
				t.Fatalf("want CONNACK, got %#02x", h)
			}
		})
	}
}
