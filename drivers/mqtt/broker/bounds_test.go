package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The case of issue 20: a persistent '#' subscriber goes away, then 100
// QoS 1 messages of 4 MiB are published. What the broker holds for it is
// bounded by MaxQueueBytes (its accounted bytes, and the live heap), the
// drops are counted and logged once, and what was kept arrives when it
// is back.
func TestBroker_AwaySession_BigMessagesStayWithinMaxQueueBytes(t *testing.T) {
	const bound = 16 << 20
	b, logs := start(t, func(o *Options) { o.MaxPacket = 5 << 20; o.MaxQueueBytes = bound })
	r := dial(t, b)
	r.connect(connectSpec{id: "all", keepAlive: 60})
	r.send(subscribePacket(1, 1, "#"))
	r.next()
	r.c.Close()
	eventually(t, "the subscriber away", func() bool { return b.Stats().Clients == 0 })

	before := heapNow()
	big := bytes.Repeat([]byte("x"), 4<<20)
	for i := range 100 {
		if err := b.Publish(fmt.Sprint("big/", i), big, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	st := b.Stats()
	kept := bound / size(&Message{Topic: "big/10", Payload: big})
	if st.QueuedBytes > bound || st.DroppedBytes != uint64(100-kept) {
		t.Errorf("queued %d bytes (bound %d), dropped %d (want %d)", st.QueuedBytes, bound, st.DroppedBytes, 100-kept)
	}
	if grew := int64(heapNow()) - int64(before); grew > bound+4<<20 {
		t.Errorf("the heap grew by %d MiB for a queue bounded at %d MiB", grew>>20, bound>>20)
	}
	if n := warnings(logs, "MaxQueueBytes"); n != 1 {
		t.Errorf("%d log lines for the bound, want 1 (rate-limited)", n)
	}

	r2 := dial(t, b)
	r2.connect(connectSpec{id: "all", keepAlive: 60})
	for i := range kept {
		p := r2.readPublish()
		if p.msg.Topic != fmt.Sprint("big/", i) || len(p.msg.Payload) != len(big) {
			t.Fatalf("message %d: %s of %d bytes", i, p.msg.Topic, len(p.msg.Payload))
		}
		r2.send([]byte{0x40, 2, byte(p.pid >> 8), byte(p.pid)})
	}
	eventually(t, "the queue's bytes released", func() bool { return b.Stats().QueuedBytes == 0 })
}

// MaxQueuedBytes bounds every queue together: two away subscribers, each
// allowed more than half of it, do not pass it together.
func TestBroker_MaxQueuedBytes_BoundsAllQueues(t *testing.T) {
	const each, all = 6 << 20, 8 << 20
	b, logs := start(t, func(o *Options) { o.MaxPacket = 2 << 20; o.MaxQueueBytes = each; o.MaxQueuedBytes = all })
	for _, id := range []string{"a", "b"} {
		r := dial(t, b)
		r.connect(connectSpec{id: id, keepAlive: 60})
		r.send(subscribePacket(1, 1, "m/#"))
		r.next()
		r.c.Close()
	}
	eventually(t, "the subscribers away", func() bool { return b.Stats().Clients == 0 })
	msg := bytes.Repeat([]byte("y"), 1<<20)
	for range 10 {
		b.Publish("m/1", msg, false, 1)
	}
	st := b.Stats()
	if st.QueuedBytes > all || st.DroppedMemory == 0 {
		t.Errorf("queued %d bytes (bound %d), dropped %d for the bound", st.QueuedBytes, all, st.DroppedMemory)
	}
	if st.QueuedBytes < all-2*size(&Message{Topic: "m/1", Payload: msg}) {
		t.Errorf("queued %d bytes: the bound %d was not used", st.QueuedBytes, all)
	}
	if !strings.Contains(logs.String(), "MaxQueuedBytes") {
		t.Errorf("no log line for the bound:\n%s", logs)
	}
	// A clean reconnect ends a session: its bytes are released.
	r := dial(t, b)
	r.connect(connectSpec{id: "a", clean: true})
	r2 := dial(t, b)
	r2.connect(connectSpec{id: "b", clean: true})
	if q := b.Stats().QueuedBytes; q != 0 {
		t.Errorf("%d bytes still counted after the sessions ended", q)
	}
}

// Beyond MaxConnections, a connection is closed as soon as it is
// accepted and counted; once one of them goes, a client gets in again.
func TestBroker_MaxConnections_ClosesOneMore(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxConnections = 4 })
	var held []*rawClient
	for i := range 4 {
		r := dial(t, b)
		r.connect(connectSpec{id: fmt.Sprint("dev", i), clean: true})
		held = append(held, r)
	}
	extra := dial(t, b)
	extra.send(connectSpec{id: "extra", clean: true}.packet())
	extra.closed()
	if st := b.Stats(); st.ConnectionsRefused != 1 || st.Connections != 4 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "MaxConnections") {
		t.Errorf("no log line for the bound:\n%s", logs)
	}
	held[0].c.Close()
	eventually(t, "a connection gone", func() bool { return b.Stats().Connections == 3 })
	pahoClient(t, b, "next", nil)
}

// Many idle TCP connections (no CONNECT) cannot keep a device out: past
// MaxPending the oldest of them is closed for each new one, and a real
// client connects at once.
func TestBroker_IdleConnections_DoNotKeepDevicesOut(t *testing.T) {
	const pending, idle = 8, 300
	b, logs := start(t, func(o *Options) { o.MaxPending = pending; o.ConnectTimeout = time.Minute })
	var conns []net.Conn
	for range idle {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	eventually(t, "the idle connections taken", func() bool { return b.Stats().PendingClosed == idle-pending })
	if st := b.Stats(); st.Pending != pending {
		t.Errorf("%d connections pending, want %d", st.Pending, pending)
	}
	// The first idle connection is among those closed.
	_ = conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err != io.EOF && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Errorf("the oldest idle connection: %v, want it closed", err)
	}
	dev := pahoClient(t, b, "device", nil)
	if !dev.IsConnectionOpen() {
		t.Error("the device is not connected")
	}
	if st := b.Stats(); st.Clients != 1 || st.Pending != pending-1 {
		t.Errorf("stats %+v", st)
	}
	if n := warnings(logs, "MaxPending"); n != 1 {
		t.Errorf("%d log lines for the bound, want 1 (rate-limited)", n)
	}
}

// The defaults are safe: a connection has seconds, not minutes, to say
// CONNECT, and every bound is set.
func TestNew_DefaultBounds(t *testing.T) {
	b, _ := start(t, nil)
	o := b.opts
	if o.ConnectTimeout > 10*time.Second || o.MaxConnections == 0 || o.MaxPending == 0 || o.MaxPending > o.MaxConnections ||
		o.MaxQueueBytes < 2*o.MaxPacket || o.MaxQueuedBytes < o.MaxQueueBytes {
		t.Errorf("defaults %+v", o)
	}
}

// warnings counts the warnings that mention what.
func warnings(logs *syncBuffer, what string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, what) {
			n++
		}
	}
	return n
}

// A connection not admitted yet may send a CONNECT of MaxConnect bytes
// at most: one announcing more is closed before its bytes are read, and
// a device's CONNECT gets through.
func TestBroker_MaxConnect_RefusesALargerConnect(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxConnect = 1 << 10 })
	r := dial(t, b)
	r.send(connectSpec{id: strings.Repeat("x", 2<<10), clean: true}.packet())
	r.closed()
	eventually(t, "a log line saying why", func() bool { return strings.Contains(logs.String(), "packet too large: CONNECT") }, logs)
	ok := dial(t, b)
	if _, code := ok.connect(connectSpec{id: strings.Repeat("y", 900), clean: true}); code != 0 {
		t.Errorf("CONNECT under the bound: code %d", code)
	}
	// After CONNECT, MaxPacket is the bound.
	ok.send(subscribePacket(1, 0, "big/#"))
	ok.next()
	ok.send(publishPacket("big/1", strings.Repeat("z", 4<<10), 0, false, 0))
	if p := ok.readPublish(); len(p.msg.Payload) != 4<<10 {
		t.Errorf("got %d bytes", len(p.msg.Payload))
	}
}

// Connections closed for MaxPending while their CONNECT is being taken
// leave nothing behind: every one is admitted or closed, and the counts
// come back to zero.
func TestBroker_MaxPending_WhileConnectsArrive(t *testing.T) {
	b, _ := start(t, func(o *Options) { o.MaxPending = 2 })
	const n = 40
	done := make(chan byte, n)
	for i := range n {
		go func() {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				done <- 0xff
				return
			}
			defer c.Close()
			r := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
			if _, err := c.Write(connectSpec{id: fmt.Sprint("d", i), clean: true}.packet()); err != nil {
				done <- 0xfe
				return
			}
			h, _, err := r.tryNext(5 * time.Second)
			if err != nil {
				done <- 0xfd // closed for a newer one
				return
			}
			done <- h
		}()
	}
	for range n {
		if h := <-done; h != 0x20 && h != 0xfd {
			t.Errorf("a client got %#x", h)
		}
	}
	eventually(t, "every connection gone", func() bool { st := b.Stats(); return st.Connections == 0 && st.Pending == 0 && st.Clients == 0 })
	pahoClient(t, b, "after", nil)
}

// Beyond MaxClients a CONNECT is refused with "server unavailable" and
// counted; once a client leaves, one gets in again.
func TestBroker_MaxClients_RefusesOneMore(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxClients = 2 })
	first := dial(t, b)
	first.connect(connectSpec{id: "a", clean: true})
	dial(t, b).connect(connectSpec{id: "b", clean: true})
	extra := dial(t, b)
	if _, code := extra.connect(connectSpec{id: "c", clean: true}); code != 3 {
		t.Errorf("CONNACK %d beyond MaxClients, want 3", code)
	}
	extra.closed()
	eventually(t, "the refusal counted and logged", func() bool {
		return b.Stats().Refused == 1 && strings.Contains(logs.String(), "clients connected, the maximum")
	}, logs)
	first.send([]byte{0xe0, 0})
	eventually(t, "a client gone", func() bool { return b.Stats().Clients == 1 })
	if _, code := dial(t, b).connect(connectSpec{id: "c", clean: true}); code != 0 {
		t.Errorf("CONNACK %d after a client left", code)
	}
}

// The bytes counted for queues come back to zero once what was queued
// is written (QoS 0) or acknowledged (QoS 1).
func TestBroker_QueuedBytes_ReleasedWhenWrittenOrAcknowledged(t *testing.T) {
	b, _ := start(t, nil)
	zero := collect(t, pahoClient(t, b, "zero", nil), "n/#", 0)
	one := collect(t, pahoClient(t, b, "one", nil), "n/#", 1)
	for i := range 100 {
		if err := b.Publish(fmt.Sprint("n/", i), bytes.Repeat([]byte("p"), 1000), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		wait(t, zero)
		wait(t, one)
	}
	eventually(t, "no bytes counted", func() bool { return b.Stats().QueuedBytes == 0 })
}
