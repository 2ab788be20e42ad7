package broker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// heapNow is the live heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A packet's announced length costs nothing until its bytes arrive: a
// client (not even logged in) that announces a large CONNECT and sends
// a few bytes must not make the broker hold the whole length.
func TestBroker_AnnouncedLength_HoldsNoMemory(t *testing.T) {
	const maxPacket = 8 << 20
	const clients = 16
	b, _ := start(t, func(o *Options) { o.MaxPacket, o.MaxConnect = maxPacket, maxPacket })
	before := heapNow()
	in0 := b.Stats().BytesIn
	var cs []net.Conn
	sent := 0
	for range clients {
		r := dial(t, b)
		// CONNECT announcing maxPacket-1 bytes, and the first few of them.
		hdr := appendLength([]byte{0x10}, maxPacket-1)
		pkt := append(hdr, 0, 4, 'M', 'Q', 'T', 'T', 4)
		r.send(pkt)
		sent += len(pkt)
		cs = append(cs, r.c)
	}
	eventually(t, "the broker to read what was sent", func() bool { return b.Stats().BytesIn-in0 >= uint64(sent) })
	grew := int64(heapNow()) - int64(before)
	if grew > clients*maxPacket/8 {
		t.Errorf("%d clients that sent 12 bytes each made the heap grow by %d MiB", clients, grew>>20)
	}
	runtime.KeepAlive(cs)
}

// Every level of a filter is a node of the subscription tree (about 300
// bytes), so a filter's levels are bounded: a 64 KiB filter of 32,768
// levels would hold about 9 MiB.
func TestBroker_DeepFilter_Refused(t *testing.T) {
	b, _ := start(t, nil)
	deep := strings.Repeat("a/", maxLevels) + "b"
	if err := ValidFilter(deep); !errors.Is(err, ErrBadTopic) || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", maxLevels)) || len(err.Error()) > 200 {
		t.Errorf("ValidFilter of %d levels: %v", maxLevels+1, err)
	}
	if err := ValidFilter(strings.Repeat("+/", maxLevels-1) + "#"); err != nil {
		t.Errorf("a filter of %d levels: %v", maxLevels, err)
	}
	r := dial(t, b)
	r.connect(connectSpec{id: "deep", clean: true})
	huge := strings.Repeat("a/", 30_000) + "b"
	before := heapNow()
	r.send(subscribePacket(1, 1, deep, huge, "ok/#"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 1, 0x80, 0x80, 1}) {
		t.Errorf("SUBACK %#02x % x, want 00 01 80 80 01", h, body)
	}
	if grew := int64(heapNow()) - int64(before); grew > 1<<20 {
		t.Errorf("a SUBSCRIBE of %d bytes made the heap grow by %d KiB", len(huge), grew>>10)
	}
}

// A client holds at most MaxSubscriptions filters; more are refused one
// by one, and replacing or dropping one is always possible.
func TestBroker_MaxSubscriptions_RefusesFiltersBeyond(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxSubscriptions = 3 })
	b.Publish("f/4", []byte("retained"), true, 1)
	r := dial(t, b)
	r.connect(connectSpec{id: "many", clean: true})
	r.send(subscribePacket(1, 1, "f/1", "f/2", "f/3", "f/4"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 1, 1, 1, 1, 0x80}) {
		t.Fatalf("SUBACK %#02x % x, want 00 01 01 01 01 80", h, body)
	}
	if _, _, err := r.tryNext(100 * time.Millisecond); err == nil {
		t.Error("a refused filter's retained message was sent")
	}
	r.send(subscribePacket(2, 0, "f/1"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 2, 0}) {
		t.Errorf("replacing a filter at the limit: SUBACK %#02x % x", h, body)
	}
	r.send(packet(0xa2, append([]byte{0, 3}, appendStr(nil, "f/2")...)))
	if h, _ := r.next(); h != 0xb0 {
		t.Fatalf("want UNSUBACK, got %#02x", h)
	}
	r.send(subscribePacket(4, 1, "f/4"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 4, 1}) {
		t.Errorf("after an unsubscribe: SUBACK %#02x % x", h, body)
	}
	if p := r.readPublish(); string(p.msg.Payload) != "retained" {
		t.Errorf("replay %+v", p)
	}
	eventually(t, "a log line saying why", func() bool { return strings.Contains(logs.String(), "maximum of subscriptions") }, logs)
}

// A SUBSCRIBE replays the retained messages under each filter, which
// means a look at every retained topic for a wildcard. That look must
// not be taken by the reader of every connection: a client that sends
// one filter many times (or many filters) would stall every device.
func TestBroker_RetainedReplay_DoesNotHoldUpOtherClients(t *testing.T) {
	b, _ := start(t, nil)
	for i := range 10_000 {
		b.Publish(fmt.Sprintf("tele/dev%d/STATE", i), []byte("x"), true, 0)
	}
	b.Publish("zz/match", []byte("found"), true, 1)
	other := dial(t, b)
	other.connect(connectSpec{id: "other", clean: true})
	heavy := dial(t, b)
	heavy.connect(connectSpec{id: "heavy", clean: true})
	fs := make([]string, 20_000)
	for i := range fs {
		fs[i] = "+/nomatch"
	}
	fs = append(fs, "+/match")
	in0 := b.Stats().BytesIn
	sub := subscribePacket(1, 1, fs...)
	heavy.send(sub)
	// Once the broker has read the whole SUBSCRIBE, its reader is on it
	// (or done): the PINGREQ must not wait behind it.
	eventually(t, "the SUBSCRIBE read", func() bool { return b.Stats().BytesIn-in0 >= uint64(len(sub)) })
	began := time.Now()
	other.send([]byte{0xc0, 0})
	if h, _ := other.next(); h != 0xd0 {
		t.Fatalf("want PINGRESP, got %#02x", h)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("another client's PINGREQ took %v while a SUBSCRIBE was handled", d)
	}
	if p := heavy.readPublish(); string(p.msg.Payload) != "found" || p.msg.Topic != "zz/match" || !p.msg.Retain || p.msg.QoS != 1 {
		t.Errorf("replay %+v", p)
	}
}

// Retained messages are bounded in bytes as well as in topics; a message
// that does not fit is delivered, not retained, and its topic's former
// retained message is forgotten rather than left stale.
func TestBroker_MaxRetainedBytes(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxRetainedBytes = 1000 })
	delivered := 0
	l := b.NewLocal(func(string, []byte) { delivered++ })
	if err := l.Subscribe("r/#"); err != nil {
		t.Fatal(err)
	}
	p300 := bytes.Repeat([]byte("x"), 300)
	for i := range 4 {
		b.Publish(fmt.Sprint("r/", i), p300, true, 0)
	}
	if delivered != 4 {
		t.Errorf("%d of 4 delivered", delivered)
	}
	topics := func() (ts []string) {
		for _, m := range b.Retained("r/#") {
			ts = append(ts, m.Topic)
		}
		slices.Sort(ts)
		return ts
	}
	if got := topics(); !slices.Equal(got, []string{"r/0", "r/1", "r/2"}) {
		t.Errorf("retained %v, want r/0..2 (303 bytes each, 1000 at most)", got)
	}
	if st := b.Stats(); st.RetainedBytes != 909 {
		t.Errorf("stats %+v, want 909 retained bytes", st)
	}
	b.Publish("r/1", bytes.Repeat([]byte("y"), 600), true, 0)
	if got := topics(); !slices.Equal(got, []string{"r/0", "r/2"}) {
		t.Errorf("after a too large r/1: retained %v; the old r/1 must not stay", got)
	}
	b.Publish("r/2", nil, true, 0)
	b.Publish("r/3", p300, true, 0)
	if got := topics(); !slices.Equal(got, []string{"r/0", "r/3"}) {
		t.Errorf("after freeing r/2: retained %v", got)
	}
	if n := strings.Count(logs.String(), "MaxRetainedBytes"); n != 1 {
		t.Errorf("%d log lines about the bound, want 1 until it is no longer reached:\n%s", n, logs)
	}
}

// Persistent sessions of clients that are away are bounded: each can
// hold QueueLen messages, and a client can make up client ids. Beyond
// MaxAwaySessions the one away longest is dropped.
func TestBroker_MaxAwaySessions_DropsTheOldest(t *testing.T) {
	b, _ := start(t, func(o *Options) { o.MaxAwaySessions = 2 })
	leave := func(id string) {
		r := dial(t, b)
		r.connect(connectSpec{id: id, clean: false})
		r.send(subscribePacket(1, 1, "cmnd/"+id+"/#"))
		r.next()
		r.c.Close()
		eventually(t, id+" gone", func() bool { return b.Stats().Clients == 0 })
		time.Sleep(2 * time.Millisecond) // distinct leaving times
	}
	for _, id := range []string{"a", "b", "c"} {
		leave(id)
	}
	if st := b.Stats(); st.Sessions != 2 {
		t.Errorf("%d sessions kept, want 2", st.Sessions)
	}
	if subscribed(b, "cmnd/a/#") {
		t.Error("the dropped session's subscription is still there")
	}
	for id, want := range map[string]bool{"a": false, "c": true} {
		r := dial(t, b)
		if present, _ := r.connect(connectSpec{id: id, clean: false}); present != want {
			t.Errorf("%s: session present %v, want %v", id, present, want)
		}
	}
	// Connected clients do not count: b was kept while a and c are here.
	r := dial(t, b)
	if present, _ := r.connect(connectSpec{id: "b", clean: false}); !present {
		t.Error("b's session was dropped")
	}
}

// An error about a long topic shows its start, not all of it.
func TestBroker_LongTopicInAnError_Shortened(t *testing.T) {
	b, logs := start(t, nil)
	r := dial(t, b)
	r.connect(connectSpec{id: "long", clean: true})
	long := strings.Repeat("abcd/", 12_000) + "#"
	r.send(publishPacket(long, "x", 0, false, 0))
	r.closed()
	eventually(t, "the log line", func() bool { return strings.Contains(logs.String(), "holds a wildcard") }, logs)
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 1000 {
			t.Errorf("a log line of %d bytes: %.300s...", len(line), line)
		}
	}
	if err := ValidTopic(long); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("(%d bytes)", len(long))) {
		t.Errorf("ValidTopic: %v", err)
	}
}

// Packets that arrive in pieces, each read on its own, are taken whole
// once their last byte is in, the piece kept for each is let go, and what
// was taken stays as it was (a retained message's body can be the memory
// its pieces were gathered in; the next packet's go elsewhere).
func TestBroker_PacketsInPieces_TakenWhole(t *testing.T) {
	b, _ := start(t, nil)
	got := make(chan string, 2)
	l := b.NewLocal(func(topic string, p []byte) { got <- topic + " " + string(p) })
	if err := l.Subscribe("pieces/#"); err != nil {
		t.Fatal(err)
	}
	r := dial(t, b)
	r.connect(connectSpec{id: "slow-sender", clean: true})
	want := map[string]string{"pieces/x": strings.Repeat("x", 300), "pieces/y": strings.Repeat("y", 200)}
	for _, topic := range []string{"pieces/x", "pieces/y"} {
		pkt := publishPacket(topic, want[topic], 0, true, 0)
		in0 := b.Stats().BytesIn
		for _, cut := range [][2]int{{0, 1}, {1, 3}, {3, 150}, {150, len(pkt)}} {
			r.send(pkt[cut[0]:cut[1]])
			eventually(t, "the broker to read the piece", func() bool { return b.Stats().BytesIn-in0 >= uint64(cut[1]) })
		}
		select {
		case m := <-got:
			if m != topic+" "+want[topic] {
				t.Errorf("got %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not arrive", topic)
		}
	}
	// BytesIn counts what the reader has handled, so c.in is as the last
	// piece left it (and the reader touches it no more: nothing follows).
	if in := connOf(t, b, "slow-sender").partial(); len(in) != 0 {
		t.Errorf("%d bytes kept after the packet was taken", len(in))
	}
	for topic, payload := range want {
		if ms := b.Retained(topic); len(ms) != 1 || string(ms[0].Payload) != payload || ms[0].Topic != topic {
			t.Errorf("retained under %s: %+v", topic, ms)
		}
	}
}
