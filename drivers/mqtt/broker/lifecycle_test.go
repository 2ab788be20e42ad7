package broker

import (
	"testing"
	"time"
)

// closeWithin fails the test when b.Close takes longer than d.
func closeWithin(t *testing.T, b *Broker, d time.Duration) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
}

// A broker that was made and never served still closes (a daemon that
// fails to start after binding its broker).
func TestBroker_Close_WithoutServe(t *testing.T) {
	b, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: *goroutineReader})
	if err != nil {
		t.Fatal(err)
	}
	closeWithin(t, b, 5*time.Second)
}
