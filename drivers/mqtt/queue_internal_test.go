package mqtt

import (
	"fmt"
	"testing"

	"hubd/hub"
)

// With no worker taking messages, a device's ring fills to qmax and each
// further message pushes out the oldest one: the newest qmax stay, in
// order, and every push-out is counted.
func TestEnqueue_Full_DropsOldestKeepsLatest(t *testing.T) {
	const qmax, n = 8, 20
	d := &Driver{wake: make(chan struct{}, 1)}
	dv := &device{id: "socket-2", qmax: qmax}
	for i := 1; i <= n; i++ {
		d.enqueue(dv, item{kind: "power", payload: []byte(fmt.Sprint(i))})
	}
	if got := d.dropped.Load(); got != n-qmax {
		t.Errorf("dropped %d, want %d", got, n-qmax)
	}
	if dv.n != qmax || len(dv.q) != qmax {
		t.Fatalf("queue holds %d in a ring of %d, want %d in %d", dv.n, len(dv.q), qmax, qmax)
	}
	for i := range dv.n {
		got := string(dv.q[(dv.head+i)%len(dv.q)].payload)
		if want := fmt.Sprint(n - qmax + 1 + i); got != want {
			t.Errorf("queue[%d] = %s, want %s", i, got, want)
		}
	}
	if len(d.rq) != 1 || d.rq[0] != dv {
		t.Errorf("device scheduled %d times, want once", len(d.rq))
	}
}

// A ring that a burst grew is given back once a worker has drained it,
// after every message was applied, and the device takes messages again.
func TestDrain_ReleasesTheGrownRing(t *testing.T) {
	var rep reports
	d, err := New(Options{Broker: "tcp://127.0.0.1:1", ClientID: "hubd-test", Apply: rep.apply,
		Devices: []hub.Device{plug("plug-a", "a", hub.Fields(hub.FieldOn, hub.FieldPower))}})
	if err != nil {
		t.Fatal(err)
	}
	dv := d.tab.Load().byID["plug-a"]
	for i := range 5 {
		d.onMessage(nil, msg{"shellies/a/relay/0/power", fmt.Appendf(nil, "%d", 10+i)})
	}
	if len(dv.q) < 5 {
		t.Fatalf("ring of %d after 5 messages", len(dv.q))
	}
	d.drain(dv)
	if got := rep.of("plug-a"); len(got) != 5 || got[4].State.Power != 14 {
		t.Fatalf("drain applied %+v, want the 5 messages in order", got)
	}
	if dv.q != nil || dv.scheduled {
		t.Errorf("after draining: ring of %d kept, scheduled %v", len(dv.q), dv.scheduled)
	}
	d.onMessage(nil, msg{"shellies/a/relay/0/power", []byte("42")})
	d.drain(dv)
	if got := rep.of("plug-a"); len(got) != 6 || got[5].State.Power != 42 {
		t.Errorf("after the release the next message gave %+v", got)
	}
}
