package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// onlyOwn lets a client subscribe under cmnd/<its id>/ and nowhere else.
func onlyOwn(c Client, filter string) bool {
	return strings.HasPrefix(filter, "cmnd/"+c.ID+"/")
}

// A device that asks for another device's commands, or for everything,
// gets SUBACK 0x80 for those filters, none of their retained messages
// and none of their later messages; its own filter in the same SUBSCRIBE
// is granted and works.
func TestBroker_CanSubscribe_RefusedFilterGetsFailureAndNothing(t *testing.T) {
	b, logs := start(t, func(o *Options) { o.CanSubscribe = onlyOwn })
	if err := b.Publish("cmnd/lamp/POWER", []byte("ON"), true, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("cmnd/plug/POWER", []byte("OFF"), true, 1); err != nil {
		t.Fatal(err)
	}
	r := dial(t, b)
	r.connect(connectSpec{id: "plug", clean: true})
	r.send(subscribePacket(3, 1, "#", "cmnd/lamp/#", "cmnd/plug/#"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 3, 0x80, 0x80, 1}) {
		t.Fatalf("SUBACK %#02x % x, want 00 03 80 80 01", h, body)
	}
	// The one retained message replayed is the plug's own.
	if p := r.readPublish(); p.msg.Topic != "cmnd/plug/POWER" {
		t.Fatalf("replayed %s, want only cmnd/plug/POWER", p.msg.Topic)
	}
	r.send([]byte{0x40, 2, 0, 1})
	// Later messages: the lamp's must not arrive; the plug's, sent after
	// it, is the marker that it would have.
	if err := b.Publish("cmnd/lamp/POWER", []byte("OFF"), false, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("cmnd/plug/POWER", []byte("marker"), false, 0); err != nil {
		t.Fatal(err)
	}
	if p := r.readPublish(); p.msg.Topic != "cmnd/plug/POWER" || string(p.msg.Payload) != "marker" {
		t.Fatalf("got %s %q, want the marker on cmnd/plug/POWER", p.msg.Topic, p.msg.Payload)
	}
	if subscribed(b, "#") || subscribed(b, "cmnd/lamp/#") {
		t.Error("a refused filter is in the subscription tree")
	}
	if !strings.Contains(logs.String(), "may not subscribe") {
		t.Errorf("no log of the refused filter:\n%s", logs)
	}
}

// The party that may subscribe gets through, with a real client: paho's
// subscription is granted and delivers; without the hook (nil) anything
// is allowed.
func TestBroker_CanSubscribe_AllowedFilterGranted(t *testing.T) {
	b, _ := start(t, func(o *Options) { o.CanSubscribe = onlyOwn })
	ch := collect(t, pahoClient(t, b, "lamp", nil), "cmnd/lamp/#", 1)
	if err := b.Publish("cmnd/lamp/POWER", []byte("ON"), false, 1); err != nil {
		t.Fatal(err)
	}
	if g := wait(t, ch); g.topic != "cmnd/lamp/POWER" || g.payload != "ON" {
		t.Errorf("got %+v", g)
	}
	// paho reports a refused filter as a SUBACK of 0x80.
	tok := pahoClient(t, b, "lamp2", nil).Subscribe("cmnd/lamp/#", 1, func(paho.Client, paho.Message) {})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("no SUBACK")
	}
	if q := tok.(*paho.SubscribeToken).Result()["cmnd/lamp/#"]; q != 0x80 {
		t.Errorf("paho sees granted QoS %#x for a refused filter, want 0x80", q)
	}

	open, _ := start(t, nil)
	r := dial(t, open)
	r.connect(connectSpec{id: "any", clean: true})
	r.send(subscribePacket(1, 1, "#"))
	if h, body := r.next(); h != 0x90 || !bytes.Equal(body, []byte{0, 1, 1}) {
		t.Errorf("without CanSubscribe: SUBACK %#02x % x, want 00 01 01", h, body)
	}
}
