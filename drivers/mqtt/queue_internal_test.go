package mqtt

import (
	"fmt"
	"testing"
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
