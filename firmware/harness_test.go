package firmware

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/tarm/serial"

	"hubd/firmware/wire"
)

// openTarm opens the harness port the way drivers/serial does.
func openTarm(t *testing.T, path string) *serial.Port {
	t.Helper()
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: 115200, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("tarm/serial on a PTY: %v", err)
	}
	return p
}

// exchange sends req and reads until a frame arrives or 2 s pass.
func exchange(t *testing.T, p io.ReadWriter, req wire.Frame) (wire.Frame, error) {
	t.Helper()
	b, err := wire.Encode(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(b); err != nil {
		return wire.Frame{}, err
	}
	var dec wire.Decoder
	buf := make([]byte, 256)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, err := p.Read(buf)
		dec.Write(buf[:n])
		if f, ok := dec.Next(); ok {
			return f, nil
		}
		if err != nil && err != io.EOF {
			return wire.Frame{}, err
		}
	}
	return wire.Frame{}, os.ErrDeadlineExceeded
}

func TestHarness_StopRestart_KeepsPathAndDevices(t *testing.T) {
	lamp := mustLamp(t, 1)
	h, err := StartPTY(t.TempDir(), lamp, mustSocket(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := openTarm(t, h.Path())
	resp, err := exchange(t, p, setReq(t, 1, 1, wire.State{Fields: wire.FOn, On: true}))
	if err != nil || resp.Cmd != wire.ReplyState {
		t.Fatalf("set over the PTY: %v %v", resp, err)
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	// The port is gone: writes fail, and so does opening the path.
	failed := false
	for range 5 {
		if _, err := exchange(t, p, wire.Frame{Addr: 1, Seq: 2, Cmd: wire.CmdGetState}); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			failed = true
			break
		}
	}
	if !failed {
		t.Error("writes to a vanished port kept succeeding")
	}
	p.Close()
	if _, err := serial.OpenPort(&serial.Config{Name: h.Path(), Baud: 115200, ReadTimeout: 100 * time.Millisecond}); err == nil {
		t.Error("a stopped port could be opened")
	}
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	p = openTarm(t, h.Path())
	defer p.Close()
	resp, err = exchange(t, p, wire.Frame{Addr: 1, Seq: 3, Cmd: wire.CmdGetState})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if s := replyState(t, resp); !s.On {
		t.Error("lamp lost its state across the port restart")
	}
}

func TestHarness_MuteAndCorrupt(t *testing.T) {
	lamp := mustLamp(t, 1)
	h, err := StartPTY(t.TempDir(), lamp)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := openTarm(t, h.Path())
	defer p.Close()
	lamp.Faults().SetMute(true)
	if _, err := exchange(t, p, wire.Frame{Addr: 1, Seq: 1, Cmd: wire.CmdGetState}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("mute lamp answered: %v", err)
	}
	lamp.Faults().SetMute(false)
	h.Bus().CorruptReplies(1)
	// The corrupt reply is dropped by the decoder; the retry gets through.
	b, _ := wire.Encode(wire.Frame{Addr: 1, Seq: 2, Cmd: wire.CmdGetState})
	p.Write(b)
	waitCounters(t, h.Bus(), "the damaged reply written", func(c BusCounters) bool { return c.FramesOut >= 1 })
	if resp, err := exchange(t, p, wire.Frame{Addr: 1, Seq: 2, Cmd: wire.CmdGetState}); err != nil || resp.Seq != 2 {
		t.Errorf("retry after corrupt reply: %v %v", resp, err)
	}
	// The bus counts a reply after writing it, so the count may trail the
	// reply the test already read by a moment.
	waitCounters(t, h.Bus(), "both requests and replies counted", func(c BusCounters) bool { return c.FramesIn >= 2 && c.FramesOut >= 2 })
}

// waitCounters polls the bus's counters until ok holds, for at most 2 s.
func waitCounters(t *testing.T, b *Bus, what string, ok func(BusCounters) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for c := b.Counters(); !ok(c); c = b.Counters() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: counters %+v", what, c)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
