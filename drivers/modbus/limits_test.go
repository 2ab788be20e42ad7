package modbus

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"hubd/drivers/modbus/modbussim"
	"hubd/firmware"
	"hubd/hub"
)

// waitUntil polls cond (the bus's own state has no event to wait on).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDriver_FullCommandQueue_IsCountedAndRefusedAsBusy(t *testing.T) {
	empty, err := modbussim.NewBus() // nobody answers: every exchange takes Timeout
	if err != nil {
		t.Fatal(err)
	}
	h, err := firmware.StartServer(t.TempDir(), empty)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	offline := make(chan struct{}, 1)
	drv, err := New(Options{
		Buses:   []BusConfig{{Name: "bus0", Port: h.Path(), Line: Line{Baud: 115200}, Timeout: 300 * time.Millisecond, Retries: -1, OfflineAfter: 1, PollInterval: time.Hour, QueueLen: 1}},
		Devices: []Device{{ID: "relay-a", Bus: "bus0", Unit: 1, Profile: "relay"}},
		Apply: func(r hub.Report) error {
			if r.Avail == hub.AvailOffline {
				select {
				case offline <- struct{}{}:
				default:
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { drv.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-offline // the first poll cycle is over: the bus waits for commands
	b := drv.buses[0]
	dev := hub.Device{ID: "relay-a"}
	cmd := hub.Command{Device: "relay-a", Set: on(true)}
	send := func() {
		wg.Go(func() {
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			defer ccancel()
			drv.Execute(cctx, dev, cmd)
		})
	}
	send() // taken by the bus: its request is on the line, unanswered
	waitUntil(t, "the bus to take the first command", func() bool { return b.statusCopy().FramesOut == 2 && len(b.cmds) == 0 })
	send() // waits in the queue of one
	waitUntil(t, "a full queue", func() bool { return len(b.cmds) == 1 })
	cctx, ccancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer ccancel()
	err = drv.Execute(cctx, dev, cmd)
	if !errors.Is(err, hub.ErrBusy) {
		t.Fatalf("command finding the queue full: %v, want ErrBusy", err)
	}
	if n := drv.Status()[0].QueueFull; n < 1 {
		t.Fatalf("QueueFull = %d", n)
	}
}

// garbagePort answers every request with random bytes.
type garbagePort struct {
	mu     sync.Mutex
	rnd    *rand.Rand
	closed bool
}

func (p *garbagePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	n := p.rnd.IntN(len(b) + 1)
	for i := range n {
		b[i] = byte(p.rnd.Uint32())
	}
	return n, nil
}

func (p *garbagePort) Write(b []byte) (int, error) { return len(b), nil }

func (p *garbagePort) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

func TestDriver_GarbageOnTheLine_IsSurvived(t *testing.T) {
	opened := make(chan struct{}, 100)
	drv, err := New(Options{
		Buses: []BusConfig{{Name: "bus0", Port: "garbage", Timeout: 20 * time.Millisecond, PollInterval: time.Millisecond}},
		Devices: []Device{
			{ID: "relay-a", Bus: "bus0", Unit: 1, Profile: "relay"},
			{ID: "meter", Bus: "bus0", Unit: 2, Profile: "sdm630", MeterEvery: time.Millisecond},
		},
		Open: func(string, Line) (io.ReadWriteCloser, error) {
			opened <- struct{}{}
			return &garbagePort{rnd: rand.New(rand.NewPCG(1, 2))}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); drv.Run(ctx) }()
	<-opened
	waitUntil(t, "garbage to be judged", func() bool {
		st := drv.Status()[0]
		return st.FramesOut >= 8 && st.CRCErrors+st.Timeouts > 0
	})
	cancel()
	<-done
	st := drv.Status()[0]
	if st.Open || st.FramesOut == 0 {
		t.Fatalf("status after garbage %+v", st)
	}
}
