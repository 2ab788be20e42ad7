package mqtt

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"hubd/drivers/mqtt/broker"
)

// The hub's connection to its embedded broker subscribes one "<level>/#"
// per first topic level, and still hands the driver exactly what exact
// subscriptions would: retained messages of each exact filter once, as
// retained, and live messages once.
func TestInlineConn_GroupsFiltersByFirstLevel(t *testing.T) {
	srv, err := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	type got struct {
		topic, payload string
		retained       bool
	}
	var mu sync.Mutex
	var seen []got
	c := newInlineConn(srv, func(conn) {}, func(topic string, p []byte, retained bool) {
		mu.Lock()
		seen = append(seen, got{topic, string(p), retained})
		mu.Unlock()
	}, true)
	take := func() []got {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
	subs := func() int { return srv.Stats().Subscriptions }
	c.Connect()
	for _, m := range []struct{ topic, payload string }{{"zigbee2mqtt/a/availability", "online"}, {"zigbee2mqtt/b", `{"state":"ON"}`}} {
		if err := srv.Publish(m.topic, []byte(m.payload), true, 1); err != nil {
			t.Fatal(err)
		}
	}

	// 200 exact filters under one first level: one subscription.
	filters := map[string]byte{"$SYS/broker/uptime": 1, "+/x/rpc": 1}
	for i := range 200 {
		filters[fmt.Sprintf("zigbee2mqtt/dev%03d", i)] = 1
	}
	if tok := c.SubscribeMultiple(filters, nil); tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if n := subs(); n != 3 { // zigbee2mqtt/#, and the two that cannot be grouped
		t.Errorf("%d subscriptions in the broker for 200 filters under one level and 2 others, want 3", n)
	}
	if g := take(); len(g) != 0 {
		t.Errorf("retained messages of filters not subscribed were replayed: %v", g)
	}

	// A filter added under the existing group still gets its retained
	// message, once, flagged retained; the group's other one is not sent.
	if tok := c.SubscribeMultiple(map[string]byte{"zigbee2mqtt/a/availability": 1}, nil); tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if g := take(); !slices.Equal(g, []got{{"zigbee2mqtt/a/availability", "online", true}}) {
		t.Errorf("replayed on subscribing under an existing group: %v", g)
	}
	if n := subs(); n != 3 {
		t.Errorf("%d subscriptions after a filter under an existing group, want 3", n)
	}
	// Live: once each, not flagged.
	if err := srv.Publish("zigbee2mqtt/a/availability", []byte("offline"), false, 1); err != nil {
		t.Fatal(err)
	}
	if g := take(); !slices.Equal(g, []got{{"zigbee2mqtt/a/availability", "offline", false}}) {
		t.Errorf("live message: %v", g)
	}

	// Unsubscribing a grouped filter keeps the group while others are
	// under it, and drops it with the last; one subscribed as it is goes.
	c.Unsubscribe("zigbee2mqtt/dev000", "+/x/rpc")
	if n := subs(); n != 2 {
		t.Errorf("%d subscriptions after unsubscribing, want 2", n)
	}
	if err := srv.Publish("zigbee2mqtt/dev005", []byte("still"), false, 1); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 1 || g[0].payload != "still" {
		t.Errorf("a filter left in the group heard %v", g)
	}
	var rest []string
	for i := 1; i < 200; i++ {
		rest = append(rest, fmt.Sprintf("zigbee2mqtt/dev%03d", i))
	}
	c.Unsubscribe(append(rest, "zigbee2mqtt/a/availability")...)
	if n := subs(); n != 1 {
		t.Errorf("%d subscriptions after unsubscribing the group's last filter, want 1 ($SYS)", n)
	}
	if err := srv.Publish("zigbee2mqtt/dev005", []byte("gone"), false, 1); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 0 {
		t.Errorf("a dropped group still delivers: %v", g)
	}
	c.Disconnect(0)
	if n := subs(); n != 0 {
		t.Errorf("%d subscriptions after Disconnect, want 0", n)
	}
	// A new connection starts its groups again.
	c.Connect()
	if tok := c.SubscribeMultiple(map[string]byte{"zigbee2mqtt/dev001": 1}, nil); tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if n := subs(); n != 1 {
		t.Errorf("%d subscriptions after reconnecting with one filter, want 1", n)
	}
}

// Discovery's connection is not grouped: it subscribes what it asks for
// and hears nothing else under the same first level.
func TestInlineConn_UngroupedSubscribesAsAsked(t *testing.T) {
	srv, err := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var mu sync.Mutex
	var heard []string
	c := newInlineConn(srv, func(conn) {}, func(topic string, _ []byte, _ bool) {
		mu.Lock()
		heard = append(heard, topic)
		mu.Unlock()
	}, false)
	c.Connect()
	if tok := c.SubscribeMultiple(map[string]byte{"shellies/announce": 0, "tasmota/discovery/+/config": 0}, nil); tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if n := srv.Stats().Subscriptions; n != 2 {
		t.Errorf("%d subscriptions for 2 filters, want 2", n)
	}
	for _, topic := range []string{"shellies/plug-1/relay/0", "shellies/announce"} {
		if err := srv.Publish(topic, []byte("x"), false, 0); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(heard, []string{"shellies/announce"}) {
		t.Errorf("heard %v, want only shellies/announce", heard)
	}
}
