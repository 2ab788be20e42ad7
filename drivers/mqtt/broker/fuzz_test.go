package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// packetSeeds are whole packets, good and bad, for the fuzzers.
var packetSeeds = [][]byte{
	connectSpec{id: "x", clean: true}.packet(),
	connectSpec{id: "w", will: &Message{Topic: "a/b", Payload: []byte("gone"), QoS: 1, Retain: true}, user: "u", pass: "p"}.packet(),
	connectSpec{id: "old", level: 3}.packet(),
	publishPacket("tele/lamp/STATE", `{"POWER":"ON"}`, 0, false, 0),
	publishPacket("cmnd/lamp/POWER", "ON", 1, true, 9),
	publishPacket("z", "two", 2, false, 3),
	subscribePacket(1, 1, "tele/+/STATE", "stat/#"),
	packet(0xa2, append([]byte{0, 2}, appendStr(nil, "a/#")...)),
	{0x40, 2, 0, 1},
	{0x62, 2, 0, 3},
	{0xc0, 0},
	{0xe0, 0},
	{0x30, 0xff, 0xff, 0xff, 0x7f},
	{0x82, 2, 0, 0},
}

// FuzzParse feeds any body to every parser: an error or a result, never
// a panic, and a parsed publish keeps its topic valid.
func FuzzParse(f *testing.F) {
	for _, p := range packetSeeds {
		r := bufio.NewReader(bytes.NewReader(p))
		if h, body, err := readPacket(r, 1<<20); err == nil {
			f.Add(h, body)
		}
	}
	f.Fuzz(func(t *testing.T, h byte, body []byte) {
		if _, _, err := parseConnect(body); err == nil && len(body) < 6 {
			t.Fatalf("a CONNECT of %d bytes parsed", len(body))
		}
		if p, err := parsePublish(h, body); err == nil {
			if ValidTopic(p.msg.Topic) != nil {
				t.Fatalf("parsed publish with topic %q", p.msg.Topic)
			}
			if p.msg.QoS > 0 && p.pid == 0 {
				t.Fatal("QoS > 0 publish with packet id 0")
			}
			// What parses, encodes back to the same body.
			enc := appendPublish(nil, &p.msg, p.msg.QoS, p.msg.Retain, p.dup, p.pid)
			if _, back, err := readPacket(bufio.NewReader(bytes.NewReader(enc)), 1<<20); err != nil || !bytes.Equal(back, body) {
				t.Fatalf("publish round trip: % x -> % x (%v)", body, back, err)
			}
		}
		for _, withQoS := range []bool{true, false} {
			if _, reqs, err := parseSubscribe(body, withQoS); err == nil && len(reqs) == 0 {
				t.Fatal("a SUBSCRIBE without filters parsed")
			}
		}
	})
}

// FuzzBroker_ClientBytes connects and then sends anything: the broker
// must end or keep the connection without a panic or a hang, and keep
// serving.
func FuzzBroker_ClientBytes(f *testing.F) {
	for _, p := range packetSeeds {
		f.Add(p)
	}
	f.Add(bytes.Join(packetSeeds[3:], nil))
	b, _ := start(f, func(o *Options) { o.MaxPacket = 4096 })
	hello := connectSpec{id: "fuzz", clean: true, will: &Message{Topic: "w", Payload: []byte("x")}}.packet()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		b.conns.Add(1)
		c := b.newConn(server)
		b.mu.Lock()
		b.open++ // as admit counts it
		b.all[c] = struct{}{}
		b.mu.Unlock()
		served := make(chan struct{})
		go func() {
			defer close(served)
			b.serveConn(c)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := client.Write(hello); err != nil {
			t.Fatalf("CONNECT not read: %v", err)
		}
		if _, err := client.Write(data); err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, io.EOF) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the broker stopped reading without closing the connection")
			}
		}
		client.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end after the client closed")
		}
	})
}

// FuzzBroker_EpollClientBytes is FuzzBroker_ClientBytes over real
// loopback sockets, so that the epoll reader (the one Linux uses) takes
// the bytes: the connection must end once the client closes, and the
// broker must go on serving.
func FuzzBroker_EpollClientBytes(f *testing.F) {
	for _, p := range packetSeeds {
		f.Add(p)
	}
	f.Add(bytes.Join(packetSeeds[3:], nil))
	b, _ := start(f, func(o *Options) { o.MaxPacket = 4096 })
	hello := connectSpec{id: "fuzz", clean: true, will: &Message{Topic: "w", Payload: []byte("x")}}.packet()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		// Whatever the broker writes is read and thrown away, until it
		// closes the connection.
		ended := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, c)
			ended <- err
		}()
		_, _ = c.Write(hello)
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
		if err := <-ended; err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the broker kept the connection open 5 s after the client closed its side")
			}
		}
		eventually(t, "the connection ended", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.open == 0
		})
	})
}
