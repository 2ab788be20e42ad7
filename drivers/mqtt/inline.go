package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/broker"
)

// conn is what the driver needs of its broker connection: a paho client
// for an external broker, an inlineConn for the embedded one.
type conn interface {
	Connect() paho.Token
	IsConnectionOpen() bool
	Publish(topic string, qos byte, retained bool, payload any) paho.Token
	SubscribeMultiple(filters map[string]byte, callback paho.MessageHandler) paho.Token
	Unsubscribe(topics ...string) paho.Token
	Disconnect(quiesce uint)
}

var (
	_ conn = paho.Client(nil)
	_ conn = (*inlineConn)(nil)
)

// errInlineClosed is the error of a publish after Disconnect.
var errInlineClosed = errors.New("mqtt: embedded broker connection closed")

// inlineConn is the hub's connection to its embedded broker: calls into
// the broker (a broker.Local subscriber) instead of a TCP client. A
// device's message reaches receive on the broker goroutine that read it,
// with no queue in between, and nothing is encoded, written and parsed
// again on loopback; receive only routes and queues, so it never holds up
// the broker's reader.
type inlineConn struct {
	srv       *broker.Broker
	local     *broker.Local
	onConnect func(conn)
	// receive gets every message of a subscription; retained is true only
	// for the retained messages a new subscription replays, as a broker
	// tells a network client (live messages lose the flag).
	receive func(topic string, payload []byte, retained bool)

	// grouped: filters are subscribed by their first level (see
	// SubscribeMultiple), for the driver's connection; discovery's few
	// filters are subscribed as they are, so it hears only what it asks.
	grouped bool

	mu   sync.Mutex
	open bool
	// groups counts the filters subscribed under each "<level>/#"; a
	// group is unsubscribed when its last filter is.
	groups map[string]int
}

func newInlineConn(srv *broker.Broker, onConnect func(conn), receive func(string, []byte, bool), grouped bool) *inlineConn {
	c := &inlineConn{srv: srv, onConnect: onConnect, receive: receive, grouped: grouped}
	c.local = srv.NewLocal(c.live)
	return c
}

// Connect opens the connection and runs onConnect in its own goroutine,
// as paho does.
func (c *inlineConn) Connect() paho.Token {
	c.mu.Lock()
	c.open = true
	c.mu.Unlock()
	go c.onConnect(c)
	return doneToken{}
}

func (c *inlineConn) IsConnectionOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Publish hands the message to the broker, which delivers it to the
// subscribers' queues before returning.
func (c *inlineConn) Publish(topic string, qos byte, retained bool, payload any) paho.Token {
	if !c.IsConnectionOpen() {
		return doneToken{errInlineClosed}
	}
	var p []byte
	switch v := payload.(type) {
	case string:
		p = []byte(v)
	case []byte:
		p = v
	default:
		return doneToken{fmt.Errorf("mqtt: publish %s: payload of type %T", topic, payload)}
	}
	if err := c.srv.Publish(topic, p, retained, qos); err != nil {
		return doneToken{fmt.Errorf("mqtt: publish %s: %w", topic, err)}
	}
	return doneToken{}
}

// SubscribeMultiple subscribes every filter (callback is ignored: every
// message goes to receive), then replays the retained messages that
// match it, flagged retained.
//
// The broker's subscription is not the filter itself but "<level>/#" for
// its first level: a hub of 10,000 devices has some 30,000 exact topics
// under a handful of first levels (tele, stat, shellies, zigbee2mqtt, a
// Gen2 device's id), and their subscription tree and filter table cost
// about 1 KB of memory a device. receive routes by the exact topic and
// drops what no device claims, so what reaches the driver is the same;
// the few extra messages (the hub's own commands, devices not in the
// configuration) are dropped there. A filter whose first level is a
// wildcard or starts with '$' is subscribed as it is. Once the driver's
// onConnect has subscribed its table, it subscribes and unsubscribes only
// the difference of each new table, so a group's count never falls below
// the filters under it; a device list set before onConnect ran can leave
// a count too high, which only keeps a group until Disconnect.
func (c *inlineConn) SubscribeMultiple(filters map[string]byte, _ paho.MessageHandler) paho.Token {
	if !c.IsConnectionOpen() {
		return doneToken{errInlineClosed}
	}
	for f := range filters {
		if err := broker.ValidFilter(f); err != nil {
			return doneToken{fmt.Errorf("mqtt: subscribe: %w", err)}
		}
	}
	for f := range filters {
		if err := c.subscribeGroup(f); err != nil {
			return doneToken{fmt.Errorf("mqtt: subscribe: %w", err)}
		}
		for _, m := range c.srv.Retained(f) {
			c.receive(m.Topic, m.Payload, true)
		}
	}
	return doneToken{}
}

// subscribeGroup subscribes the broad filter that covers filter (see
// SubscribeMultiple), once, and counts filter under it.
func (c *inlineConn) subscribeGroup(filter string) error {
	g, ok := c.groupFilter(filter)
	if !ok {
		return c.local.Subscribe(filter)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g] == 0 {
		if err := c.local.Subscribe(g); err != nil {
			return err
		}
		if c.groups == nil {
			c.groups = map[string]int{}
		}
	}
	c.groups[g]++
	return nil
}

// unsubscribeGroup uncounts filter, and drops its group with its last one.
func (c *inlineConn) unsubscribeGroup(g string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch n := c.groups[g]; {
	case n > 1:
		c.groups[g] = n - 1
	case n == 1:
		delete(c.groups, g)
		c.local.Unsubscribe(g)
	}
}

// groupFilter is "<first level>/#" for a filter whose first level is
// plain on a grouped connection; false for one whose first level is a
// wildcard or a '$' topic (which "#" filters never match).
func (c *inlineConn) groupFilter(filter string) (string, bool) {
	if !c.grouped {
		return "", false
	}
	first, _, _ := strings.Cut(filter, "/")
	if first == "+" || first == "#" || strings.HasPrefix(first, "$") {
		return "", false
	}
	return first + "/#", true
}

// live takes a message published while subscribed.
func (c *inlineConn) live(topic string, payload []byte) {
	c.receive(topic, payload, false)
}

// Unsubscribe drops filters; a group (see SubscribeMultiple) goes with
// the last filter under it.
func (c *inlineConn) Unsubscribe(topics ...string) paho.Token {
	for _, f := range topics {
		if g, grouped := c.groupFilter(f); grouped {
			c.unsubscribeGroup(g)
		} else {
			c.local.Unsubscribe(f)
		}
	}
	return doneToken{}
}

// Disconnect closes the connection and drops every subscription.
func (c *inlineConn) Disconnect(uint) {
	c.mu.Lock()
	c.open = false
	c.groups = nil
	c.mu.Unlock()
	c.local.Close()
}

// doneToken is a paho.Token that completed when it was made.
type doneToken struct{ err error }

var _ paho.Token = doneToken{}

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { return closedChan }
func (t doneToken) Error() error                 { return t.err }

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
