package broker

import (
	"bytes"
	"testing"
	"time"
)

// expect reads an acknowledgement: packet h carrying packet id pid.
func (r *rawClient) expect(h byte, pid uint16, what string) {
	r.t.Helper()
	gh, body := r.next()
	if gh != h || !bytes.Equal(body, []byte{byte(pid >> 8), byte(pid)}) {
		r.t.Fatalf("want %s %d, got %#02x % x", what, pid, gh, body)
	}
}

// A publisher with clean session off loses its connection before it
// reads PUBREC and sends its QoS 2 message again, flagged DUP, on a new
// connection: the subscriber gets it exactly once (MQTT-4.3.3-2), as the
// ids received are session state (3.1.2.4), not connection state.
func TestBroker_QoS2_ExactlyOnceAcrossAPublisherReconnect(t *testing.T) {
	b, _ := start(t, nil)
	sub := collect(t, pahoClient(t, b, "sub", nil), "z/#", 1)
	p := publishPacket("z/1", "once", 2, false, 9)

	r := dial(t, b)
	r.connect(connectSpec{id: "pub", keepAlive: 60})
	r.send(p)
	if g := wait(t, sub); g.payload != "once" {
		t.Fatalf("got %+v", g)
	}
	r.c.Close() // before the PUBREC is read

	r2 := dial(t, b)
	if present, code := r2.connect(connectSpec{id: "pub", keepAlive: 60}); !present || code != 0 {
		t.Fatalf("reconnect: session present %v, code %d", present, code)
	}
	dup := bytes.Clone(p)
	dup[0] |= 0x08
	r2.send(dup)
	r2.expect(0x50, 9, "PUBREC")
	r2.send([]byte{0x62, 2, 0, 9})
	r2.expect(0x70, 9, "PUBCOMP")
	// Released, the id is free: a new message with it is a new message.
	r2.send(publishPacket("z/1", "next", 2, false, 9))
	r2.expect(0x50, 9, "PUBREC")
	if g := wait(t, sub); g.payload != "next" {
		t.Fatalf("the DUP was delivered again: got %+v, want the next message", g)
	}
	quiet(t, sub, "a third message")
}

// A PUBREL sent on a new connection for a message whose PUBREC came on
// the old one is completed, and the id released there.
func TestBroker_QoS2_PubrelOnANewConnectionCompletes(t *testing.T) {
	b, _ := start(t, nil)
	sub := collect(t, pahoClient(t, b, "sub", nil), "z/#", 1)
	r := dial(t, b)
	r.connect(connectSpec{id: "pub", keepAlive: 60})
	r.send(publishPacket("z/1", "one", 2, false, 4))
	r.expect(0x50, 4, "PUBREC")
	r.c.Close()
	wait(t, sub)
	r2 := dial(t, b)
	r2.connect(connectSpec{id: "pub", keepAlive: 60})
	r2.send([]byte{0x62, 2, 0, 4})
	r2.expect(0x70, 4, "PUBCOMP")
	b.mu.Lock()
	s := b.sessions["pub"]
	b.mu.Unlock()
	s.mu.Lock()
	fl := s.fl
	s.mu.Unlock()
	if fl != nil {
		t.Errorf("%d QoS 2 ids held after PUBREL (%d messages in flight)", len(fl.qos2), len(fl.inflight))
	}
}

// A clean session starts with no state: the same packet id on a clean
// reconnect is a new message and is delivered (3.1.2.4), and a clean
// session leaves nothing behind.
func TestBroker_QoS2_CleanSessionForgetsReceivedIDs(t *testing.T) {
	b, _ := start(t, nil)
	sub := collect(t, pahoClient(t, b, "sub", nil), "z/#", 1)
	for i, payload := range []string{"first", "second"} {
		r := dial(t, b)
		r.connect(connectSpec{id: "pub", clean: i == 1, keepAlive: 60})
		r.send(publishPacket("z/1", payload, 2, false, 5))
		r.expect(0x50, 5, "PUBREC")
		if g := wait(t, sub); g.payload != payload {
			t.Fatalf("got %+v, want %s", g, payload)
		}
		r.c.Close()
		eventually(t, "the publisher gone", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.clients == 1
		})
	}
	if b.Stats().Sessions != 1 {
		t.Errorf("sessions %d, want only the subscriber's", b.Stats().Sessions)
	}
}

// A persistent session whose client stays away longer than
// SessionExpiry is dropped with what it held: its queue's bytes are
// released and the client finds no session when it is back.
func TestBroker_SessionExpiry_DropsTheSessionAndItsQueue(t *testing.T) {
	b, _ := start(t, func(o *Options) { o.SessionExpiry = 200 * time.Millisecond })
	r := dial(t, b)
	r.connect(connectSpec{id: "away", keepAlive: 60})
	r.send(subscribePacket(1, 1, "q/#"))
	r.next()
	r.c.Close()
	eventually(t, "the client away", func() bool { return b.Stats().Clients == 0 })
	if err := b.Publish("q/1", []byte("kept for a while"), false, 1); err != nil {
		t.Fatal(err)
	}
	if q := b.Stats().QueuedBytes; q == 0 {
		t.Fatal("nothing queued for the away session")
	}
	eventually(t, "the session expired", func() bool { st := b.Stats(); return st.Sessions == 0 && st.QueuedBytes == 0 })
	r2 := dial(t, b)
	if present, _ := r2.connect(connectSpec{id: "away", keepAlive: 60}); present {
		t.Error("session present after it expired")
	}
	if subscribed(b, "q/#") {
		t.Error("the expired session's filter is still subscribed")
	}
}

// What a session has in flight is kept only while something is: a QoS 1
// message to the client makes it, its PUBACK lets it go, and the next
// message takes a packet id as before.
func TestSession_FlightKeptOnlyWhileAMessageIs(t *testing.T) {
	b, _ := start(t, nil)
	r := dial(t, b)
	r.connect(connectSpec{id: "dev", clean: true, keepAlive: 60})
	r.send(subscribePacket(1, 1, "cmd/#"))
	if h, _ := r.next(); h != 0x90 {
		t.Fatalf("want SUBACK, got %#02x", h)
	}
	b.mu.Lock()
	s := b.sessions["dev"]
	b.mu.Unlock()
	flying := func() *flight {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fl
	}
	for i, payload := range []string{"on", "off"} {
		if err := b.Publish("cmd/power", []byte(payload), false, 1); err != nil {
			t.Fatal(err)
		}
		p := r.readPublish()
		if string(p.msg.Payload) != payload || p.msg.QoS != 1 || p.pid == 0 {
			t.Fatalf("message %d: %+v pid %d", i, p.msg, p.pid)
		}
		if flying() == nil {
			t.Fatalf("message %d: written and not acknowledged, but nothing is in flight", i)
		}
		r.send([]byte{0x40, 2, byte(p.pid >> 8), byte(p.pid)})
		r.send([]byte{0xc0, 0}) // PINGREQ: its reply comes after the PUBACK was taken
		if h, _ := r.next(); h != 0xd0 {
			t.Fatalf("want PINGRESP, got %#02x", h)
		}
		if fl := flying(); fl != nil {
			t.Errorf("message %d acknowledged, but the flight is kept: %d in flight", i, len(fl.inflight))
		}
	}
}
