package firmware

import (
	"bytes"
	"crypto/ed25519"
	"hash/crc32"
	"testing"
	"time"

	"hubd/firmware/wire"
)

// updLamp is a lamp that trusts testKey.
func updLamp(t *testing.T) *Lamp {
	t.Helper()
	l, err := NewLamp(1, LampConfig{VendorKey: testKey().Public().(ed25519.PublicKey), BootTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// flasher drives a device through the update commands at the Handle level.
type flasher struct {
	t   *testing.T
	d   Device
	seq uint8
	now time.Time
}

func (f *flasher) send(cmd wire.Cmd, p []byte) wire.Frame {
	f.t.Helper()
	f.seq++
	resp, ok := f.d.Handle(wire.Frame{Addr: f.d.Addr(), Seq: f.seq, Cmd: cmd, Payload: p}, f.now)
	if !ok {
		f.t.Fatalf("no reply to %v", cmd)
	}
	return resp
}

func (f *flasher) begin(img []byte, model string, ver [3]uint8) wire.Frame {
	f.t.Helper()
	p, err := wire.AppendUpdateBegin(nil, &wire.UpdateBegin{Size: uint32(len(img)), CRC: crc32.ChecksumIEEE(img), Version: ver, Model: model})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.send(wire.CmdUpdateBegin, p)
}

func (f *flasher) chunk(off int, data []byte) wire.Frame {
	f.t.Helper()
	p, err := wire.AppendUpdateChunk(nil, &wire.UpdateChunk{Offset: uint32(off), Data: data})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.send(wire.CmdUpdateChunk, p)
}

func (f *flasher) commit(img []byte) wire.Frame {
	return f.send(wire.CmdUpdateCommit, wire.AppendUpdateCommit(nil, crc32.ChecksumIEEE(img)))
}

// sendAll sends img from off in full chunks.
func (f *flasher) sendAll(img []byte, off int) {
	f.t.Helper()
	for off < len(img) {
		end := min(off+wire.MaxChunk, len(img))
		st := f.status(f.chunk(off, img[off:end]))
		if int(st.Next) != end {
			f.t.Fatalf("chunk at %d: next %d, want %d", off, st.Next, end)
		}
		off = end
	}
}

func (f *flasher) status(r wire.Frame) wire.UpdateStatus {
	f.t.Helper()
	if r.Cmd != wire.ReplyUpdateStatus {
		f.t.Fatalf("reply %v, want UPDATE_STATUS", r)
	}
	s, err := wire.DecodeUpdateStatus(r.Payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func errCode(t *testing.T, r wire.Frame) uint8 {
	t.Helper()
	if r.Cmd != wire.ReplyError {
		t.Fatalf("reply %v, want ERROR", r)
	}
	e, err := wire.DecodeError(r.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return e.Code
}

func identifyFW(t *testing.T, d Device, now time.Time) ([3]uint8, bool) {
	t.Helper()
	r, ok := d.Handle(wire.Frame{Addr: d.Addr(), Seq: 200, Cmd: wire.CmdIdentify}, now)
	if !ok {
		return [3]uint8{}, false
	}
	in, err := wire.DecodeInfo(r.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return in.FW, true
}

func TestLamp_Update_BootsNewVersionAfterCommit(t *testing.T) {
	l := updLamp(t)
	mustHandle(t, l, setReq(t, 1, 1, wire.State{Fields: wire.FOn | wire.FBrightness, On: true, Brightness: 33}))
	img := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, bytes.Repeat([]byte{0xAB}, 1000), testKey())
	f := &flasher{t: t, d: l, seq: 10, now: t0}
	if st := f.status(f.begin(img, "HL-100", [3]uint8{1, 3, 0})); st.Next != 0 || st.MaxChunk != wire.MaxChunk {
		t.Fatalf("begin: %+v", st)
	}
	f.sendAll(img, 0)
	if r := f.commit(img); r.Cmd != wire.ReplyAck {
		t.Fatalf("commit: %v", r)
	}
	// Rebooting: silent for BootTime.
	if _, ok := identifyFW(t, l, t0.Add(500*time.Millisecond)); ok {
		t.Error("answered while rebooting")
	}
	fw, ok := identifyFW(t, l, t0.Add(2*time.Second))
	if !ok || fw != [3]uint8{1, 3, 0} {
		t.Fatalf("after reboot: fw %v, answered %v", fw, ok)
	}
	if !bytes.Equal(l.FirmwareImage(), img) || l.Boots() != 2 {
		t.Errorf("running image differs or boots = %d", l.Boots())
	}
	if s := l.State(); !s.On || s.Brightness != 33 {
		t.Errorf("settings lost across the update: %+v", s)
	}
	// The new firmware survives a power cycle; so does the version.
	l.Reboot()
	if l.FirmwareVersion() != [3]uint8{1, 3, 0} {
		t.Errorf("after power cycle: %v", l.FirmwareVersion())
	}
	if c, rb := l.Updates(); c != 1 || rb != 0 {
		t.Errorf("updates %d, rollbacks %d", c, rb)
	}
}

func TestLamp_Update_CrashingImageRollsBack(t *testing.T) {
	l := updLamp(t)
	img := mustImage(t, "HL-100", [3]uint8{9, 9, 9}, append(bytes.Clone(CrashMarker), 1, 2, 3), testKey())
	f := &flasher{t: t, d: l, now: t0}
	f.begin(img, "HL-100", [3]uint8{9, 9, 9})
	f.sendAll(img, 0)
	if r := f.commit(img); r.Cmd != wire.ReplyAck {
		t.Fatalf("commit: %v", r)
	}
	fw, ok := identifyFW(t, l, t0.Add(2*time.Second))
	if !ok || fw != [3]uint8{1, 2, 0} {
		t.Errorf("after a crashing image: fw %v, want the old 1.2.0", fw)
	}
	if _, rb := l.Updates(); rb != 1 || l.Boots() != 3 {
		t.Errorf("rollbacks %d, boots %d (power-up, trial, watchdog reset)", rb, l.Boots())
	}
	l.Reboot()
	if l.FirmwareVersion() != [3]uint8{1, 2, 0} {
		t.Errorf("the crashing slot was booted again: %v", l.FirmwareVersion())
	}
}

func TestLamp_Update_ChunksAreIdempotentByOffset(t *testing.T) {
	l := updLamp(t)
	img := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, bytes.Repeat([]byte("0123456789"), 30), testKey())
	f := &flasher{t: t, d: l, now: t0}
	f.begin(img, "HL-100", [3]uint8{1, 3, 0})
	f.sendAll(img[:120], 0)
	// A chunk sent again (its reply was lost): harmless, the device says
	// where it is.
	if st := f.status(f.chunk(60, img[60:120])); st.Next != 120 {
		t.Errorf("repeated chunk: next %d", st.Next)
	}
	// Overlapping the end: the new tail is taken.
	if st := f.status(f.chunk(100, img[100:150])); st.Next != 150 {
		t.Errorf("overlapping chunk: next %d", st.Next)
	}
	// Different bytes at a written offset, or a gap: refused.
	bad := bytes.Clone(img[60:120])
	bad[0] ^= 1
	if c := errCode(t, f.chunk(60, bad)); c != wire.ErrCodeBadOffset {
		t.Errorf("rewrite: code %d", c)
	}
	if c := errCode(t, f.chunk(200, img[200:210])); c != wire.ErrCodeBadOffset {
		t.Errorf("gap: code %d", c)
	}
	if c := errCode(t, f.chunk(len(img)-5, make([]byte, 10))); c != wire.ErrCodeRange {
		t.Errorf("past the end: code %d", c)
	}
	// Commit before the end: incomplete. BEGIN again resumes at 150.
	if c := errCode(t, f.commit(img)); c != wire.ErrCodeIncomplete {
		t.Errorf("early commit: code %d", c)
	}
	if st := f.status(f.begin(img, "HL-100", [3]uint8{1, 3, 0})); st.Next != 150 {
		t.Errorf("resume: next %d, want 150", st.Next)
	}
	f.sendAll(img, 150)
	if r := f.commit(img); r.Cmd != wire.ReplyAck {
		t.Fatalf("commit: %v", r)
	}
	if !bytes.Equal(l.FirmwareImage(), img) {
		t.Error("flashed image differs from the one sent")
	}
}

func TestDevice_Update_RefusesWithErrorCodes(t *testing.T) {
	pub := testKey().Public().(ed25519.PublicKey)
	good := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, []byte("fw"), testKey())
	other, _ := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), 0
	badSig := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, []byte("fw"), other)
	socketImg := mustImage(t, "HS-16", [3]uint8{2, 1, 0}, []byte("fw"), testKey())
	tests := []struct {
		name string
		run  func(f *flasher) wire.Frame
		want uint8
	}{
		{"wrong model at begin", func(f *flasher) wire.Frame { return f.begin(socketImg, "HS-16", [3]uint8{2, 1, 0}) }, wire.ErrCodeWrongModel},
		{"wrong model inside image", func(f *flasher) wire.Frame {
			// The header claims the lamp's model, the image is a socket's.
			f.begin(socketImg, "HL-100", [3]uint8{2, 1, 0})
			f.sendAll(socketImg, 0)
			return f.commit(socketImg)
		}, wire.ErrCodeWrongModel},
		{"bad signature", func(f *flasher) wire.Frame {
			f.begin(badSig, "HL-100", [3]uint8{1, 3, 0})
			f.sendAll(badSig, 0)
			return f.commit(badSig)
		}, wire.ErrCodeBadSignature},
		{"version differs from begin", func(f *flasher) wire.Frame {
			f.begin(good, "HL-100", [3]uint8{1, 4, 0})
			f.sendAll(good, 0)
			return f.commit(good)
		}, wire.ErrCodeBadImage},
		{"not an image", func(f *flasher) wire.Frame {
			junk := bytes.Repeat([]byte{0x55}, 200)
			f.begin(junk, "HL-100", [3]uint8{1, 3, 0})
			f.sendAll(junk, 0)
			return f.commit(junk)
		}, wire.ErrCodeBadImage},
		{"too small to be an image", func(f *flasher) wire.Frame { return f.begin(good[:50], "HL-100", [3]uint8{1, 3, 0}) }, wire.ErrCodeRange},
		{"chunk without begin", func(f *flasher) wire.Frame { return f.chunk(0, good[:10]) }, wire.ErrCodeNoUpdate},
		{"commit without begin", func(f *flasher) wire.Frame { return f.commit(good) }, wire.ErrCodeNoUpdate},
		{"commit of another image", func(f *flasher) wire.Frame {
			f.begin(good, "HL-100", [3]uint8{1, 3, 0})
			f.sendAll(good, 0)
			return f.commit(badSig)
		}, wire.ErrCodeNoUpdate},
		{"another image in progress", func(f *flasher) wire.Frame {
			f.begin(good, "HL-100", [3]uint8{1, 3, 0})
			return f.begin(badSig, "HL-100", [3]uint8{1, 3, 1})
		}, wire.ErrCodeUpdateBusy},
		{"malformed begin", func(f *flasher) wire.Frame { return f.send(wire.CmdUpdateBegin, []byte{1, 2}) }, wire.ErrCodeMalformed},
		{"abort with payload", func(f *flasher) wire.Frame { return f.send(wire.CmdUpdateAbort, []byte{1}) }, wire.ErrCodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLamp(1, LampConfig{VendorKey: pub})
			if err != nil {
				t.Fatal(err)
			}
			f := &flasher{t: t, d: l, now: t0}
			if c := errCode(t, tc.run(f)); c != tc.want {
				t.Errorf("code 0x%02X, want 0x%02X", c, tc.want)
			}
			if l.FirmwareVersion() != [3]uint8{1, 2, 0} || l.Boots() != 1 {
				t.Errorf("refused image changed the lamp: fw %v, boots %d", l.FirmwareVersion(), l.Boots())
			}
		})
	}
}

func TestDevice_Update_StaleTransferIsReplacedAndAbortWorks(t *testing.T) {
	l := updLamp(t)
	a := mustImage(t, "HL-100", [3]uint8{1, 3, 0}, []byte("a"), testKey())
	b := mustImage(t, "HL-100", [3]uint8{1, 4, 0}, []byte("b"), testKey())
	f := &flasher{t: t, d: l, now: t0}
	f.begin(a, "HL-100", [3]uint8{1, 3, 0})
	f.chunk(0, a[:10])
	f.now = t0.Add(2 * transferIdle)
	if st := f.status(f.begin(b, "HL-100", [3]uint8{1, 4, 0})); st.Next != 0 {
		t.Errorf("stale transfer not replaced: next %d", st.Next)
	}
	if r := f.send(wire.CmdUpdateAbort, nil); r.Cmd != wire.ReplyAck {
		t.Fatalf("abort: %v", r)
	}
	if _, _, ok := l.Transfer(); ok {
		t.Error("transfer survived abort")
	}
	if st := f.status(f.begin(a, "HL-100", [3]uint8{1, 3, 0})); st.Next != 0 {
		t.Errorf("begin after abort: next %d", st.Next)
	}
	// A power cycle ends a transfer: it lives in RAM.
	f.chunk(0, a[:10])
	l.Reboot()
	if _, _, ok := l.Transfer(); ok {
		t.Error("transfer survived a reboot")
	}
}

func TestDevice_Update_WithoutVendorKeyIsDisabled(t *testing.T) {
	img := mustImage(t, "HS-16", [3]uint8{2, 1, 0}, []byte("x"), testKey())
	s := mustSocket(t, 2)
	f := &flasher{t: t, d: s, now: t0}
	for _, r := range []wire.Frame{f.begin(img, "HS-16", [3]uint8{2, 1, 0}), f.chunk(0, img[:5]), f.commit(img)} {
		if c := errCode(t, r); c != wire.ErrCodeUpdateDisabled {
			t.Errorf("code 0x%02X, want updates disabled", c)
		}
	}
}

func TestSocket_Update_KeepsRelayAndEnergy(t *testing.T) {
	s, err := NewSocket(2, SocketConfig{VendorKey: testKey().Public().(ed25519.PublicKey), BootTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, s, setReq(t, 2, 1, wire.State{Fields: wire.FOn, On: true}))
	s.SetLoad(2000, t0)
	img := mustImage(t, "HS-16", [3]uint8{2, 1, 0}, bytes.Repeat([]byte{1}, 500), testKey())
	now := t0.Add(time.Hour) // ~2000 Wh
	f := &flasher{t: t, d: s, now: now}
	f.begin(img, "HS-16", [3]uint8{2, 1, 0})
	f.sendAll(img, 0)
	if r := f.commit(img); r.Cmd != wire.ReplyAck {
		t.Fatalf("commit: %v", r)
	}
	fw, ok := identifyFW(t, s, now.Add(time.Second))
	if !ok || fw != [3]uint8{2, 1, 0} {
		t.Errorf("socket fw %v", fw)
	}
	if st := s.State(now.Add(time.Second)); !st.On || st.EnergyWh < 1990 {
		t.Errorf("socket after update: %+v", st)
	}
}

func TestFaults_DropReplies_ActsButSwallows(t *testing.T) {
	l := mustLamp(t, 1)
	bus, err := NewBus(l)
	if err != nil {
		t.Fatal(err)
	}
	l.Faults().DropReplies(2)
	for i := range 3 {
		_, reply := bus.handle(t.Context(), setReq(t, 1, uint8(i+1), wire.State{Fields: wire.FBrightness, Brightness: uint8(10 + i)}))
		if reply != (i == 2) {
			t.Errorf("request %d: reply %v", i, reply)
		}
	}
	if l.State().Brightness != 12 || l.Faults().Dropped() != 2 {
		t.Errorf("brightness %d, dropped %d", l.State().Brightness, l.Faults().Dropped())
	}
	l.Faults().DropEvery(2)
	replies := 0
	for i := range 10 {
		if _, reply := bus.handle(t.Context(), wire.Frame{Addr: 1, Seq: uint8(50 + i), Cmd: wire.CmdPoll}); reply {
			replies++
		}
	}
	if replies != 5 {
		t.Errorf("every 2nd dropped: %d of 10 answered", replies)
	}
}

// FuzzLamp_HandleUpdate feeds a lamp a sequence of update requests cut
// from the input (command byte, length byte, payload): nothing may panic,
// every reply must encode, and a transfer never holds more than its size.
func FuzzLamp_HandleUpdate(f *testing.F) {
	img, err := BuildImage("HL-100", [3]uint8{1, 3, 0}, []byte("fw"), testKey())
	if err != nil {
		f.Fatal(err)
	}
	begin, _ := wire.AppendUpdateBegin(nil, &wire.UpdateBegin{Size: uint32(len(img)), CRC: crc32.ChecksumIEEE(img), Version: [3]uint8{1, 3, 0}, Model: "HL-100"})
	seq := func(reqs ...[]byte) []byte {
		var b []byte
		for _, r := range reqs {
			b = append(b, r[0], byte(len(r)-1))
			b = append(b, r[1:]...)
		}
		return b
	}
	req := func(cmd wire.Cmd, p []byte) []byte { return append([]byte{byte(cmd)}, p...) }
	chunk := func(off int, d []byte) []byte {
		p, _ := wire.AppendUpdateChunk(nil, &wire.UpdateChunk{Offset: uint32(off), Data: d})
		return req(wire.CmdUpdateChunk, p)
	}
	full := [][]byte{req(wire.CmdUpdateBegin, begin)}
	for off := 0; off < len(img); off += wire.MaxChunk {
		full = append(full, chunk(off, img[off:min(off+wire.MaxChunk, len(img))]))
	}
	full = append(full, req(wire.CmdUpdateCommit, wire.AppendUpdateCommit(nil, crc32.ChecksumIEEE(img))))
	f.Add(seq(full...))
	f.Add(seq(req(wire.CmdUpdateBegin, begin), chunk(0, img[:10]), chunk(5, img[5:20]), chunk(30, img[30:40])))
	f.Add(seq(req(wire.CmdUpdateChunk, []byte{0xFF, 0xFF, 0xFF, 0xFF, 1}), req(wire.CmdUpdateAbort, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := NewLamp(1, LampConfig{VendorKey: testKey().Public().(ed25519.PublicKey), BootTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		for i := 0; len(data) >= 2; i++ {
			n := min(int(data[1]), len(data)-2, wire.MaxPayload)
			req := wire.Frame{Addr: 1, Seq: uint8(i), Cmd: wire.Cmd(data[0]), Payload: data[2 : 2+n]}
			data = data[2+n:]
			now = now.Add(10 * time.Millisecond)
			resp, ok := l.Handle(req, now)
			if ok {
				if _, err := wire.Encode(resp); err != nil {
					t.Fatalf("reply to %v does not encode: %v", req, err)
				}
			}
			if got, size, ok := l.Transfer(); ok && got > size {
				t.Fatalf("transfer holds %d of %d bytes", got, size)
			}
		}
		if v := l.FirmwareVersion(); v != [3]uint8{1, 2, 0} && v != [3]uint8{1, 3, 0} {
			t.Fatalf("running version %v was never signed", v)
		}
	})
}
