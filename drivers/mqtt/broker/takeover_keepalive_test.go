package broker

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// A client that does not read is taken over while its writer is blocked
// in a write; the new connection hears nothing of the old one's bytes,
// and once the broker is closed every descriptor is back.
func TestBroker_TakeoverMidWrite_NoLeakNoCrossTalk(t *testing.T) {
	warm, _ := start(t, nil)
	dial(t, warm).c.Close()
	before := openFDs(t)
	b, _ := start(t, func(o *Options) { o.QueueLen = 64 })
	big := strings.Repeat("x", 64<<10)
	for i := range 6 { // both session kinds, three times each
		a := dial(t, b)
		a.connect(connectSpec{id: "dev", clean: i%2 == 0, keepAlive: 60})
		a.send(subscribePacket(1, 0, "big/#"))
		if h, _ := a.next(); h != 0x90 {
			t.Fatalf("want SUBACK, got %#02x", h)
		}
		c := connOf(t, b, "dev")
		s := c.s
		// Until its writer is stuck: the queue fills behind it.
		eventually(t, "the writer to be blocked", func() bool {
			_ = b.Publish("big/x", []byte(big), false, 0)
			s.mu.Lock()
			defer s.mu.Unlock()
			return c.writing && len(s.queue) >= 8
		})
		n := dial(t, b)
		n.connect(connectSpec{id: "dev", clean: true, keepAlive: 60})
		n.send([]byte{0xc0, 0})
		h, body := n.next()
		if h != 0xd0 || len(body) != 0 {
			t.Fatalf("round %d: after CONNACK want PINGRESP, got %#02x (%d bytes)", i, h, len(body))
		}
		a.c.Close()
		n.send([]byte{0xe0, 0})
		n.closed()
		n.c.Close()
		// A bystander on a recycled descriptor hears nothing but its own.
		x := dial(t, b)
		x.connect(connectSpec{id: fmt.Sprintf("by-%d", i), clean: true, keepAlive: 60})
		x.send([]byte{0xc0, 0})
		if h, _ := x.next(); h != 0xd0 {
			t.Fatalf("round %d: bystander got %#02x", i, h)
		}
		x.c.Close()
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if openFDs(t) <= before {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	es, _ := os.ReadDir("/proc/self/fd")
	for _, e := range es {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		t.Log(e.Name(), l)
	}
	t.Fatalf("%d descriptors open, %d before", openFDs(t), before)
}

// A client that pings well within its keep-alive is kept: the deadline
// moves with each packet on the broker's clock.
func TestBroker_KeepAlive_PingingClientKept(t *testing.T) {
	b, _ := start(t, nil)
	r := dial(t, b)
	r.connect(connectSpec{id: "pinger", clean: true, keepAlive: 1})
	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	for range 10 {
		<-tick.C
		r.send([]byte{0xc0, 0})
		if h, _ := r.next(); h != 0xd0 {
			t.Fatalf("want PINGRESP, got %#02x", h)
		}
	}
	if st := b.Stats(); st.Clients != 1 {
		t.Fatalf("clients %d", st.Clients)
	}
}
