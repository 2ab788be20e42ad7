package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"hubd/hub"
)

const (
	// maxFirmwareImage is a device's flash slot (firmware.MaxImageSize); the
	// body may be a little larger so that the driver, not the page, explains
	// an image that is just over.
	maxFirmwareImage = 1 << 20
	maxFirmwareBody  = maxFirmwareImage + 4<<10
	// progressEvery throttles the feed's pushes of one update's progress;
	// start and finish are pushed at once.
	progressEvery = 500 * time.Millisecond
	// closeWait bounds how long Close waits for cancelled updates to return.
	closeWait = 10 * time.Second
)

// Firmware update states.
const (
	FirmwareRunning = "running"
	FirmwareDone    = "done"
	FirmwareFailed  = "failed"
)

// FirmwareJob is the progress and outcome of a device's latest firmware
// update started from the page. /api/status and the feed show it as the
// device's firmware_update; POST /api/devices/{id}/firmware answers with it.
type FirmwareJob struct {
	Device string `json:"device"`
	State  string `json:"state"` // FirmwareRunning, FirmwareDone or FirmwareFailed
	// Sent and Total are the bytes the device confirmed and the bytes to
	// send, as the driver reports them; Total is the image size until then.
	Sent  int `json:"sent"`
	Total int `json:"total"`
	// Result is hub.ResultOf the outcome once finished ("ok", "busy", ...).
	Result   string    `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
	User     string    `json:"user"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

type fwJob struct {
	view   FirmwareJob
	pushed time.Time   // last push to the feed
	timer  *time.Timer // a trailing push is scheduled
}

// firmware runs the page's firmware updates: one per device, at most max
// at once, each in its own goroutine under a context Close cancels.
type firmware struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	jobs    map[string]*fwJob
	running int
	closed  bool
}

func newFirmware(s *Server) *firmware {
	ctx, cancel := context.WithCancel(context.Background())
	return &firmware{s: s, ctx: ctx, cancel: cancel, jobs: map[string]*fwJob{}}
}

// enabled reports whether the page offers firmware updates at all.
func (f *firmware) enabled() bool { return f.s.opts.UpdateFirmware != nil }

// capable reports whether d's firmware can be updated from the page.
func (f *firmware) capable(d hub.Device) bool {
	if !f.enabled() {
		return false
	}
	if f.s.opts.FirmwareCapable != nil {
		return f.s.opts.FirmwareCapable(d)
	}
	return d.Driver == "serial"
}

// job returns a copy of device id's latest update.
func (f *firmware) job(id string) (FirmwareJob, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return FirmwareJob{}, false
	}
	return j.view, true
}

// busy returns an error when an update of id can not start now.
func (f *firmware) busy(id string) error {
	if f.closed {
		return ErrClosed
	}
	if j, ok := f.jobs[id]; ok && j.view.State == FirmwareRunning {
		return fmt.Errorf("%w: %s since %s, %d of %d bytes sent", ErrUpdateRunning, id,
			j.view.Started.UTC().Format(time.RFC3339), j.view.Sent, j.view.Total)
	}
	if limit := f.s.opts.MaxFirmwareUpdates; f.running >= limit {
		return fmt.Errorf("%w: %d are running; wait for one to finish", ErrTooManyUpdates, limit)
	}
	return nil
}

func (f *firmware) check(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy(id)
}

// start records a running update of id and runs it in the background.
func (f *firmware) start(id, user string, image []byte, downgrade bool) (FirmwareJob, error) {
	f.mu.Lock()
	if err := f.busy(id); err != nil {
		f.mu.Unlock()
		return FirmwareJob{}, err
	}
	// Finished jobs of devices that are gone would otherwise pile up
	// across reconfigurations.
	for other, j := range f.jobs {
		if j.view.State != FirmwareRunning {
			if _, ok := f.s.h.Device(other); !ok {
				delete(f.jobs, other)
			}
		}
	}
	j := &fwJob{view: FirmwareJob{Device: id, State: FirmwareRunning, Total: len(image), User: user, Started: f.s.opts.Now()}}
	f.jobs[id] = j
	f.running++
	f.wg.Add(1)
	view := j.view
	f.mu.Unlock()

	f.s.log.Info("web: firmware update started", "user", user, "device", id, "bytes", len(image))
	f.s.h.Log("info", "web", id, fmt.Sprintf("%s: firmware update (%d bytes) started by %s", id, len(image), user))
	f.s.feed.touch(id)
	go f.run(j, id, user, image, downgrade)
	return view, nil
}

func (f *firmware) run(j *fwJob, id, user string, image []byte, downgrade bool) {
	defer f.wg.Done()
	ctx, cancel := context.WithTimeout(f.ctx, f.s.opts.FirmwareTimeout)
	defer cancel()
	began := time.Now()
	err := f.call(ctx, id, image, downgrade, func(sent, total int) { f.progress(j, sent, total) })
	if err != nil && f.ctx.Err() != nil {
		err = fmt.Errorf("%w (gateway shutting down): %w", ErrClosed, err)
	} else if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("web: no result within %v: %w", f.s.opts.FirmwareTimeout, err)
	}
	took := time.Since(began)

	f.mu.Lock()
	if j.timer != nil {
		j.timer.Stop()
		j.timer = nil
	}
	v := &j.view
	v.Finished = f.s.opts.Now()
	v.Result = hub.ResultOf(err)
	if err != nil {
		v.State, v.Error = FirmwareFailed, err.Error()
	} else {
		v.State = FirmwareDone
		if v.Total > 0 {
			v.Sent = v.Total
		}
	}
	j.pushed = time.Now()
	f.running--
	f.mu.Unlock()

	if err != nil {
		f.s.log.Warn("web: firmware update failed", "user", user, "device", id, "bytes", len(image), "took", took, "err", err)
		f.s.h.Log("warn", "web", id, fmt.Sprintf("%s: firmware update by %s failed: %v", id, user, err))
	} else {
		f.s.log.Info("web: firmware update done", "user", user, "device", id, "bytes", len(image), "took", took)
		f.s.h.Log("info", "web", id, fmt.Sprintf("%s: firmware update by %s done", id, user))
	}
	f.s.feed.touch(id)
}

// call runs Options.UpdateFirmware; a panic in it fails the update rather
// than the daemon.
func (f *firmware) call(ctx context.Context, id string, image []byte, downgrade bool, progress func(int, int)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("web: firmware update of %s panicked: %v", id, p)
		}
	}()
	return f.s.opts.UpdateFirmware(ctx, id, image, downgrade, progress)
}

// progress records what the driver reported and pushes it to the feed at
// most once per progressEvery, the last value always included.
func (f *firmware) progress(j *fwJob, sent, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j.view.State != FirmwareRunning {
		return // a late call after the driver returned
	}
	total = max(total, 0)
	j.view.Total = total
	j.view.Sent = min(max(sent, 0), total)
	if j.timer != nil {
		return // a push is already on its way and will carry this value
	}
	wait := progressEvery - time.Since(j.pushed)
	if wait <= 0 {
		j.pushed = time.Now()
		f.s.feed.touch(j.view.Device)
		return
	}
	j.timer = time.AfterFunc(wait, func() {
		f.mu.Lock()
		if j.timer == nil { // stopped by the finish, which pushes itself
			f.mu.Unlock()
			return
		}
		j.timer = nil
		j.pushed = time.Now()
		id := j.view.Device
		f.mu.Unlock()
		f.s.feed.touch(id)
	})
}

// close cancels running updates and waits, for a while, for them to return
// so that their outcome is logged.
func (f *firmware) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		f.s.log.Warn("web: firmware updates did not stop within the close timeout", "wait", closeWait)
	}
}

// readImage reads a firmware upload: the raw image, nothing else.
func readImage(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/octet-stream" {
			return nil, fmt.Errorf("%w: content type %.60q; send the image as application/octet-stream", ErrUnsupportedMedia, ct)
		}
	}
	if err := limitBody(w, r, maxFirmwareBody); err != nil {
		return nil, fmt.Errorf("%w: %d bytes; a firmware image is at most %d", ErrTooLarge, r.ContentLength, maxFirmwareImage)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: over %d bytes; a firmware image is at most %d", ErrTooLarge, maxFirmwareBody, maxFirmwareImage)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: upload cut short after %d bytes", ErrBadRequest, buf.Len())
		}
		return nil, fmt.Errorf("%w: reading the image: %v", ErrBadRequest, err)
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("%w: empty body; send the firmware image file", ErrBadRequest)
	}
	return buf.Bytes(), nil
}

func (s *Server) serveFirmware(w http.ResponseWriter, r *http.Request) {
	user, d, err := s.firmwareTarget(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := d.ID
	// Refuse before reading a megabyte that would be thrown away.
	if err := s.fw.check(id); err != nil {
		s.writeError(w, r, err)
		return
	}
	image, err := readImage(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	downgrade := r.URL.Query().Get("downgrade") == "1"
	if err := s.allowInstall(user, id, image, downgrade); err != nil {
		s.writeError(w, r, err)
		return
	}
	job, err := s.fw.start(id, user, image, downgrade)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, job)
}
