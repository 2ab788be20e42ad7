package broker

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Disconnect ends the matching clients only (their wills go out, as for
// a network failure); the others stay connected and keep working.
func TestBroker_Disconnect_EndsOnlyTheMatchingClients(t *testing.T) {
	b, _ := start(t, nil)
	watch := collect(t, pahoClient(t, b, "watch", nil), "gone/#", 1)
	lost := make(chan error, 1)
	victim := pahoClient(t, b, "victim", func(o *paho.ClientOptions) {
		o.SetUsername("revoked").SetWill("gone/victim", "bye", 1, false)
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	other := pahoClient(t, b, "other", func(o *paho.ClientOptions) { o.SetUsername("kept") })
	byUser := func(u string) func(Client) bool { return func(c Client) bool { return c.Username == u } }
	if n := b.Count(byUser("revoked")); n != 1 {
		t.Fatalf("Count before: %d", n)
	}
	if n := b.Disconnect(byUser("revoked")); n != 1 {
		t.Fatalf("Disconnect ended %d clients, want 1", n)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the disconnected client did not lose its connection")
	}
	if g := wait(t, watch); g.topic != "gone/victim" {
		t.Fatalf("will: %+v", g)
	}
	if victim.IsConnectionOpen() {
		t.Fatal("victim still connected")
	}
	if n := b.Count(byUser("revoked")); n != 0 {
		t.Fatalf("Count after: %d", n)
	}
	// The other client is untouched and still delivers.
	if tok := other.Publish("gone/other-alive", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("other publish: %v", tok.Error())
	}
	if g := wait(t, watch); g.topic != "gone/other-alive" {
		t.Fatalf("other: %+v", g)
	}
	if n := b.Disconnect(byUser("nobody")); n != 0 {
		t.Fatalf("Disconnect of nobody: %d", n)
	}
}

// A client id belongs to the user name connected under it: another user
// can neither put that client out nor take over its kept session (with
// its subscriptions and queued messages).
func TestBroker_ClientID_NotTakenByAnotherUser(t *testing.T) {
	b, _ := start(t, nil)
	lost := make(chan error, 1)
	owner := pahoClient(t, b, "dev-1", func(o *paho.ClientOptions) {
		o.SetUsername("lamp").SetCleanSession(false).SetProtocolVersion(4)
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	collect(t, owner, "cmnd/lamp/#", 1)
	// Another user with the same client id is refused; the owner stays.
	thief := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("dev-1").
		SetUsername("plug").SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := thief.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		thief.Disconnect(0)
		t.Fatal("another user took the client id")
	}
	select {
	case err := <-lost:
		t.Fatalf("the owner was put out: %v", err)
	default:
	}
	if !owner.IsConnectionOpen() {
		t.Fatal("owner disconnected")
	}
	// The owner goes away, its session kept with a queued command: the
	// other user can not take that session (nor learn the command), and
	// the owner finds it intact when it comes back.
	owner.Disconnect(50)
	if err := b.Publish("cmnd/lamp/POWER", []byte("ON"), false, 1); err != nil {
		t.Fatal(err)
	}
	thief = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("dev-1").SetUsername("plug").
		SetCleanSession(false).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := thief.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		thief.Disconnect(0)
		t.Fatal("another user took the absent owner's session")
	}
	got := make(chan string, 4)
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("dev-1").SetUsername("lamp").
		SetCleanSession(false).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m.Topic() + " " + string(m.Payload()) })
	back := paho.NewClient(o)
	tok := back.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("the owner coming back: %v", tok.Error())
	}
	defer back.Disconnect(0)
	if !tok.(*paho.ConnectToken).SessionPresent() {
		t.Fatal("the owner's session was not kept")
	}
	select {
	case m := <-got:
		if m != "cmnd/lamp/POWER ON" {
			t.Fatalf("queued: %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued command did not reach the owner")
	}
	// Once it ends its session cleanly the id is anyone's.
	back.Disconnect(50)
	clean := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("dev-1").SetUsername("lamp").
		SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := clean.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("clean reconnect: %v", tok.Error())
	}
	clean.Disconnect(50)
	deadline := time.Now().Add(5 * time.Second)
	for b.Count(func(c Client) bool { return c.ID == "dev-1" }) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the clean session's client still counted")
		}
		time.Sleep(10 * time.Millisecond) // polling the broker's own count
	}
	other := pahoClient(t, b, "dev-1", func(o *paho.ClientOptions) { o.SetUsername("plug").SetProtocolVersion(4) })
	if !other.IsConnectionOpen() {
		t.Fatal("a free id refused")
	}
}
