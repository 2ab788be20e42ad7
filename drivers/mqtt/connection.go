package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/url"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/hub"
)

func (d *Driver) clientOptions() (*paho.ClientOptions, error) {
	co := paho.NewClientOptions().
		AddBroker(d.brokerURL).
		SetClientID(d.opts.ClientID).
		SetUsername(d.opts.Username).
		SetPassword(d.opts.Password).
		SetCleanSession(true). // in-flight commands are dropped on reconnect, never replayed
		SetResumeSubs(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(d.opts.ReconnectMax).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(5*time.Second).
		SetOrderMatters(true). // handlers run in order; ours never block
		SetWill(d.avail, "offline", 1, true).
		SetDefaultPublishHandler(d.onMessage).
		SetOnConnectHandler(func(c paho.Client) { d.onConnect(c) }).
		SetConnectionLostHandler(d.onLost).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { d.attempts.Add(1) })
	u, _ := url.Parse(d.brokerURL)
	if u != nil && (u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if d.opts.CAFile != "" {
			pem, err := os.ReadFile(d.opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: read CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: CA file %s holds no PEM certificates", ErrBadOptions, d.opts.CAFile)
			}
			tc.RootCAs = pool
		}
		co.SetTLSConfig(tc)
	}
	return co, nil
}

// onConnect runs in its own goroutine after every (re)connect: subscribe,
// say the hub is online, ask every device for its state.
func (d *Driver) onConnect(c conn) {
	n := d.connects.Add(1)
	d.subMu.Lock()
	defer d.subMu.Unlock()
	t := d.tab.Load()
	if err := d.subscribe(c, t.filters()); err != nil {
		// Usually the connection dropped again (the next connect retries);
		// otherwise the broker refused: say so loudly.
		d.fail("subscribe: " + err.Error())
		d.event("error", "subscribe_failed", err, "MQTT subscribe failed")
		return
	}
	c.Publish(d.avail, 1, true, "online")
	d.msgsOut.Add(1)
	d.setConnected(true, "")
	d.log.Info("connected", "broker", d.brokerURL, "connects", n)
	d.event("info", "broker_connected", nil, fmt.Sprintf("connected to MQTT broker %s", d.brokerAddr))
	d.askAll(c, t.devs)
}

// ask publishes dv's state query and, with identify, the query for what
// the device is. Each publish's token goes to track, when not nil.
func (d *Driver) ask(c conn, dv *device, identify bool, track func(paho.Token)) {
	msgs := d.query(dv)
	if identify {
		msgs = append(msgs, d.identify(dv)...)
	}
	for _, m := range msgs {
		t := c.Publish(m.Topic, 1, false, m.Payload)
		d.msgsOut.Add(1)
		if track != nil {
			track(t)
		}
	}
}

// askWindow bounds the queries in flight while the driver asks many
// devices at once (on connect, and the devices a reload adds): past it,
// it waits for those sent to be acknowledged. Unbounded, 10,000 devices'
// 20,000-30,000 queries sat in the MQTT client's tables at once, and the
// tables keep that size (about 1 MB) for the connection's life.
const askWindow = 256

// askWait is how long askAll waits for a window's acknowledgements; a
// broker that takes longer is slow, and the next window goes anyway.
const askWait = 10 * time.Second

// askAll asks every device of devs for its state and what it is, at most
// askWindow queries in flight at a time. It stops when the connection
// closes: the next connect asks again.
func (d *Driver) askAll(c conn, devs []*device) {
	var window []paho.Token
	track := func(t paho.Token) { window = append(window, t) }
	for _, dv := range devs {
		d.ask(c, dv, true, track)
		if len(window) < askWindow {
			continue
		}
		for _, t := range window {
			t.WaitTimeout(askWait)
		}
		window = window[:0]
		if !c.IsConnectionOpen() {
			return
		}
	}
}

// subscribe makes the subscriptions filters yields, in chunks (a broker
// may cap a packet).
func (d *Driver) subscribe(c conn, filters iter.Seq[string]) error {
	const chunk = 200
	batch := map[string]byte{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t := c.SubscribeMultiple(batch, nil)
		if !t.WaitTimeout(10 * time.Second) {
			return errors.New("timed out")
		}
		batch = map[string]byte{}
		return t.Error()
	}
	for topic := range filters {
		batch[topic] = filtersQoS
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (d *Driver) onLost(_ paho.Client, err error) {
	d.setConnected(false, err.Error())
	d.log.Warn("broker connection lost", "broker", d.brokerURL, "err", err)
	d.event("warn", "broker_lost", err, "MQTT broker connection lost")
	// Nothing can reach the devices now: say so, rather than serve their
	// last state as current. They come back as soon as they answer the
	// query made after the reconnect.
	cause := &hub.Cause{Code: hub.CauseBrokerDown, Params: map[string]string{"broker": d.brokerAddr}, Raw: err.Error()}
	go func() {
		for _, dv := range d.tab.Load().devs {
			d.report(dv, hub.Report{Device: dv.id, Avail: hub.AvailOffline, Cause: cause})
		}
	}()
}

// event tells a technician about the broker connection: code words it on
// the status page, text is the English for logs, err (maybe nil) the raw
// detail.
func (d *Driver) event(level, code string, err error, text string) {
	if d.opts.Events == nil {
		return
	}
	ev := hub.Event{Level: level, Source: DriverName, Code: code, Params: map[string]string{"broker": d.brokerAddr}, Text: text}
	if err != nil {
		ev.Raw = err.Error()
		ev.Text += ": " + ev.Raw
	}
	d.opts.Events(ev)
}

func (d *Driver) setConnected(up bool, errText string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up && !d.connected {
		d.since = time.Now()
	}
	d.connected = up
	if errText != "" {
		d.lastErr = errText
	}
}

func (d *Driver) fail(text string) {
	d.mu.Lock()
	d.lastErr = text
	d.mu.Unlock()
	d.log.Warn(text)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
