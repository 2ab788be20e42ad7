package serial

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"hubd/firmware"
	"hubd/firmware/wire"
	"hubd/hub"
)

// rawExchange is one request of a firmware update, carried by the bus
// goroutine between its polls.
type rawExchange struct {
	cmd      wire.Cmd
	payload  []byte
	attempts int
	bulk     bool // an image chunk: at most one between two device polls

	resp wire.Frame // the reply, set before done is signalled
}

// rawCommand runs a rawExchange. It returns only a port error; the result
// goes to r.done.
func (b *bus) rawCommand(r *request) error {
	x, n := r.raw, r.node
	deadline, ok := r.ctx.Deadline()
	if limit := time.Now().Add(time.Duration(x.attempts) * (b.cfg.Timeout + 100*time.Millisecond)); !ok || limit.Before(deadline) {
		deadline = limit
	}
	resp, err := b.transact(r.ctx, n, x.cmd, x.payload, x.attempts, deadline)
	if err == nil {
		x.resp = resp
		// Any answer shows the device alive. An INFO also tells the hub
		// the firmware version, which is how a new one becomes visible.
		if resp.Cmd == wire.ReplyInfo && x.cmd == wire.CmdIdentify {
			in, derr := wire.DecodeInfo(resp.Payload)
			if derr != nil {
				err = fmt.Errorf("%w: %w", ErrBadReply, derr)
			} else {
				n.identified = true
				n.lastFull = time.Time{} // read the full state at the next poll
				b.apply(n, hub.Report{Device: n.id, Info: toInfo(in), Caps: capsOf(in)})
			}
		}
		if err == nil {
			b.alive(n)
		}
	}
	r.done <- err
	if errors.Is(err, ErrPortGone) {
		return err
	}
	return nil
}

// errRestart asks the update loop to resynchronize with UPDATE_BEGIN.
var errRestart = errors.New("serial: update out of step")

// maxRestarts bounds how often one update resynchronizes before it gives up.
const maxRestarts = 8

// maxStuckChunks bounds the chunks in a row that a device answers without
// taking them (Next stays at the chunk's offset). Every reply resets the
// UpdateStall clock, so without it such a device would be fed the same
// chunk for ever.
const maxStuckChunks = 8

// session is one UpdateFirmware call.
type session struct {
	d     *Driver
	t     target
	ctx   context.Context
	id    string
	img   []byte
	im    firmware.Image
	crc   uint32
	total int

	progress func(sent, total int)
	lastOK   time.Time // last acknowledged step, for the stall limit
	opts     UpdateOptions
}

// UpdateOptions change what UpdateFirmwareWith accepts.
type UpdateOptions struct {
	// AllowDowngrade installs an image older than the running firmware
	// (a technician going back to a known-good release). False: such an
	// image is refused with ErrDowngrade before anything is sent.
	AllowDowngrade bool
}

// UpdateFirmware installs a firmware image on a device, over its bus,
// while the bus keeps polling the other devices (one image chunk goes out
// between two device polls).
//
// The image is checked first (firmware.ParseImage; its model must be the
// one the device identifies as, its version another than the running one),
// so a bad file never reaches the line. It is then sent in chunks; a lost
// reply or an interrupted transfer (an earlier call that failed, a port
// that vanished for a while) resumes where the device is, since the device
// tells its next expected offset. After the commit the device verifies the
// signature and reboots; UpdateFirmware waits for it to identify again and
// succeeds only if it runs the new version. The hub learns the new version
// from that identify (hub.Device.Info.Firmware).
//
// progress, if not nil, is called with the bytes the device has confirmed.
// ctx bounds the whole update. Errors wrap hub.ErrNotFound (unknown
// device), hub.ErrInvalidValue (bad image, wrong model, same version, bad
// signature, rolled back, older than the running one: ErrDowngrade),
// hub.ErrNotSupported (device without a vendor
// key), hub.ErrBusy (an update of the device is already running) or
// hub.ErrUnreachable (no progress for Options.UpdateStall, ctx done, no
// identify within Options.RebootWait).
func (d *Driver) UpdateFirmware(ctx context.Context, deviceID string, image []byte, progress func(sent, total int)) error {
	return d.UpdateFirmwareWith(ctx, deviceID, image, UpdateOptions{}, progress)
}

// UpdateFirmwareWith is UpdateFirmware with options (a forced downgrade).
func (d *Driver) UpdateFirmwareWith(ctx context.Context, deviceID string, image []byte, o UpdateOptions, progress func(sent, total int)) error {
	d.mu.RLock()
	t, ok := d.devs[deviceID]
	d.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %w: %s", ErrUnknownDevice, hub.ErrNotFound, deviceID)
	}
	im, err := firmware.ParseImage(image)
	if err != nil {
		return fmt.Errorf("serial: update %s: %w: %w", deviceID, hub.ErrInvalidValue, err)
	}
	d.updMu.Lock()
	if d.updating[deviceID] {
		d.updMu.Unlock()
		return fmt.Errorf("%w: %w: %s", hub.ErrBusy, ErrUpdating, deviceID)
	}
	d.updating[deviceID] = true
	d.updMu.Unlock()
	defer func() {
		d.updMu.Lock()
		delete(d.updating, deviceID)
		d.updMu.Unlock()
	}()
	if progress == nil {
		progress = func(int, int) {}
	}
	s := &session{d: d, t: t, ctx: ctx, id: deviceID, img: image, im: im, crc: crc32.ChecksumIEEE(image),
		total: len(image), progress: progress, lastOK: time.Now(), opts: o}
	start := time.Now()
	old, err := s.run()
	log := d.log.With("device", deviceID, "image", im.VersionString(), "bytes", len(image))
	switch {
	case err == nil && o.AllowDowngrade && slices.Compare(im.Version[:], old[:]) < 0:
		log.Warn("firmware downgraded (forced)", "from", firmware.VersionString(old), "took", time.Since(start))
		t.bus.event("warn", deviceID, "firmware_downgraded", versions(old, im), nil,
			fmt.Sprintf("firmware of %s downgraded %s -> %s (forced)", deviceID, firmware.VersionString(old), im.VersionString()))
	case err == nil:
		log.Info("firmware updated", "from", firmware.VersionString(old), "took", time.Since(start))
		t.bus.event("info", deviceID, "firmware_updated", versions(old, im), nil,
			fmt.Sprintf("firmware of %s updated %s -> %s", deviceID, firmware.VersionString(old), im.VersionString()))
	case errors.Is(err, ErrRolledBack):
		log.Warn("firmware update rolled back", "err", err)
		t.bus.event("warn", deviceID, "firmware_rolled_back", versions(old, im), nil,
			fmt.Sprintf("firmware %s did not boot on %s; it rolled back to %s", im.VersionString(), deviceID, firmware.VersionString(old)))
	default:
		log.Warn("firmware update failed", "err", err)
		t.bus.event("warn", deviceID, "firmware_failed", versions(old, im), err,
			fmt.Sprintf("firmware update of %s to %s failed", deviceID, im.VersionString()))
	}
	return err
}

// run does the update and returns the version the device ran before.
func (s *session) run() (old [3]uint8, err error) {
	in, err := s.identify(1 + s.t.bus.cfg.Retries)
	if err != nil {
		return old, err
	}
	old = in.FW
	if in.Model != s.im.Model {
		return old, fmt.Errorf("serial: update %s: %w: %w: image for %q, device is %q", s.id, hub.ErrInvalidValue, ErrWrongModel, s.im.Model, in.Model)
	}
	if in.FW == s.im.Version {
		return old, fmt.Errorf("serial: update %s: %w: %w: %s", s.id, hub.ErrInvalidValue, ErrSameVersion, s.im.VersionString())
	}
	if slices.Compare(s.im.Version[:], in.FW[:]) < 0 && !s.opts.AllowDowngrade {
		return old, fmt.Errorf("serial: update %s: %w: %w: image %s, device runs %s", s.id, hub.ErrInvalidValue, ErrDowngrade, s.im.VersionString(), firmware.VersionString(old))
	}
	restarts := 0
	for {
		if restarts > maxRestarts {
			return old, fmt.Errorf("serial: update %s: %w: device kept losing step (%d restarts)", s.id, hub.ErrUnreachable, restarts)
		}
		next, chunk, err := s.begin()
		if err != nil {
			return old, err
		}
		if err := s.send(next, chunk); errors.Is(err, errRestart) {
			restarts++
			continue
		} else if err != nil {
			return old, err
		}
		committed, err := s.commit()
		if errors.Is(err, errRestart) {
			restarts++
			continue
		}
		if err != nil {
			return old, err
		}
		now, err := s.awaitReboot()
		if err != nil {
			return old, err
		}
		if now.FW == s.im.Version {
			return old, nil
		}
		if now.FW != old {
			return old, fmt.Errorf("serial: update %s: %w: came back with %s, neither %s nor %s", s.id, ErrBadReply, now.FirmwareString(), firmware.VersionString(old), s.im.VersionString())
		}
		if !committed {
			// The commit got no answer and the device runs the old
			// version: did it reboot (and roll back), or never hear the
			// commit? A device that never did still holds the whole image.
			st, err := s.call(wire.CmdUpdateBegin, s.beginPayload(), false)
			if err == nil && st.Cmd == wire.ReplyUpdateStatus {
				if us, derr := wire.DecodeUpdateStatus(st.Payload); derr == nil && int(us.Next) == s.total {
					restarts++
					continue
				}
			}
			s.call(wire.CmdUpdateAbort, nil, false) // drop the transfer that BEGIN just opened
		}
		return old, fmt.Errorf("serial: update %s: %w: %w: still runs %s", s.id, hub.ErrInvalidValue, ErrRolledBack, firmware.VersionString(old))
	}
}

// exchange hands one request to the bus goroutine and waits for it.
func (s *session) exchange(cmd wire.Cmd, payload []byte, attempts int, bulk bool) (wire.Frame, error) {
	x := &rawExchange{cmd: cmd, payload: payload, attempts: attempts, bulk: bulk}
	r := &request{ctx: s.ctx, node: s.t.node, raw: x, done: make(chan error, 1)}
	select {
	case s.t.bus.cmds <- r:
	case <-s.ctx.Done():
		return wire.Frame{}, s.ctx.Err()
	}
	select {
	case err := <-r.done:
		return x.resp, err
	case <-s.ctx.Done():
		return wire.Frame{}, s.ctx.Err()
	}
}

// busyPause is how long the master waits before it repeats a request that
// the device answered with ERROR 0x05 busy (PROTOCOL.md section 12).
const busyPause = 50 * time.Millisecond

// call is exchange with the bus's retries, repeated (with a new sequence
// number, which the device's offset logic makes harmless) until a reply
// comes or the update has stalled for UpdateStall. A device that answers
// busy (erasing its slot) is asked again every busyPause; busy replies are
// no progress, so a device busy for UpdateStall fails the update.
func (s *session) call(cmd wire.Cmd, payload []byte, bulk bool) (wire.Frame, error) {
	for {
		resp, err := s.exchange(cmd, payload, 1+s.t.bus.cfg.Retries, bulk)
		if err == nil && isBusy(resp) {
			if err := s.busyWait(); err != nil {
				return wire.Frame{}, err
			}
			continue
		}
		if err == nil {
			s.lastOK = time.Now()
			return resp, nil
		}
		if err := s.fatal(err); err != nil {
			return wire.Frame{}, err
		}
		if time.Since(s.lastOK) > s.d.opts.UpdateStall {
			return wire.Frame{}, fmt.Errorf("serial: update %s: %w: no progress for %v: %w", s.id, hub.ErrUnreachable, s.d.opts.UpdateStall, err)
		}
		if errors.Is(err, ErrPortGone) {
			// The port is being reopened: wait for it rather than spin.
			if err := s.sleep(100 * time.Millisecond); err != nil {
				return wire.Frame{}, err
			}
		}
	}
}

// busyWait pauses before a request the device answered busy is repeated;
// it fails the update once the device has made no progress for
// UpdateStall.
func (s *session) busyWait() error {
	if time.Since(s.lastOK) > s.d.opts.UpdateStall {
		return fmt.Errorf("serial: update %s: %w: device busy for %v", s.id, hub.ErrBusy, s.d.opts.UpdateStall)
	}
	return s.sleep(busyPause)
}

// isBusy reports whether resp is ERROR 0x05 busy.
func isBusy(resp wire.Frame) bool {
	if resp.Cmd != wire.ReplyError {
		return false
	}
	e, err := wire.DecodeError(resp.Payload)
	return err == nil && e.Code == wire.ErrCodeBusy
}

// fatal passes through the errors that end an update at once.
func (s *session) fatal(err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if s.ctx.Err() != nil {
			return fmt.Errorf("serial: update %s: %w: %w", s.id, hub.ErrUnreachable, s.ctx.Err())
		}
	case errors.Is(err, ErrUnknownDevice):
		return fmt.Errorf("serial: update %s: %w", s.id, err)
	}
	return nil
}

func (s *session) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.ctx.Done():
		return fmt.Errorf("serial: update %s: %w: %w", s.id, hub.ErrUnreachable, s.ctx.Err())
	}
}

// identify reads the device's INFO (and passes it to the hub).
func (s *session) identify(attempts int) (wire.Info, error) {
	resp, err := s.exchange(wire.CmdIdentify, nil, attempts, false)
	if err != nil {
		if f := s.fatal(err); f != nil {
			return wire.Info{}, f
		}
		if errors.Is(err, ErrBadReply) {
			return wire.Info{}, fmt.Errorf("serial: update %s: %w", s.id, err)
		}
		return wire.Info{}, fmt.Errorf("serial: update %s: %w: %w", s.id, hub.ErrUnreachable, err)
	}
	if resp.Cmd != wire.ReplyInfo {
		return wire.Info{}, fmt.Errorf("serial: update %s: %w: %v to IDENTIFY", s.id, ErrBadReply, resp.Cmd)
	}
	return wire.DecodeInfo(resp.Payload) // checked by rawCommand already
}

func (s *session) beginPayload() []byte {
	p, _ := wire.AppendUpdateBegin(nil, &wire.UpdateBegin{Size: uint32(s.total), CRC: s.crc, Version: s.im.Version, Model: s.im.Model})
	return p
}

// begin opens (or resumes) the transfer and returns where to go on.
func (s *session) begin() (next, chunk int, err error) {
	aborted := false
	for {
		resp, err := s.call(wire.CmdUpdateBegin, s.beginPayload(), false)
		if err != nil {
			return 0, 0, err
		}
		switch resp.Cmd {
		case wire.ReplyUpdateStatus:
			st, err := wire.DecodeUpdateStatus(resp.Payload)
			if err != nil || int(st.Next) > s.total {
				return 0, 0, fmt.Errorf("serial: update %s: %w: UPDATE_STATUS %v (%v)", s.id, ErrBadReply, st, err)
			}
			s.progress(int(st.Next), s.total)
			return int(st.Next), int(st.MaxChunk), nil
		case wire.ReplyError:
			e, _ := wire.DecodeError(resp.Payload)
			if e.Code == wire.ErrCodeUpdateBusy && !aborted {
				// Another image's transfer, left by an earlier update that
				// was given up: this bus has one master, so it is ours to
				// drop.
				s.d.log.Info("dropping an older unfinished transfer", "device", s.id)
				if _, err := s.call(wire.CmdUpdateAbort, nil, false); err != nil {
					return 0, 0, err
				}
				aborted = true
				continue
			}
			return 0, 0, s.refused(e)
		}
		return 0, 0, fmt.Errorf("serial: update %s: %w: %v to UPDATE_BEGIN", s.id, ErrBadReply, resp.Cmd)
	}
}

// refused maps an ERROR reply to an update step.
func (s *session) refused(e wire.ErrorReply) error {
	switch e.Code {
	case wire.ErrCodeUpdateDisabled:
		return fmt.Errorf("serial: update %s: %w: %w: %v", s.id, hub.ErrNotSupported, ErrUpdateRefused, e)
	case wire.ErrCodeBadSignature:
		return fmt.Errorf("serial: update %s: %w: %w: %w: %v", s.id, hub.ErrInvalidValue, ErrUpdateRefused, firmware.ErrBadSignature, e)
	case wire.ErrCodeWrongModel, wire.ErrCodeBadImage, wire.ErrCodeRange, wire.ErrCodeMalformed:
		return fmt.Errorf("serial: update %s: %w: %w: %v", s.id, hub.ErrInvalidValue, ErrUpdateRefused, e)
	case wire.ErrCodeBusy, wire.ErrCodeUpdateBusy:
		return fmt.Errorf("serial: update %s: %w: %v", s.id, hub.ErrBusy, e)
	}
	return fmt.Errorf("serial: update %s: %w: %v", s.id, ErrDevice, e)
}

// send streams the image from off. It returns errRestart when the device
// lost step (a chunk it did not expect, or no transfer at all).
func (s *session) send(off, chunk int) error {
	stuck := 0 // chunks in a row that did not move Next
	for off < s.total {
		end := min(off+chunk, s.total)
		p, err := wire.AppendUpdateChunk(nil, &wire.UpdateChunk{Offset: uint32(off), Data: s.img[off:end]})
		if err != nil {
			return fmt.Errorf("serial: update %s: %w", s.id, err)
		}
		resp, err := s.call(wire.CmdUpdateChunk, p, true)
		if err != nil {
			return err
		}
		switch resp.Cmd {
		case wire.ReplyUpdateStatus:
			st, err := wire.DecodeUpdateStatus(resp.Payload)
			if err != nil || int(st.Next) > s.total || int(st.Next) < off {
				return fmt.Errorf("serial: update %s: %w: UPDATE_STATUS %+v after a chunk at %d (%v)", s.id, ErrBadReply, st, off, err)
			}
			if int(st.Next) == off {
				if stuck++; stuck >= maxStuckChunks {
					return fmt.Errorf("serial: update %s: %w: device took no data at offset %d after %d chunks", s.id, ErrBadReply, off, stuck)
				}
			} else {
				stuck = 0
			}
			off, chunk = int(st.Next), int(st.MaxChunk)
			s.progress(off, s.total)
			continue
		case wire.ReplyError:
			e, _ := wire.DecodeError(resp.Payload)
			switch e.Code {
			case wire.ErrCodeBadOffset, wire.ErrCodeNoUpdate:
				return errRestart
			}
			return s.refused(e)
		}
		return fmt.Errorf("serial: update %s: %w: %v to UPDATE_CHUNK", s.id, ErrBadReply, resp.Cmd)
	}
	return nil
}

// commit asks the device to verify and boot the image. committed is false
// when no reply came: the device may have rebooted, or never heard it.
func (s *session) commit() (committed bool, err error) {
	resp, err := s.exchange(wire.CmdUpdateCommit, wire.AppendUpdateCommit(nil, s.crc), 1+s.t.bus.cfg.Retries, false)
	for err == nil && isBusy(resp) {
		// Still busy (verifying, writing): ask again, as call does.
		if err := s.busyWait(); err != nil {
			return false, err
		}
		resp, err = s.exchange(wire.CmdUpdateCommit, wire.AppendUpdateCommit(nil, s.crc), 1+s.t.bus.cfg.Retries, false)
	}
	if err != nil {
		if f := s.fatal(err); f != nil {
			return false, f
		}
		return false, nil
	}
	switch resp.Cmd {
	case wire.ReplyAck:
		return true, nil
	case wire.ReplyError:
		e, _ := wire.DecodeError(resp.Payload)
		switch e.Code {
		case wire.ErrCodeIncomplete, wire.ErrCodeNoUpdate:
			return false, errRestart
		}
		return false, s.refused(e)
	}
	return false, fmt.Errorf("serial: update %s: %w: %v to UPDATE_COMMIT", s.id, ErrBadReply, resp.Cmd)
}

// awaitReboot waits for the device to identify after its reboot.
func (s *session) awaitReboot() (wire.Info, error) {
	deadline := time.Now().Add(s.d.opts.RebootWait)
	for {
		in, err := s.identify(1)
		if err == nil {
			return in, nil
		}
		if !errors.Is(err, hub.ErrUnreachable) || s.ctx.Err() != nil {
			return wire.Info{}, err
		}
		if time.Now().After(deadline) {
			return wire.Info{}, fmt.Errorf("serial: update %s: %w: no identify within %v of the commit", s.id, hub.ErrUnreachable, s.d.opts.RebootWait)
		}
		if err := s.sleep(50 * time.Millisecond); err != nil {
			return wire.Info{}, err
		}
	}
}

// versions are the params of a firmware event: the version the device ran
// and the image's.
func versions(old [3]uint8, im firmware.Image) map[string]string {
	return map[string]string{"from": firmware.VersionString(old), "to": im.VersionString()}
}
