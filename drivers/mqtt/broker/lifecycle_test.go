package broker

import (
	"fmt"
	"net"
	"sync"
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

// Close while clients are being accepted and are connecting: every
// connection ends once, Close returns, and (under -race) nothing is
// touched by two goroutines at once.
func TestBroker_Close_WhileClientsArrive(t *testing.T) {
	for round := range 20 {
		b, err := New(Options{Listen: "127.0.0.1:0", GoroutinePerConn: *goroutineReader})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- b.Serve() }()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
					if err != nil {
						continue
					}
					_, _ = c.Write(connectSpec{id: fmt.Sprintf("c%d-%d", g, i%3), clean: i%2 == 0}.packet())
					if i%2 == 0 {
						_ = c.Close()
					} else {
						defer c.Close()
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5+1) * time.Millisecond)
		closeWithin(t, b, 5*time.Second)
		close(stop)
		wg.Wait()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}
