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
	})
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

	// Unsubscribing a grouped filter keeps the group (the driver's routes
	// decide); one subscribed as it is goes.
	c.Unsubscribe("zigbee2mqtt/dev000", "+/x/rpc")
	if n := subs(); n != 2 {
		t.Errorf("%d subscriptions after unsubscribing, want 2", n)
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
