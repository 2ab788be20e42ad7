package serial

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"hubd/firmware"
	"hubd/firmware/wire"
	"hubd/hub"
)

// updLamp is a lamp at addr that trusts the demo vendor key.
func updLamp(t testing.TB, addr uint8) *firmware.Lamp {
	t.Helper()
	l, err := firmware.NewLamp(addr, firmware.LampConfig{VendorKey: firmware.DemoVendorPublicKey(), BootTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// payload is n bytes of fixed pseudo-random content.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func image(t testing.TB, model, version string, body []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	v, err := firmware.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	b, err := firmware.BuildImage(model, v, body, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rig) firmware(id string) string {
	d, _ := r.hub.Device(id)
	return d.Info.Firmware
}

func TestDriver_UpdateFirmware_NewVersionInIdentifyAndHub(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, newSocket(t, 2))
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.online("socket-1") && r.firmware("lamp-1") == "1.2.0" })
	img := image(t, "HL-100", "1.3.0", payload(64<<10, 1), firmware.DemoVendorKey())
	// A PTY moves a chunk in tens of microseconds; 1 ms per reply, closer
	// to a real RS-485 line, spreads the update over many poll intervals.
	lamp.Faults().SetDelay(time.Millisecond)

	var (
		mu        sync.Mutex
		calls     int
		lastSent  int
		seen      = map[time.Time]bool{} // the socket's last_seen values during the update
		firstSeen time.Time
		busyErr   error
	)
	progress := func(sent, total int) {
		mu.Lock()
		defer mu.Unlock()
		if sent < lastSent || total != len(img) {
			t.Errorf("progress went %d -> %d of %d", lastSent, sent, total)
		}
		lastSent = sent
		_, s, _ := r.hub.Snapshot("socket-1")
		if calls == 0 {
			firstSeen = s.LastSeen
			// A second update of the same device while this one runs.
			busyErr = r.drv.UpdateFirmware(context.Background(), "lamp-1", img, nil)
		}
		seen[s.LastSeen] = true
		calls++
	}
	if err := r.drv.UpdateFirmware(context.Background(), "lamp-1", img, progress); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := lamp.FirmwareVersion(); got != [3]uint8{1, 3, 0} {
		t.Errorf("lamp runs %v", got)
	}
	if !bytes.Equal(lamp.FirmwareImage(), img) {
		t.Error("the flashed image differs from the one sent")
	}
	if got := r.firmware("lamp-1"); got != "1.3.0" {
		t.Errorf("hub Device.Info.Firmware = %q, want 1.3.0", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if lastSent != len(img) || calls < len(img)/64 {
		t.Errorf("progress: %d calls, last %d of %d", calls, lastSent, len(img))
	}
	if !errors.Is(busyErr, hub.ErrBusy) || !errors.Is(busyErr, ErrUpdating) {
		t.Errorf("concurrent update of the same device: %v", busyErr)
	}
	_, s, _ := r.hub.Snapshot("socket-1")
	if !s.LastSeen.After(firstSeen) || len(seen) < 3 {
		t.Errorf("socket not polled during the update: %d distinct last_seen values, first %v, now %v", len(seen), firstSeen, s.LastSeen)
	}
	if !r.online("socket-1") || !r.online("lamp-1") {
		t.Error("a device went offline during the update")
	}
	// The lamp is still a lamp: commands work on the new firmware.
	if err := r.hub.Execute(context.Background(), hub.Command{Device: "lamp-1", Set: hub.State{Set: hub.Fields(hub.FieldOn), On: true}}); err != nil {
		t.Errorf("command after the update: %v", err)
	}
}

func TestDriver_UpdateFirmware_LostRepliesResumeWithoutCorruption(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{Timeout: 50 * time.Millisecond}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	img := image(t, "HL-100", "1.3.0", payload(6000, 2), firmware.DemoVendorKey())
	lamp.Faults().DropEvery(9) // some replies lost: same-SEQ retries answer from the cache
	exhausted := false
	progress := func(sent, total int) {
		if !exhausted && sent > total/2 {
			// Every attempt of one exchange lost: the driver sends the
			// chunk again under a new SEQ, and the device's offset says it
			// has it already.
			exhausted = true
			lamp.Faults().DropReplies(3)
		}
	}
	if err := r.drv.UpdateFirmware(context.Background(), "lamp-1", img, progress); err != nil {
		t.Fatalf("update with lost replies: %v", err)
	}
	lamp.Faults().DropEvery(0)
	if lamp.Faults().Dropped() < 5 {
		t.Errorf("only %d replies dropped: the fault did not bite", lamp.Faults().Dropped())
	}
	if !bytes.Equal(lamp.FirmwareImage(), img) || lamp.FirmwareVersion() != [3]uint8{1, 3, 0} {
		t.Errorf("image corrupted or not booted: fw %v", lamp.FirmwareVersion())
	}
}

// PROTOCOL.md section 12: a device that needs time to erase its slot
// answers UPDATE_BEGIN (and anything but ABORT) with ERROR 0x05 busy until
// it is done, and the master repeats; it once failed the update at once.
func TestDriver_UpdateFirmware_BusyWhileErasingIsRepeated(t *testing.T) {
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{VendorKey: firmware.DemoVendorPublicKey(), BootTime: 100 * time.Millisecond, EraseTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	img := image(t, "HL-100", "1.3.0", payload(3000, 3), firmware.DemoVendorKey())
	if err := r.drv.UpdateFirmware(context.Background(), "lamp-1", img, nil); err != nil {
		t.Fatalf("update of a lamp that is busy erasing first: %v", err)
	}
	if !bytes.Equal(lamp.FirmwareImage(), img) || lamp.FirmwareVersion() != [3]uint8{1, 3, 0} {
		t.Errorf("lamp runs %v after the update", lamp.FirmwareVersion())
	}
}

func TestDriver_UpdateFirmware_InterruptedTransferResumes(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	img := image(t, "HL-100", "1.3.0", payload(20000, 3), firmware.DemoVendorKey())
	ctx, cancel := context.WithCancel(context.Background())
	err := r.drv.UpdateFirmware(ctx, "lamp-1", img, func(sent, total int) {
		if sent >= total/2 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, hub.ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled update: %v", err)
	}
	got, size, ok := lamp.Transfer()
	if !ok || got < len(img)/2 || size != len(img) {
		t.Fatalf("device transfer after the interruption: %d of %d (%v)", got, size, ok)
	}
	if lamp.FirmwareVersion() != [3]uint8{1, 2, 0} {
		t.Fatal("a half image was booted")
	}
	first := -1
	err = r.drv.UpdateFirmware(context.Background(), "lamp-1", img, func(sent, total int) {
		if first < 0 {
			first = sent
		}
	})
	if err != nil {
		t.Fatalf("resumed update: %v", err)
	}
	if first < got {
		t.Errorf("second update started at %d, the device had %d", first, got)
	}
	if !bytes.Equal(lamp.FirmwareImage(), img) {
		t.Error("resumed image differs")
	}
}

func TestDriver_UpdateFirmware_RefusesBadImagesAndKeepsOldFirmware(t *testing.T) {
	lamp := updLamp(t, 1)
	bare := newSocket(t, 2) // no vendor key
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1), socketDev("socket-1", 2)}, lamp, bare)
	waitFor(t, "online", func() bool { return r.firmware("lamp-1") == "1.2.0" && r.firmware("socket-1") == "2.0.7" })
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	good := image(t, "HL-100", "1.3.0", payload(3000, 4), firmware.DemoVendorKey())
	tests := []struct {
		name   string
		device string
		img    []byte
		want   []error
		sent   bool // the device saw the image
	}{
		{"bad signature", "lamp-1", image(t, "HL-100", "1.3.0", payload(3000, 4), other), []error{hub.ErrInvalidValue, ErrUpdateRefused, firmware.ErrBadSignature}, true},
		{"wrong model", "lamp-1", image(t, "HS-16", "2.1.0", payload(100, 5), firmware.DemoVendorKey()), []error{hub.ErrInvalidValue, ErrWrongModel}, false},
		{"truncated", "lamp-1", good[:len(good)-100], []error{hub.ErrInvalidValue, firmware.ErrImageTruncated}, false},
		{"garbage", "lamp-1", payload(500, 6), []error{hub.ErrInvalidValue, firmware.ErrBadMagic}, false},
		{"payload bit flip", "lamp-1", func() []byte { b := bytes.Clone(good); b[100] ^= 4; return b }(), []error{hub.ErrInvalidValue, firmware.ErrImageCRC}, false},
		{"same version", "lamp-1", image(t, "HL-100", "1.2.0", nil, firmware.DemoVendorKey()), []error{hub.ErrInvalidValue, ErrSameVersion}, false},
		{"older version", "lamp-1", image(t, "HL-100", "1.1.9", payload(100, 7), firmware.DemoVendorKey()), []error{hub.ErrInvalidValue, ErrDowngrade}, false},
		{"device without vendor key", "socket-1", image(t, "HS-16", "2.1.0", nil, firmware.DemoVendorKey()), []error{hub.ErrNotSupported, ErrUpdateRefused}, true},
		{"unknown device", "ghost", good, []error{hub.ErrNotFound, ErrUnknownDevice}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sentAny := false
			err := r.drv.UpdateFirmware(context.Background(), tc.device, tc.img, func(int, int) { sentAny = true })
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if lamp.FirmwareVersion() != [3]uint8{1, 2, 0} || r.firmware("lamp-1") != "1.2.0" {
				t.Errorf("lamp firmware changed: %v, hub %q", lamp.FirmwareVersion(), r.firmware("lamp-1"))
			}
			if bare.FirmwareVersion() != [3]uint8{2, 0, 7} {
				t.Errorf("socket firmware changed: %v", bare.FirmwareVersion())
			}
			if !tc.sent && sentAny {
				t.Error("a locally refused image reached the device")
			}
		})
	}
	if !r.online("lamp-1") || !r.online("socket-1") {
		t.Error("refused updates took a device offline")
	}
}

func TestDriver_UpdateFirmwareWith_AllowDowngradeInstallsOlderImage(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.firmware("lamp-1") == "1.2.0" })
	img := image(t, "HL-100", "1.0.4", payload(2000, 8), firmware.DemoVendorKey())
	if err := r.drv.UpdateFirmwareWith(context.Background(), "lamp-1", img, UpdateOptions{AllowDowngrade: true}, nil); err != nil {
		t.Fatalf("forced downgrade: %v", err)
	}
	if lamp.FirmwareVersion() != [3]uint8{1, 0, 4} || r.firmware("lamp-1") != "1.0.4" {
		t.Fatalf("after a forced downgrade the lamp runs %v, hub says %q; want 1.0.4", lamp.FirmwareVersion(), r.firmware("lamp-1"))
	}
}

func TestDriver_UpdateFirmware_CrashingImageRollsBack(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.firmware("lamp-1") == "1.2.0" })
	body := append(bytes.Clone(firmware.CrashMarker), payload(2000, 7)...)
	err := r.drv.UpdateFirmware(context.Background(), "lamp-1", image(t, "HL-100", "1.3.0", body, firmware.DemoVendorKey()), nil)
	if !errors.Is(err, ErrRolledBack) || !errors.Is(err, hub.ErrInvalidValue) {
		t.Fatalf("crashing image: %v", err)
	}
	if lamp.FirmwareVersion() != [3]uint8{1, 2, 0} || r.firmware("lamp-1") != "1.2.0" {
		t.Errorf("after rollback: lamp %v, hub %q", lamp.FirmwareVersion(), r.firmware("lamp-1"))
	}
	if c, rb := lamp.Updates(); c != 1 || rb != 1 {
		t.Errorf("committed %d, rolled back %d", c, rb)
	}
	// A good image installs afterwards.
	if err := r.drv.UpdateFirmware(context.Background(), "lamp-1", image(t, "HL-100", "1.3.1", payload(2000, 8), firmware.DemoVendorKey()), nil); err != nil {
		t.Fatalf("good image after a rollback: %v", err)
	}
	if r.firmware("lamp-1") != "1.3.1" {
		t.Errorf("hub firmware %q", r.firmware("lamp-1"))
	}
}

func TestDriver_UpdateFirmware_SurvivesPortVanishing(t *testing.T) {
	lamp := updLamp(t, 1)
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") })
	img := image(t, "HL-100", "1.3.0", payload(20000, 9), firmware.DemoVendorKey())
	var back chan error
	err := r.drv.UpdateFirmware(context.Background(), "lamp-1", img, func(sent, total int) {
		if back == nil && sent > total/3 {
			// Unplugged mid-transfer, plugged back in 300 ms later.
			back = make(chan error, 1)
			if err := r.h.Stop(); err != nil {
				t.Error(err)
			}
			go func() {
				time.Sleep(300 * time.Millisecond)
				back <- r.h.Restart()
			}()
		}
	})
	if back == nil {
		t.Fatal("the port was never unplugged")
	}
	if e := <-back; e != nil {
		t.Fatal(e)
	}
	if err != nil {
		t.Fatalf("update across a port loss: %v", err)
	}
	if !bytes.Equal(lamp.FirmwareImage(), img) || r.firmware("lamp-1") != "1.3.0" {
		t.Errorf("after the port came back: hub %q", r.firmware("lamp-1"))
	}
	if r.drv.Status()[0].Reconnects == 0 {
		t.Error("the port was not reopened")
	}
}

// stuckLamp is a real lamp that answers every UPDATE_CHUNK with
// UPDATE_STATUS Next=0 without storing the data: it replies, but never
// takes anything.
type stuckLamp struct {
	*firmware.Lamp
	status []byte // the UPDATE_STATUS payload every chunk gets

	mu     sync.Mutex
	chunks int
}

func (l *stuckLamp) Handle(req wire.Frame, now time.Time) (wire.Frame, bool) {
	if req.Cmd != wire.CmdUpdateChunk {
		return l.Lamp.Handle(req, now)
	}
	l.mu.Lock()
	l.chunks++
	l.mu.Unlock()
	return wire.Frame{Addr: req.Addr, Seq: req.Seq, Cmd: wire.ReplyUpdateStatus, Payload: l.status}, true
}

func (l *stuckLamp) chunksSeen() int { l.mu.Lock(); defer l.mu.Unlock(); return l.chunks }

func TestDriver_UpdateFirmware_DeviceTakingNoDataFailsInsteadOfLooping(t *testing.T) {
	status, err := wire.AppendUpdateStatus(nil, &wire.UpdateStatus{Next: 0, MaxChunk: wire.MaxChunk})
	if err != nil {
		t.Fatal(err)
	}
	lamp := &stuckLamp{Lamp: updLamp(t, 1), status: status}
	r := startRig(t, BusConfig{}, []hub.Device{lampDev("lamp-1", 1)}, lamp)
	waitFor(t, "online", func() bool { return r.online("lamp-1") && r.firmware("lamp-1") == "1.2.0" })
	img := image(t, "HL-100", "1.3.0", payload(4000, 10), firmware.DemoVendorKey())
	// Long enough for any bounded give-up; a regression ends here with
	// context.DeadlineExceeded instead of hanging the test binary.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = r.drv.UpdateFirmware(ctx, "lamp-1", img, nil)
	took := time.Since(start)
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("update against a device that takes no data: err = %v after %v and %d chunks, want ErrBadReply", err, took, lamp.chunksSeen())
	}
	if took > 5*time.Second {
		t.Errorf("gave up after %v", took)
	}
	if n := lamp.chunksSeen(); n < 2 || n > 100 {
		t.Errorf("device saw %d chunks before the driver gave up", n)
	}
	if lamp.FirmwareVersion() != [3]uint8{1, 2, 0} || !r.online("lamp-1") {
		t.Errorf("after the failed update: lamp %v, online %v", lamp.FirmwareVersion(), r.online("lamp-1"))
	}
}
