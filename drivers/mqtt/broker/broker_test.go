package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pahoClient connects a paho client (a real, independent MQTT client).
func pahoClient(t testing.TB, b *Broker, id string, edit func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

type got struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

// collect subscribes c to filter at qos and returns a channel of what
// arrives.
func collect(t testing.TB, c paho.Client, filter string, qos byte) chan got {
	t.Helper()
	ch := make(chan got, 1024)
	tok := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		ch <- got{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func wait(t testing.TB, ch chan got) got {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
	}
	return got{}
}

func quiet(t testing.TB, ch chan got, what string) {
	t.Helper()
	select {
	case g := <-ch:
		t.Fatalf("%s: got %+v", what, g)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestBroker_PublishSubscribe_DeliversAtTheLowerQoS(t *testing.T) {
	b, _ := start(t, nil)
	sub1 := pahoClient(t, b, "sub1", nil)
	sub0 := pahoClient(t, b, "sub0", nil)
	pub := pahoClient(t, b, "pub", nil)
	at1 := collect(t, sub1, "tele/+/STATE", 1)
	at0 := collect(t, sub0, "tele/#", 0)
	if tok := pub.Publish("tele/lamp-1/STATE", 1, false, `{"POWER":"ON"}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if g := wait(t, at1); g != (got{"tele/lamp-1/STATE", `{"POWER":"ON"}`, 1, false}) {
		t.Errorf("QoS 1 subscriber got %+v", g)
	}
	if g := wait(t, at0); g != (got{"tele/lamp-1/STATE", `{"POWER":"ON"}`, 0, false}) {
		t.Errorf("QoS 0 subscriber got %+v", g)
	}
	pub.Publish("cmnd/lamp-1/POWER", 0, false, "OFF").Wait()
	quiet(t, at1, "a topic outside the filter")
	if st := b.Stats(); st.Clients != 3 || st.Received != 2 || st.Sent != 2 {
		t.Errorf("stats %+v, want 3 clients, 2 received, 2 sent", st)
	}
}

func TestBroker_Retained_ReplayedFlaggedAndDeletedByEmptyPayload(t *testing.T) {
	b, _ := start(t, nil)
	pub := pahoClient(t, b, "pub", nil)
	pub.Publish("shellies/s1/online", 1, true, "true").Wait()
	pub.Publish("shellies/s2/online", 0, true, "false").Wait()
	pub.Publish("$SYS/uptime", 0, true, "5").Wait()

	sub := pahoClient(t, b, "sub", nil)
	ch := collect(t, sub, "shellies/+/online", 1)
	seen := map[string]got{}
	for range 2 {
		g := wait(t, ch)
		seen[g.topic] = g
	}
	if g := seen["shellies/s1/online"]; g != (got{"shellies/s1/online", "true", 1, true}) {
		t.Errorf("s1 replay %+v", g)
	}
	if g := seen["shellies/s2/online"]; g != (got{"shellies/s2/online", "false", 0, true}) {
		t.Errorf("s2 replay %+v", g)
	}
	// Live messages lose the flag, even when retained.
	pub.Publish("shellies/s1/online", 1, true, "false").Wait()
	if g := wait(t, ch); g.retained || g.payload != "false" {
		t.Errorf("live retained message arrived as %+v", g)
	}
	pub.Publish("shellies/s1/online", 1, true, "").Wait()
	wait(t, ch) // the empty message itself is delivered
	if ms := b.Retained("shellies/#"); len(ms) != 1 || ms[0].Topic != "shellies/s2/online" {
		t.Errorf("after deleting s1, retained %+v", ms)
	}
	// '#' does not reach $ topics; an explicit $ filter does.
	all := collect(t, pahoClient(t, b, "all", nil), "#", 0)
	for range 1 {
		if g := wait(t, all); strings.HasPrefix(g.topic, "$") {
			t.Errorf("'#' replayed %s", g.topic)
		}
	}
	quiet(t, all, "'#' after the one non-$ retained message")
	sys := collect(t, pahoClient(t, b, "sys", nil), "$SYS/#", 0)
	if g := wait(t, sys); g.topic != "$SYS/uptime" {
		t.Errorf("$SYS/# got %+v", g)
	}
}

func TestMatches_FollowsTheWildcardRules(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b", "a", false},
		{"$SYS/x", "$SYS/x", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "/a", true},
		{"+/+", "/a", true},
		{"/+", "/a", true},
		{"+", "/a", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"zigbee2mqtt/#", "zigbee2mqtt/bridge/devices", true},
	}
	for _, tc := range cases {
		if got := Matches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Matches(%q, %q) = %v", tc.filter, tc.topic, got)
		}
		// The subscription tree must agree with Matches.
		var n tree
		s := &session{}
		n.add(tc.filter, sub{s: s})
		n.add(tc.filter, sub{s: s}) // the same grant again: one subscription
		if got := len(n.match(tc.topic, nil)) == 1; got != tc.want {
			t.Errorf("tree: %q on %q = %v", tc.filter, tc.topic, got)
		}
		if n.n != 1 {
			t.Errorf("tree: %q counted as %d subscriptions, want 1", tc.filter, n.n)
		}
		n.remove(tc.filter, sub{s: &session{}}) // not a subscriber
		n.remove(tc.filter, sub{s: s})
		if n.n != 0 || !n.root.bare() || len(n.one)+len(n.many) != 0 {
			t.Errorf("tree: removing %q left %d subscriptions, %+v, %v and %v", tc.filter, n.n, n.root, n.one, n.many)
		}
	}
}

func TestValidFilter_RefusesMisplacedWildcards(t *testing.T) {
	for _, f := range []string{"a/#/b", "a#", "a/b+", "+a", "", "a\x00b", "\xff"} {
		if ValidFilter(f) == nil {
			t.Errorf("filter %q accepted", f)
		}
	}
	for _, f := range []string{"#", "+", "a/+/b/#", "/", "+/+", "$SYS/#"} {
		if err := ValidFilter(f); err != nil {
			t.Errorf("filter %q: %v", f, err)
		}
	}
	for _, topic := range []string{"a/+", "#", ""} {
		if ValidTopic(topic) == nil {
			t.Errorf("topic %q accepted", topic)
		}
	}
}

func TestBroker_Will_OnAbruptEndButNotOnDisconnect(t *testing.T) {
	b, _ := start(t, nil)
	watch := collect(t, pahoClient(t, b, "watch", nil), "tele/+/LWT", 1)

	r := dial(t, b)
	if _, code := r.connect(connectSpec{id: "lamp", clean: true, will: &Message{Topic: "tele/lamp/LWT", Payload: []byte("Offline"), QoS: 1, Retain: true}}); code != 0 {
		t.Fatalf("CONNACK code %d", code)
	}
	r.c.Close()
	if g := wait(t, watch); g != (got{"tele/lamp/LWT", "Offline", 1, false}) {
		t.Errorf("will %+v", g)
	}
	if ms := b.Retained("tele/lamp/LWT"); len(ms) != 1 || string(ms[0].Payload) != "Offline" {
		t.Errorf("retained will %+v", ms)
	}

	polite := pahoClient(t, b, "polite", func(o *paho.ClientOptions) { o.SetWill("tele/polite/LWT", "Offline", 1, false) })
	polite.Disconnect(100)
	quiet(t, watch, "will after DISCONNECT")
}

func TestBroker_KeepAlive_ClosesASilentClientAndPublishesItsWill(t *testing.T) {
	b, logs := start(t, nil)
	watch := collect(t, pahoClient(t, b, "watch", nil), "gone", 0)
	r := dial(t, b)
	r.connect(connectSpec{id: "mute", clean: true, keepAlive: 1, will: &Message{Topic: "gone", Payload: []byte("mute")}})
	began := time.Now()
	r.closed()
	if d := time.Since(began); d < time.Second || d > 3*time.Second {
		t.Errorf("closed after %v, want about 1.5 s", d)
	}
	if g := wait(t, watch); g.payload != "mute" {
		t.Errorf("will %+v", g)
	}
	eventually(t, "a log line saying why", func() bool { return strings.Contains(logs.String(), "keep-alive expired") }, logs)
	// A client that pings stays.
	p := dial(t, b)
	p.connect(connectSpec{id: "pinger", clean: true, keepAlive: 1})
	for range 4 {
		time.Sleep(500 * time.Millisecond)
		p.send([]byte{0xc0, 0})
		if h, _ := p.next(); h != 0xd0 {
			t.Fatalf("want PINGRESP, got %#02x", h)
		}
	}
}

func TestBroker_Takeover_ClosesTheOldConnectionAndPublishesItsWillFirst(t *testing.T) {
	b, _ := start(t, nil)
	var mu sync.Mutex
	var order []string
	l := b.NewLocal(func(topic string, p []byte) {
		mu.Lock()
		order = append(order, string(p))
		mu.Unlock()
	})
	if err := l.Subscribe("avail/dev"); err != nil {
		t.Fatal(err)
	}
	old := dial(t, b)
	old.connect(connectSpec{id: "dev", clean: true, will: &Message{Topic: "avail/dev", Payload: []byte("offline")}})
	fresh := dial(t, b)
	if present, code := fresh.connect(connectSpec{id: "dev", clean: true}); code != 0 || present {
		t.Fatalf("takeover CONNACK present=%v code=%d", present, code)
	}
	fresh.send(publishPacket("avail/dev", "online", 0, false, 0))
	old.closed()
	eventually(t, "two availability messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 2
	})
	if fmt.Sprint(order) != "[offline online]" {
		t.Errorf("order %v: the old will must come before the new connection's messages", order)
	}
	if st := b.Stats(); st.Clients != 1 {
		t.Errorf("clients %d after takeover", st.Clients)
	}
}

func TestBroker_PersistentSession_KeepsSubscriptionsAndQueuedQoS1(t *testing.T) {
	b, _ := start(t, nil)
	pub := pahoClient(t, b, "pub", nil)

	r := dial(t, b)
	if present, _ := r.connect(connectSpec{id: "socket", clean: false}); present {
		t.Fatal("a new session reported as present")
	}
	r.send(subscribePacket(1, 1, "cmnd/socket/#"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 1, 1}) {
		t.Fatalf("SUBACK %#02x % x", h, body)
	}
	pub.Publish("cmnd/socket/POWER", 1, false, "ON").Wait()
	p := r.readPublish() // not acknowledged: must come again
	r.c.Close()
	eventually(t, "the client gone", func() bool { return b.Stats().Clients == 1 })
	pub.Publish("cmnd/socket/POWER", 1, false, "OFF").Wait()
	pub.Publish("cmnd/socket/POWER", 0, false, "lost").Wait() // QoS 0 is not kept
	pub.Publish("sync", 1, false, "").Wait()                  // the broker has routed "lost"

	r = dial(t, b)
	if present, code := r.connect(connectSpec{id: "socket", clean: false}); !present || code != 0 {
		t.Fatalf("resume: present=%v code=%d", present, code)
	}
	again := r.readPublish()
	if !again.dup || again.pid != p.pid || string(again.msg.Payload) != "ON" {
		t.Errorf("unacknowledged message resent as %+v (first %+v)", again, p)
	}
	r.send([]byte{0x40, 2, byte(again.pid >> 8), byte(again.pid)})
	queued := r.readPublish()
	if string(queued.msg.Payload) != "OFF" || queued.dup {
		t.Errorf("queued message %+v", queued)
	}
	r.send([]byte{0x40, 2, byte(queued.pid >> 8), byte(queued.pid)})
	if h, body, err := r.tryNext(200 * time.Millisecond); err == nil {
		t.Errorf("a QoS 0 message was kept for an absent client: %#02x % x", h, body)
	}
	// A clean start drops the session.
	r.c.Close()
	eventually(t, "the client gone", func() bool { return b.Stats().Clients == 1 })
	r = dial(t, b)
	if present, _ := r.connect(connectSpec{id: "socket", clean: true}); present {
		t.Error("a clean session reported the old one as present")
	}
	pub.Publish("cmnd/socket/POWER", 1, false, "ON").Wait()
	if _, _, err := r.tryNext(200 * time.Millisecond); err == nil {
		t.Error("the clean session kept the old subscription")
	}
}

func TestBroker_Authenticate_RefusesWithTheRightCode(t *testing.T) {
	b, logs := start(t, func(o *Options) {
		o.Authenticate = func(c Client, pass []byte) bool { return c.Username == "dev" && string(pass) == "secret" }
	})
	cases := []struct {
		spec connectSpec
		code byte
	}{
		{connectSpec{id: "a", clean: true, user: "dev", pass: "secret"}, 0},
		{connectSpec{id: "b", clean: true, user: "dev", pass: "wrong"}, 4},
		{connectSpec{id: "c", clean: true}, 5},
		{connectSpec{id: "", clean: false, user: "dev", pass: "secret"}, 2},
		{connectSpec{id: "d", clean: true, level: 5}, 1},
		{connectSpec{id: "e", clean: true, level: 3, user: "dev", pass: "secret"}, 0},
	}
	for _, tc := range cases {
		r := dial(t, b)
		if _, code := r.connect(tc.spec); code != tc.code {
			t.Errorf("%+v: CONNACK code %d, want %d", tc.spec, code, tc.code)
		}
		if tc.code != 0 {
			r.closed()
		}
	}
	// The refused connection's end is logged after its socket is closed.
	eventually(t, "a log line saying why", func() bool { return strings.Contains(logs.String(), "bad user name or password") }, logs)
	// It says who the client said it was, though it never had a session.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "bad user name or password") && (!strings.Contains(line, " client=b ") || !strings.Contains(line, " user=dev ")) {
			t.Errorf("the refusal's log line does not name the client and its user: %s", line)
		}
	}
	if strings.Contains(logs.String(), "wrong") {
		t.Errorf("the log must never show the password:\n%s", logs)
	}
	// paho sees the refusal too.
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetUsername("dev").SetPassword("nope"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() == nil {
		t.Error("paho connected with a wrong password")
	}
}

func TestBroker_CanPublish_DropsRefusedMessagesAndWills(t *testing.T) {
	b, logs := start(t, func(o *Options) {
		o.CanPublish = func(c Client, topic string) bool { return !strings.HasPrefix(topic, "hubd/") || c.ID == "hub" }
	})
	watch := collect(t, pahoClient(t, b, "watch", nil), "hubd/#", 1)
	dev := pahoClient(t, b, "dev", nil)
	if tok := dev.Publish("hubd/x/availability", 1, true, "offline"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("a refused QoS 1 publish must still be acknowledged: %v", tok.Error())
	}
	quiet(t, watch, "a refused publish")
	if len(b.Retained("hubd/#")) != 0 {
		t.Error("a refused publish was retained")
	}
	pahoClient(t, b, "hub", nil).Publish("hubd/x/availability", 1, false, "online").Wait()
	if g := wait(t, watch); g.payload != "online" {
		t.Errorf("allowed publish %+v", g)
	}
	r := dial(t, b)
	if _, code := r.connect(connectSpec{id: "sly", clean: true, will: &Message{Topic: "hubd/x/availability", Payload: []byte("offline")}}); code != 5 {
		t.Errorf("a will on a refused topic: CONNACK %d, want 5", code)
	}
	if !strings.Contains(logs.String(), "may not publish") {
		t.Errorf("no log of the refused publish:\n%s", logs)
	}
}

func TestBroker_QoS2Publish_DeliveredOnce(t *testing.T) {
	b, _ := start(t, nil)
	ch := collect(t, pahoClient(t, b, "sub", nil), "z/#", 1)
	r := dial(t, b)
	r.connect(connectSpec{id: "q2", clean: true})
	p := publishPacket("z/1", "once", 2, false, 7)
	r.send(p)
	if h, body := r.next(); h != 0x50 || !bytes.Equal(body, []byte{0, 7}) {
		t.Fatalf("want PUBREC 7, got %#02x % x", h, body)
	}
	p[0] |= 0x08 // the same message again, flagged as a duplicate
	r.send(p)
	if h, _ := r.next(); h != 0x50 {
		t.Fatalf("want PUBREC, got %#02x", h)
	}
	r.send([]byte{0x62, 2, 0, 7})
	if h, body := r.next(); h != 0x70 || !bytes.Equal(body, []byte{0, 7}) {
		t.Fatalf("want PUBCOMP 7, got %#02x % x", h, body)
	}
	if g := wait(t, ch); g.payload != "once" || g.qos != 1 {
		t.Errorf("got %+v", g)
	}
	quiet(t, ch, "the duplicate")
	// paho's QoS 2 completes its handshake.
	if tok := pahoClient(t, b, "p2", nil).Publish("z/2", 2, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("paho QoS 2: %v", tok.Error())
	}
	wait(t, ch)
}

func TestBroker_Local_GetsEachMessageOnceAndStopsOnClose(t *testing.T) {
	b, _ := start(t, nil)
	var mu sync.Mutex
	var seen []string
	l := b.NewLocal(func(topic string, p []byte) {
		mu.Lock()
		seen = append(seen, topic+"="+string(p))
		mu.Unlock()
	})
	for _, f := range []string{"tele/#", "tele/+/STATE", "tele/lamp/STATE"} {
		if err := l.Subscribe(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Subscribe("bad/#/x"); err == nil {
		t.Error("a bad filter was taken")
	}
	if err := b.Publish("tele/lamp/STATE", []byte("1"), false, 0); err != nil {
		t.Fatal(err)
	}
	pahoClient(t, b, "dev", nil).Publish("tele/lamp/STATE", 1, false, "2").Wait()
	eventually(t, "two messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 2 })
	l.Unsubscribe("tele/#")
	l.Close()
	// Publish hands a message to Local subscribers before it returns, so
	// a closed one that still got it would show it now.
	b.Publish("tele/lamp/STATE", []byte("3"), false, 0)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[tele/lamp/STATE=1 tele/lamp/STATE=2]" {
		t.Errorf("seen %v", seen)
	}
	if err := b.Publish("a/+", nil, false, 0); err == nil {
		t.Error("published on a wildcard topic")
	}
}

func TestBroker_SlowSubscriber_DropsForItAloneAndCounts(t *testing.T) {
	const queue = 64
	b, _ := start(t, func(o *Options) { o.QueueLen = queue })
	stuck := dial(t, b)
	stuck.connect(connectSpec{id: "stuck", clean: true})
	stuck.send(subscribePacket(1, 1, "flood/#"))
	stuck.next() // SUBACK; from now on it acknowledges nothing
	// At QoS 0, as paho may hold back its PUBACKs.
	fast := collect(t, pahoClient(t, b, "fast", nil), "flood/#", 0)
	pub := pahoClient(t, b, "pub", nil)
	const n = 200
	for i := range n {
		if tok := pub.Publish(fmt.Sprintf("flood/%d", i), 1, false, "x"); !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("publish %d not acknowledged: the stuck client held the publisher up", i)
		}
		select {
		case g := <-fast:
			if g.topic != fmt.Sprintf("flood/%d", i) {
				t.Fatalf("message %d: %s (stats %+v)", i, g.topic, b.Stats())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d did not arrive (stats %+v)", i, b.Stats())
		}
	}
	if st := b.Stats(); st.Dropped != n-queue {
		t.Errorf("dropped %d, want %d: the stuck client's queue is full after %d", st.Dropped, n-queue, queue)
	}
}

func TestBroker_BadInput_ClosesTheConnectionAndSaysWhy(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.MaxPacket = 1024; o.ConnectTimeout = 300 * time.Millisecond })
	good := connectSpec{id: "x", clean: true}.packet()
	cases := []struct {
		name, send, log string
	}{
		{"publish before connect", string(publishPacket("a", "b", 0, false, 0)), "first packet is PUBLISH"},
		{"not mqtt", "GET / HTTP/1.1\r\n\r\n", "first packet is PUBACK (0x47)"},
		{"oversize connect", string(append([]byte{0x10, 0xff, 0xff, 0x03}, make([]byte, 64)...)), "packet too large: CONNECT of 65535 bytes"},
		{"length of five bytes", "\x10\xff\xff\xff\xff\x01", "remaining length longer than 4 bytes"},
		{"truncated connect", string(good[:len(good)-2]), "no CONNECT within"},
		{"reserved flag", string(packet(0x10, append(appendStr(nil, "MQTT"), 4, 0x01, 0, 0, 0, 0))), "reserved connect flag"},
		{"wrong protocol", string(packet(0x10, append(appendStr(nil, "HTTP"), 4, 0x02, 0, 0, 0, 0))), "is not MQTT"},
		{"oversize publish", string(good) + "\x30\x80\x10", "PUBLISH of 2048 bytes (limit 1024)"},
		{"publish on a wildcard", string(good) + string(publishPacket("a/#", "b", 0, false, 0)), "holds a wildcard"},
		{"qos 3", string(good) + "\x36\x05\x00\x01a\x00\x01", "QoS 3"},
		{"second connect", string(good) + string(good), "unexpected CONNECT"},
		{"subscribe with bad flags", string(good) + "\x80\x06\x00\x01\x00\x01a\x00", "unexpected SUBSCRIBE"},
		{"subscribe without filters", string(good) + "\x82\x02\x00\x01", "no topic filter"},
		{"subscribe qos 3", string(good) + "\x82\x06\x00\x01\x00\x01a\x03", "requested QoS"},
		{"string past the end", string(good) + "\x82\x06\x00\x01\x00\x09a\x01", "truncated"},
		{"not utf-8", string(good) + "\x30\x05\x00\x02\xff\xfex", "not UTF-8"},
		{"nul in topic", string(good) + "\x30\x05\x00\x02a\x00x", "U+0000"},
		{"packet id 0", string(good) + "\x32\x05\x00\x01a\x00\x00", "packet id 0"},
		{"cut mid-packet", "\x30\x10\x00\x01", "connection closed in the middle of a packet"},
		{"tls on the plain port", "\x16\x03\x01\x00\x05hello", "a TLS handshake"},
		{"connect with flags", "\x12\x00", "CONNECT with reserved flags set (0x12)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dial(t, b)
			if tc.name == "cut mid-packet" {
				r.connect(connectSpec{id: "cut", clean: true})
				r.send([]byte(tc.send))
				r.c.(*net.TCPConn).CloseWrite()
			} else {
				r.send([]byte(tc.send))
			}
			if tc.name == "cut mid-packet" {
				r.closed()
			} else {
				r.closed()
			}
			eventually(t, "the log line "+tc.log, func() bool { return strings.Contains(logs.String(), tc.log) }, logs)
		})
	}
	// A filter that breaks the wildcard rules is refused alone.
	r := dial(t, b)
	r.connect(connectSpec{id: "mixed", clean: true})
	r.send(subscribePacket(9, 1, "ok/#", "bad/#/x"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 9, 1, 0x80}) {
		t.Errorf("SUBACK %#02x % x, want 00 09 01 80", h, body)
	}
	// The broker still serves.
	pahoClient(t, b, "after", nil)
	eventually(t, fmt.Sprintf("%d refusals counted", len(cases)), func() bool { return b.Stats().Refused >= uint64(len(cases)) })
}

func TestBroker_Close_EndsEveryConnectionWithoutWills(t *testing.T) {
	b, err := New(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve() }()
	var wills int
	var mu sync.Mutex
	l := b.NewLocal(func(string, []byte) { mu.Lock(); wills++; mu.Unlock() })
	l.Subscribe("will/#")
	var rs []*rawClient
	for i := range 10 {
		r := dial(t, b)
		r.connect(connectSpec{id: fmt.Sprint("c", i), clean: i%2 == 0, will: &Message{Topic: "will/x", Payload: []byte("w")}})
		rs = append(rs, r)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
	for _, r := range rs {
		r.closed()
	}
	if wills != 0 {
		t.Errorf("%d wills published while closing", wills)
	}
	if err := b.Publish("x", nil, false, 0); err != ErrClosed {
		t.Errorf("publish after close: %v", err)
	}
}

// Mosquitto's command-line clients (another MQTT implementation) work
// against the broker: retained and live messages at QoS 1, and a login.
func TestBroker_MosquittoClients_PublishAndSubscribe(t *testing.T) {
	sub, pub := mosquittoClients(t)
	b, _ := start(t, func(o *Options) {
		o.Authenticate = func(c Client, pass []byte) bool { return c.Username == "dev" && string(pass) == "pw" }
	})
	host, port, _ := net.SplitHostPort(b.Addr())
	args := func(extra ...string) []string {
		return append([]string{"-h", host, "-p", port, "-u", "dev", "-P", "pw", "-V", "mqttv311"}, extra...)
	}
	if out, err := exec.Command(pub, args("-t", "stat/lamp/POWER", "-m", "ON", "-r", "-q", "1")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	cmd := exec.Command(sub, args("-t", "stat/#", "-q", "1", "-v", "-C", "3", "-W", "10")...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mosquitto_sub subscribed", func() bool { return b.Stats().Clients == 1 && len(b.Retained("#")) == 1 && subscribed(b, "stat/#") })
	for _, m := range []string{"OFF", "ON"} {
		if out, err := exec.Command(pub, args("-t", "stat/lamp/POWER", "-m", m, "-q", "1")...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, stdout.String())
	}
	if got, want := stdout.String(), "stat/lamp/POWER ON\nstat/lamp/POWER OFF\nstat/lamp/POWER ON\n"; got != want {
		t.Errorf("mosquitto_sub printed %q, want %q", got, want)
	}
	if out, err := exec.Command(pub, append(args("-t", "x", "-m", "y"), "-P", "wrong")...).CombinedOutput(); err == nil {
		t.Errorf("mosquitto_pub with a wrong password succeeded: %s", out)
	}
}

// mosquittoClients finds mosquitto_sub and mosquitto_pub, or skips t.
func mosquittoClients(t *testing.T) (sub, pub string) {
	t.Helper()
	var paths [2]string
	for i, name := range []string{"mosquitto_sub", "mosquitto_pub"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skip(name + " not installed: apt-get install -y mosquitto-clients")
		}
		paths[i] = p
	}
	return paths[0], paths[1]
}

// subscribed reports whether some client holds filter.
func subscribed(b *Broker, filter string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.sessions {
		s.mu.Lock()
		ok := s.subs.has(filter)
		s.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// A packet may come a byte at a time, several may come in one write, and
// a large one spans many reads.
func TestBroker_PacketsInPieces_Reassembled(t *testing.T) {
	b, _ := start(t, nil)
	ch := collect(t, pahoClient(t, b, "sub", nil), "pieces/#", 1)
	r := dial(t, b)
	hello := connectSpec{id: "slow", clean: true}.packet()
	for i := range hello {
		r.send(hello[i : i+1])
		time.Sleep(time.Millisecond)
	}
	if h, _ := r.next(); h != 0x20 {
		t.Fatalf("want CONNACK, got %#02x", h)
	}
	one := publishPacket("pieces/a", "first", 1, false, 1)
	for i := range one {
		r.send(one[i : i+1])
	}
	big := strings.Repeat("0123456789", 20_000)
	two := append(publishPacket("pieces/b", "second", 0, false, 0), publishPacket("pieces/c", big, 0, false, 0)...)
	r.send(two)
	for _, want := range []string{"first", "second", big} {
		if g := wait(t, ch); g.payload != want {
			t.Fatalf("got %.40q (%d bytes), want %.40q", g.payload, len(g.payload), want)
		}
	}
	if h, body := r.next(); h != 0x40 || !bytes.Equal(body, []byte{0, 1}) {
		t.Errorf("want PUBACK 1, got %#02x % x", h, body)
	}
}

// Close does not wait for a connection that never sent CONNECT.
func TestBroker_Close_DoesNotWaitForSilentConnections(t *testing.T) {
	b, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: *goroutineReader})
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve()
	r := dial(t, b)
	r.send([]byte{0x10}) // the start of a CONNECT, and nothing more
	eventually(t, "the connection accepted", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.open == 1
	})
	began := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	r.closed()
}

// MQTT 3.1 has no session-present flag: the first CONNACK byte is
// reserved, so a 3.1 client resuming its session is sent 0 there.
func TestBroker_MQTT31_ConnackHasNoSessionPresent(t *testing.T) {
	b, _ := start(t, nil)
	for i, want := range []bool{false, false} {
		r := dial(t, b)
		if present, code := r.connect(connectSpec{id: "old-device", level: 3}); present != want || code != 0 {
			t.Errorf("connection %d: present=%v code=%d", i, present, code)
		}
		r.c.Close()
		eventually(t, "the client gone", func() bool { return b.Stats().Clients == 0 })
	}
	r := dial(t, b)
	if present, _ := r.connect(connectSpec{id: "old-device", level: 4}); !present {
		t.Error("the session a 3.1 client left is not present for 3.1.1")
	}
}

// A will is kept for the connection's life: it must not keep the CONNECT
// packet it came in (and the password in it) alive with it.
func TestParseConnect_WillDoesNotHoldThePacket(t *testing.T) {
	whole := connectSpec{id: "w", will: &Message{Topic: "a/b", Payload: []byte("gone"), QoS: 1}, user: "u", pass: "secret"}.packet()
	r := bufio.NewReader(bytes.NewReader(whole))
	_, body, err := readPacket(r, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := parseConnect(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if string(c.will.Payload) != "gone" || c.will.Topic != "a/b" {
		t.Errorf("the will changed with the packet's bytes: %q on %q", c.will.Payload, c.will.Topic)
	}
}
