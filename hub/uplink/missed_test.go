package uplink_test

import (
	"context"
	"fmt"
	"testing"

	"hubd/hub"
	"hubd/hub/uplink"
)

// gatedQueue is an in-memory Queue whose Append waits for the test: the
// uplink falls behind the hub on purpose.
type gatedQueue struct {
	entered chan struct{} // an Append is waiting
	gate    chan struct{} // closed: Appends go through
	vals    chan []byte
}

func (q *gatedQueue) Append(vals [][]byte) (int, error) {
	select {
	case q.entered <- struct{}{}:
	default:
	}
	<-q.gate
	for _, v := range vals {
		q.vals <- v
	}
	return 0, nil
}
func (q *gatedQueue) Peek(uint64, int) ([]uplink.QueueItem, error) { return nil, nil }
func (q *gatedQueue) Remove(uint64) error                          { return nil }
func (q *gatedQueue) Stats() uplink.QueueStats                     { return uplink.QueueStats{} }

// The bound on the hub subscription bites: while the uplink is stuck
// writing, the hub keeps SubscriptionRoom changes for it and drops (and
// counts) the rest; nothing blocks the hub.
func TestUplink_SubscriptionFull_MissedAreCounted(t *testing.T) {
	h, err := hub.New(testDevices(), nil, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	q := &gatedQueue{entered: make(chan struct{}, 1), gate: make(chan struct{}), vals: make(chan []byte, 100)}
	up, err := uplink.New(uplink.Options{Broker: "tcp://127.0.0.1:1", Hub: h, Queue: q, SubscriptionRoom: 4, RetryMax: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	h.Log("info", "test", "", "first")
	<-q.entered // the uplink is stuck appending "first"
	for i := range 20 {
		h.Log("info", "test", "", fmt.Sprintf("burst %d", i))
	}
	if got := up.Status().Missed; got != 16 {
		t.Fatalf("missed = %d, want 16 (20 logged, room for 4)", got)
	}
	close(q.gate)
	want := []string{"first", "burst 0", "burst 1", "burst 2", "burst 3"}
	for _, w := range want {
		if v := decode(t, <-q.vals); v["text"] != w {
			t.Fatalf("queued %v, want %q", v, w)
		}
	}
}
