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
