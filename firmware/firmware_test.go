package firmware

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"hubd/firmware/wire"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func mustLamp(t *testing.T, addr uint8) *Lamp {
	t.Helper()
	l, err := NewLamp(addr, LampConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustSocket(t *testing.T, addr uint8) *Socket {
	t.Helper()
	s, err := NewSocket(addr, SocketConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setReq(t *testing.T, addr, seq uint8, s wire.State) wire.Frame {
	t.Helper()
	p, err := wire.AppendState(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Frame{Addr: addr, Seq: seq, Cmd: wire.CmdSetState, Payload: p}
}

func replyState(t *testing.T, f wire.Frame) wire.State {
	t.Helper()
	if f.Cmd != wire.ReplyState {
		t.Fatalf("reply %v, want STATE", f)
	}
	s, err := wire.DecodeState(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewLamp_RejectsReservedAddresses(t *testing.T) {
	for _, a := range []uint8{0, 248, 255} {
		if _, err := NewLamp(a, LampConfig{}); !errors.Is(err, ErrBadAddress) {
			t.Errorf("address %d: err = %v", a, err)
		}
		if _, err := NewSocket(a, SocketConfig{}); !errors.Is(err, ErrBadAddress) {
			t.Errorf("socket address %d: err = %v", a, err)
		}
	}
}

func TestLamp_Handle_IdentifyDescribesLamp(t *testing.T) {
	l := mustLamp(t, 1)
	resp, ok := l.Handle(wire.Frame{Addr: 1, Seq: 9, Cmd: wire.CmdIdentify}, t0)
	if !ok || resp.Cmd != wire.ReplyInfo || resp.Seq != 9 || resp.Addr != 1 {
		t.Fatalf("reply %v %v", resp, ok)
	}
	in, err := wire.DecodeInfo(resp.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if in.Kind != wire.KindLamp || in.MinK != 2700 || in.MaxK != 6500 || !in.Caps.Has(wire.FColor|wire.FTemp|wire.FBrightness|wire.FOn) || in.Caps.Has(wire.FPower) {
		t.Errorf("info %+v", in)
	}
}

func TestLamp_Handle_SetIsPartialAndSetsColorMode(t *testing.T) {
	l := mustLamp(t, 1)
	s := replyState(t, mustHandle(t, l, setReq(t, 1, 1, wire.State{Fields: wire.FOn | wire.FBrightness, On: true, Brightness: 40})))
	if !s.On || s.Brightness != 40 || s.Kelvin != 4000 || s.Mode != wire.ModeTemp {
		t.Errorf("after on+brightness: %+v", s)
	}
	s = replyState(t, mustHandle(t, l, setReq(t, 1, 2, wire.State{Fields: wire.FColor, Hue: 322, Sat: 100, Val: 40})))
	if !s.On || s.Brightness != 40 || s.Hue != 322 || s.Mode != wire.ModeHSV {
		t.Errorf("after color: %+v", s)
	}
	s = replyState(t, mustHandle(t, l, setReq(t, 1, 3, wire.State{Fields: wire.FTemp, Kelvin: 2700})))
	if s.Kelvin != 2700 || s.Mode != wire.ModeTemp || s.Hue != 322 {
		t.Errorf("after kelvin: %+v", s)
	}
}

func mustHandle(t *testing.T, d Device, req wire.Frame) wire.Frame {
	t.Helper()
	resp, ok := d.Handle(req, t0)
	if !ok {
		t.Fatalf("no reply to %v", req)
	}
	return resp
}

func TestDevice_Handle_AnswersErrorsWithCodes(t *testing.T) {
	l := mustLamp(t, 1)
	s := mustSocket(t, 2)
	tests := []struct {
		name string
		dev  Device
		req  wire.Frame
		code uint8
	}{
		{"unknown command", l, wire.Frame{Addr: 1, Seq: 1, Cmd: 0x33}, wire.ErrCodeUnknownCmd},
		{"truncated set", l, wire.Frame{Addr: 1, Seq: 2, Cmd: wire.CmdSetState, Payload: []byte{0x02}}, wire.ErrCodeMalformed},
		{"brightness 150", l, wire.Frame{Addr: 1, Seq: 3, Cmd: wire.CmdSetState, Payload: []byte{0x02, 0x00, 150}}, wire.ErrCodeRange},
		{"kelvin outside lamp", l, setReq(t, 1, 4, wire.State{Fields: wire.FTemp, Kelvin: 9000}), wire.ErrCodeRange},
		{"mode is reply-only", l, setReq(t, 1, 5, wire.State{Fields: wire.FMode, Mode: 1}), wire.ErrCodeUnsupported},
		{"socket has no brightness", s, setReq(t, 2, 6, wire.State{Fields: wire.FBrightness, Brightness: 5}), wire.ErrCodeUnsupported},
		{"socket power is read-only", s, setReq(t, 2, 7, wire.State{Fields: wire.FPower, PowerCW: 5}), wire.ErrCodeUnsupported},
		{"blink too long", s, wire.Frame{Addr: 2, Seq: 8, Cmd: wire.CmdBlink, Payload: []byte{200}}, wire.ErrCodeRange},
		{"poll with payload", s, wire.Frame{Addr: 2, Seq: 9, Cmd: wire.CmdPoll, Payload: []byte{1}}, wire.ErrCodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mustHandle(t, tc.dev, tc.req)
			if resp.Cmd != wire.ReplyError {
				t.Fatalf("reply %v, want ERROR", resp)
			}
			e, err := wire.DecodeError(resp.Payload)
			if err != nil || e.Code != tc.code {
				t.Errorf("error %+v (%v), want code %d", e, err, tc.code)
			}
		})
	}
}

func TestDevice_Handle_RetryIsAnsweredNotExecutedTwice(t *testing.T) {
	l := mustLamp(t, 1)
	press := setReq(t, 1, 42, wire.State{Fields: wire.FOn, On: true})
	first := mustHandle(t, l, press)
	l.Press() // a local change between the original and the retry
	again := mustHandle(t, l, press)
	if !bytes.Equal(first.Payload, again.Payload) || first.Seq != again.Seq {
		t.Errorf("retry got a different reply: %v vs %v", again, first)
	}
	if l.Executed() != 1 {
		t.Errorf("executed %d times, want 1", l.Executed())
	}
	if l.State().On {
		t.Error("the retry was executed: lamp is on although the button turned it off")
	}
	// The same sequence number with another payload is a new request.
	mustHandle(t, l, setReq(t, 1, 42, wire.State{Fields: wire.FBrightness, Brightness: 7}))
	if l.Executed() != 2 || l.State().Brightness != 7 {
		t.Errorf("new request with reused seq not executed: %d, %+v", l.Executed(), l.State())
	}
}

func TestDevice_Handle_BroadcastActsSilently(t *testing.T) {
	bus, err := NewBus(mustLamp(t, 1), mustLamp(t, 2), mustSocket(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	req := setReq(t, wire.Broadcast, 1, wire.State{Fields: wire.FOn, On: true})
	if _, reply := bus.handle(t.Context(), req); reply {
		t.Error("broadcast was answered")
	}
	if !bus.Device(1).(*Lamp).State().On || !bus.Device(2).(*Lamp).State().On || !bus.Device(3).(*Socket).State(t0).On {
		t.Error("not every device acted on the broadcast")
	}
	// No reply told the master: each device's next POLL carries the change
	// (PROTOCOL.md section 6), and the one after it is quiet again.
	for _, addr := range []uint8{1, 2, 3} {
		for i, want := range []wire.Cmd{wire.ReplyState, wire.ReplyAck} {
			resp := mustHandle(t, bus.Device(addr), wire.Frame{Addr: addr, Seq: uint8(10 + i), Cmd: wire.CmdPoll})
			if resp.Cmd != want {
				t.Errorf("device %d, POLL %d after the broadcast: %v, want %v", addr, i+1, resp.Cmd, want)
			}
		}
	}
}

func TestDevice_Handle_BlinkIdentifies(t *testing.T) {
	s := mustSocket(t, 2)
	resp := mustHandle(t, s, wire.Frame{Addr: 2, Seq: 1, Cmd: wire.CmdBlink, Payload: []byte{3}})
	if resp.Cmd != wire.ReplyAck {
		t.Fatalf("reply %v", resp)
	}
	if !s.Blinking(t0.Add(2*time.Second)) || s.Blinking(t0.Add(4*time.Second)) || s.Identifies() != 1 {
		t.Error("blink did not last 3 s")
	}
}

func TestLamp_Poll_ReportsButtonPressOnce(t *testing.T) {
	l := mustLamp(t, 1)
	poll := func(seq uint8) wire.Frame { return mustHandle(t, l, wire.Frame{Addr: 1, Seq: seq, Cmd: wire.CmdPoll}) }
	if r := poll(1); r.Cmd != wire.ReplyAck {
		t.Fatalf("news without a change: %v", r)
	}
	l.Press()
	if s := replyState(t, poll(2)); !s.On {
		t.Errorf("news %+v, want on", s)
	}
	if r := poll(3); r.Cmd != wire.ReplyAck {
		t.Errorf("same news twice: %v", r)
	}
}

func TestLamp_Reboot_KeepsSettingsFromFlash(t *testing.T) {
	l := mustLamp(t, 1)
	mustHandle(t, l, setReq(t, 1, 1, wire.State{Fields: wire.FOn | wire.FColor, On: true, Hue: 120, Sat: 50, Val: 60}))
	before := l.State()
	l.Reboot()
	if after := l.State(); after != before || l.Boots() != 2 {
		t.Errorf("after reboot %+v, want %+v", after, before)
	}
	// A damaged blob is refused; the lamp keeps running.
	blob := l.Flash()
	blob[3] ^= 0xFF
	if err := l.LoadFlash(blob); !errors.Is(err, ErrFlash) {
		t.Errorf("damaged flash: %v", err)
	}
	other := mustLamp(t, 9)
	if err := other.LoadFlash(l.Flash()); err != nil || other.State() != before {
		t.Errorf("flash moved to another lamp: %v %+v", err, other.State())
	}
}

func TestSocket_Meter_IntegratesEnergyAndTracksLoad(t *testing.T) {
	s := mustSocket(t, 2)
	st := replyState(t, mustHandle(t, s, setReq(t, 2, 1, wire.State{Fields: wire.FOn, On: true})))
	if !st.On || st.PowerCW < 5700 || st.PowerCW > 6300 {
		t.Fatalf("on with 60 W load: %+v", st)
	}
	// One hour at ~60 W, sampled every second.
	now := t0
	for range 3600 {
		now = now.Add(time.Second)
		st = s.State(now)
		v := float64(st.VoltageCV) / 100
		if v < 220 || v > 240 {
			t.Fatalf("voltage %.2f V", v)
		}
		p, i := float64(st.PowerCW)/100, float64(st.CurrentMA)/1000
		if math.Abs(i-p/v) > 0.002 {
			t.Fatalf("current %.3f A, P/V = %.3f A", i, p/v)
		}
	}
	if e := s.EnergyWh(now); e < 57 || e > 63 {
		t.Errorf("energy after an hour at 60 W: %.2f Wh", e)
	}
	// Off: no power, no more energy.
	mustHandle(t, s, setReq(t, 2, 2, wire.State{Fields: wire.FOn, On: false}))
	e1 := s.EnergyWh(now)
	if st := s.State(now.Add(time.Hour)); st.PowerCW != 0 || st.CurrentMA != 0 || s.EnergyWh(now.Add(time.Hour))-e1 > 0.1 {
		t.Errorf("off socket still meters: %+v", st)
	}
}

func TestSocket_Reboot_KeepsRelayAndEnergy(t *testing.T) {
	s := mustSocket(t, 2)
	mustHandle(t, s, setReq(t, 2, 1, wire.State{Fields: wire.FOn, On: true}))
	s.SetLoad(1000, t0)
	now := t0.Add(90 * time.Minute) // ~1500 Wh
	e := s.EnergyWh(now)
	s.Reboot(now)
	after := s.EnergyWh(now)
	if !s.State(now).On || after > e || e-after > 10 {
		t.Errorf("after reboot: on=%v energy %.1f Wh, before %.1f Wh", s.State(now).On, after, e)
	}
}

func TestSocket_Poll_ReportsLoadChange(t *testing.T) {
	s := mustSocket(t, 2)
	mustHandle(t, s, setReq(t, 2, 1, wire.State{Fields: wire.FOn, On: true}))
	s.SetLoad(500, t0)
	r, _ := s.Handle(wire.Frame{Addr: 2, Seq: 2, Cmd: wire.CmdPoll}, t0)
	if st := replyState(t, r); st.PowerCW < 45000 {
		t.Errorf("news %+v, want ~500 W", st)
	}
}
