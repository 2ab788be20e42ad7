package mqtt

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

// ackConn is a connection whose publishes are acknowledged only when
// their token is waited for, so the queries in flight can be counted.
type ackConn struct {
	mu                   sync.Mutex
	open                 bool
	closeAfter           int // publishes after which the connection drops; 0: never
	sent, inFlight, most int
}

type ackToken struct {
	c    *ackConn
	once sync.Once
}

func (t *ackToken) ack() {
	t.once.Do(func() {
		t.c.mu.Lock()
		t.c.inFlight--
		t.c.mu.Unlock()
	})
}
func (t *ackToken) Wait() bool                       { t.ack(); return true }
func (t *ackToken) WaitTimeout(_ time.Duration) bool { t.ack(); return true }
func (t *ackToken) Done() <-chan struct{}            { t.ack(); return closedChan }
func (t *ackToken) Error() error                     { return nil }

func (c *ackConn) Publish(string, byte, bool, any) paho.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	c.inFlight++
	c.most = max(c.most, c.inFlight)
	if c.closeAfter > 0 && c.sent >= c.closeAfter {
		c.open = false
	}
	return &ackToken{c: c}
}
func (c *ackConn) Connect() paho.Token { return doneToken{} }
func (c *ackConn) IsConnectionOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}
func (c *ackConn) SubscribeMultiple(map[string]byte, paho.MessageHandler) paho.Token {
	return doneToken{}
}
func (c *ackConn) Unsubscribe(...string) paho.Token { return doneToken{} }
func (c *ackConn) Disconnect(uint)                  {}

func tasmotaDevices(n int) []hub.Device {
	devs := make([]hub.Device, n)
	for i := range devs {
		devs[i] = hub.Device{ID: fmt.Sprint("t", i), Kind: hub.KindSocket, Driver: DriverName,
			Address: DialectTasmota + ":" + fmt.Sprint("tas", i), Fields: hub.Fields(hub.FieldOn)}
	}
	return devs
}

// Asking many devices at once keeps at most askWindow queries (and one
// device's few more) in flight, and asks every device.
func TestAskAll_BoundsQueriesInFlight(t *testing.T) {
	var rep reports
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: tasmotaDevices(3 * askWindow)})
	if err != nil {
		t.Fatal(err)
	}
	devs := d.tab.Load().devs
	perDevice := len(d.query(devs[0])) + len(d.identify(devs[0]))
	c := &ackConn{open: true}
	d.askAll(c, devs)
	if want := perDevice * len(devs); c.sent != want {
		t.Errorf("%d queries sent, want %d (%d devices, %d each)", c.sent, want, len(devs), perDevice)
	}
	if c.most > askWindow+perDevice || c.most < askWindow {
		t.Errorf("%d queries in flight at most, want %d..%d", c.most, askWindow, askWindow+perDevice)
	}
}

// When the connection drops while devices are being asked, the asking
// stops at the end of the window (the next connect asks them all).
func TestAskAll_StopsWhenTheConnectionCloses(t *testing.T) {
	var rep reports
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply, Devices: tasmotaDevices(3 * askWindow)})
	if err != nil {
		t.Fatal(err)
	}
	c := &ackConn{open: true, closeAfter: 10}
	d.askAll(c, d.tab.Load().devs)
	if c.sent > askWindow+8 {
		t.Errorf("%d queries sent on a connection that closed after 10", c.sent)
	}
}
