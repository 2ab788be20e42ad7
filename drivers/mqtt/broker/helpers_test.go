package broker

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// goroutineReader runs the tests with a reading goroutine per connection
// instead of the epoll reader (make test runs both).
var goroutineReader = flag.Bool("goroutine-reader", false, "read each connection with its own goroutine")

// start runs a broker on a loopback port for the test; edit may change
// its options first. Its log is kept in the returned buffer.
func start(t testing.TB, edit func(*Options)) (*Broker, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o := Options{Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	o.GoroutinePerConn = *goroutineReader
	if edit != nil {
		edit(&o)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve() }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return b, logs
}

// syncBuffer is a bytes.Buffer safe for the broker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawClient speaks MQTT byte by byte, for what a library would not send.
type rawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, b *Broker) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (r *rawClient) send(p []byte) {
	r.t.Helper()
	if _, err := r.c.Write(p); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads one packet within 5 s.
func (r *rawClient) next() (byte, []byte) {
	r.t.Helper()
	h, body, err := r.tryNext(5 * time.Second)
	if err != nil {
		r.t.Fatalf("reading a packet: %v", err)
	}
	return h, body
}

func (r *rawClient) tryNext(d time.Duration) (byte, []byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	return readPacket(r.r, 8<<20)
}

// closed waits for the broker to close the connection.
func (r *rawClient) closed() {
	r.t.Helper()
	for {
		_, _, err := r.tryNext(5 * time.Second)
		var ne net.Error
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
			return
		case errors.As(err, &ne) && ne.Timeout():
			r.t.Fatal("the broker did not close the connection")
		default:
			return // reset
		}
	}
}

// connect sends CONNECT and returns the CONNACK's session-present flag
// and code.
func (r *rawClient) connect(cp connectSpec) (bool, byte) {
	r.t.Helper()
	r.send(cp.packet())
	h, body := r.next()
	if h != 0x20 || len(body) != 2 {
		r.t.Fatalf("want CONNACK, got %#02x % x", h, body)
	}
	return body[0] == 1, body[1]
}

type connectSpec struct {
	id         string
	clean      bool
	keepAlive  uint16
	will       *Message
	user, pass string
	level      byte
}

func appendStr(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}

func (cp connectSpec) packet() []byte {
	level, proto := cp.level, "MQTT"
	if level == 0 {
		level = 4
	}
	if level == 3 {
		proto = "MQIsdp"
	}
	var flags byte
	if cp.clean {
		flags |= 0x02
	}
	var tail []byte
	tail = appendStr(tail, cp.id)
	if cp.will != nil {
		flags |= 0x04 | cp.will.QoS<<3
		if cp.will.Retain {
			flags |= 0x20
		}
		tail = appendStr(tail, cp.will.Topic)
		tail = appendStr(tail, string(cp.will.Payload))
	}
	if cp.user != "" {
		flags |= 0x80
		tail = appendStr(tail, cp.user)
	}
	if cp.pass != "" {
		flags |= 0x40
		tail = appendStr(tail, cp.pass)
	}
	body := appendStr(nil, proto)
	body = append(body, level, flags, byte(cp.keepAlive>>8), byte(cp.keepAlive))
	return packet(0x10, append(body, tail...))
}

func packet(h byte, body []byte) []byte {
	return append(appendLength([]byte{h}, len(body)), body...)
}

func subscribePacket(pid uint16, qos byte, filters ...string) []byte {
	body := []byte{byte(pid >> 8), byte(pid)}
	for _, f := range filters {
		body = append(appendStr(body, f), qos)
	}
	return packet(0x82, body)
}

func publishPacket(topic string, payload string, qos byte, retain bool, pid uint16) []byte {
	return appendPublish(nil, &Message{Topic: topic, Payload: []byte(payload)}, qos, retain, false, pid)
}

// readPublish reads packets until a PUBLISH and returns it parsed.
func (r *rawClient) readPublish() publish {
	r.t.Helper()
	for {
		h, body := r.next()
		if h>>4 != typePublish {
			continue
		}
		p, err := parsePublish(h, body)
		if err != nil {
			r.t.Fatalf("bad PUBLISH from the broker: %v", err)
		}
		return p
	}
}

// eventually polls cond for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool, show ...fmt.Stringer) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	for _, s := range show {
		t.Log(s)
	}
	t.Fatalf("timed out waiting for %s", what)
}
