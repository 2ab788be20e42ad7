package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hubd/hub"
)

// fakeUpdater stands in for (*serial.Driver).UpdateFirmware: it confirms the
// image in chunks through progress, stops after the first chunk until gate
// is closed (when gate is set), and then returns fail.
type fakeUpdater struct {
	chunk int
	gate  chan struct{}
	fail  error

	calls     atomic.Int64
	progress  atomic.Int64
	downgrade atomic.Bool // the last call allowed a downgrade
	mu        sync.Mutex
	image     []byte
	ctxErr    error // ctx.Err() when the update ended
}

func newFakeUpdater(chunk int, gated bool) *fakeUpdater {
	f := &fakeUpdater{chunk: chunk}
	if gated {
		f.gate = make(chan struct{})
	}
	return f
}

func (f *fakeUpdater) update(ctx context.Context, id string, image []byte, downgrade bool, progress func(sent, total int)) error {
	f.calls.Add(1)
	f.downgrade.Store(downgrade)
	f.mu.Lock()
	f.image = bytes.Clone(image)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.ctxErr = ctx.Err()
		f.mu.Unlock()
	}()
	report := func(sent int) {
		f.progress.Add(1)
		progress(sent, len(image))
	}
	for sent, first := min(f.chunk, len(image)), true; ; sent = min(sent+f.chunk, len(image)) {
		report(sent)
		if first && f.gate != nil {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return fmt.Errorf("serial: update %s: %w: %w", id, hub.ErrUnreachable, ctx.Err())
			}
		}
		first = false
		if sent == len(image) {
			break
		}
	}
	return f.fail
}

func (f *fakeUpdater) got() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.image, f.ctxErr
}

// syncBuffer is a log sink safe for the update goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func firmwareServer(t *testing.T, fake *fakeUpdater, opts Options) (*testServer, *browser) {
	t.Helper()
	opts.AllowAnonymousView = true
	if fake != nil {
		opts.UpdateFirmware = fake.update
	}
	ts := newTestServer(t, opts)
	b := newBrowser(t, ts.url)
	if resp := b.login(testUser, testPass); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return ts, b
}

func testImage(n int) []byte {
	img := make([]byte, n)
	for i := range img {
		img[i] = byte(i*7 + i>>8)
	}
	return img
}

// upload posts image the way the page does.
func (b *browser) upload(id string, image []byte, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	h := map[string]string{"Content-Type": "application/octet-stream"}
	for k, v := range hdr {
		h[k] = v
	}
	return b.do("POST", "/api/devices/"+id+"/firmware", string(image), h)
}

// firmwareOf reads device id's firmware_update from /api/status.
func firmwareOf(t testing.TB, b *browser, id string) (DeviceView, *FirmwareJob) {
	t.Helper()
	resp, body := b.do("GET", "/api/status", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	var st Status
	mustJSON(t, body, &st)
	for _, d := range st.Devices {
		if d.ID == id {
			return d, d.FirmwareUpdate
		}
	}
	t.Fatalf("%s not in /api/status", id)
	return DeviceView{}, nil
}

func waitJob(t testing.TB, b *browser, id, what string, cond func(j *FirmwareJob) bool) *FirmwareJob {
	t.Helper()
	var j *FirmwareJob
	waitFor(t, what, func() bool {
		_, j = firmwareOf(t, b, id)
		return j != nil && cond(j)
	})
	return j
}

func hasEvent(h *echoHub, parts ...string) bool {
	for _, ev := range h.Events() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(ev.Text, p)
		}
		if all {
			return true
		}
	}
	return false
}

func TestFirmware_Upload_RefusedWithoutLoginCSRFOrSameOrigin(t *testing.T) {
	fake := newFakeUpdater(64, false)
	ts, b := firmwareServer(t, fake, Options{})
	anon := newBrowser(t, ts.url)
	img := testImage(256)
	for _, tc := range []struct {
		name string
		b    *browser
		hdr  map[string]string
		code int
	}{
		{"no session", anon, nil, http.StatusUnauthorized},
		{"made-up cookie", anon, map[string]string{"Cookie": cookieName + "=forged", csrfHeader: "x"}, http.StatusUnauthorized},
		{"missing csrf token", b, map[string]string{csrfHeader: ""}, http.StatusForbidden},
		{"wrong csrf token", b, map[string]string{csrfHeader: "AAAA" + b.csrf[4:]}, http.StatusForbidden},
		{"foreign origin", b, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"foreign referer", b, map[string]string{"Origin": "", "Referer": "http://evil.example/x"}, http.StatusForbidden},
		{"sec-fetch-site cross-site", b, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.b.upload("lamp-1", img, tc.hdr)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
		})
	}
	if n := fake.calls.Load(); n != 0 {
		t.Fatalf("a refused upload reached the driver %d times", n)
	}
	if _, j := firmwareOf(t, b, "lamp-1"); j != nil {
		t.Fatalf("a refused upload left a job: %+v", j)
	}
	// The page's own request goes through.
	if resp, body := b.upload("lamp-1", img, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("genuine upload: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "lamp-1", "the update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
}

func TestFirmware_Upload_RefusesBadRequests(t *testing.T) {
	fake := newFakeUpdater(4096, false)
	ts, b := firmwareServer(t, fake, Options{})
	for _, tc := range []struct {
		name, id string
		body     []byte
		hdr      map[string]string
		code     int
	}{
		{"empty body", "lamp-1", nil, nil, http.StatusBadRequest},
		{"over the limit", "lamp-1", testImage(maxFirmwareBody + 1), nil, http.StatusRequestEntityTooLarge},
		{"two megabytes", "lamp-1", testImage(2 << 20), nil, http.StatusRequestEntityTooLarge},
		{"json body", "lamp-1", []byte(`{"image":"x"}`), map[string]string{"Content-Type": "application/json"}, http.StatusUnsupportedMediaType},
		{"form post", "lamp-1", []byte("csrf=x&a=b"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"garbage content type", "lamp-1", testImage(10), map[string]string{"Content-Type": ";;;"}, http.StatusUnsupportedMediaType},
		{"unknown device", "nope", testImage(10), nil, http.StatusNotFound},
		{"mqtt device", "lamp-2", testImage(10), nil, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.upload(tc.id, tc.body, tc.hdr)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%.200s), want %d", resp.StatusCode, body, tc.code)
			}
			var eb errorBody
			mustJSON(t, body, &eb)
			if !strings.HasPrefix(eb.Error, "web: ") && !strings.HasPrefix(eb.Error, "hub: ") {
				t.Fatalf("error %q does not name its package", eb.Error)
			}
		})
	}

	// A chunked upload has no Content-Length: the limit holds while reading.
	req, _ := http.NewRequest("POST", ts.url+"/api/devices/lamp-1/firmware",
		io.MultiReader(bytes.NewReader(testImage(maxFirmwareBody)), strings.NewReader("more")))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Origin", b.origin)
	req.Header.Set(csrfHeader, b.csrf)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize upload: %d, want 413", resp.StatusCode)
	}
	if n := fake.calls.Load(); n != 0 {
		t.Fatalf("a refused upload reached the driver %d times", n)
	}

	// An upload cut short (the phone lost Wi-Fi) gets a clear 400.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/devices/lamp-1/firmware HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nCookie: %s=%s\r\n%s: %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: 5000\r\n\r\n%s",
		strings.TrimPrefix(ts.url, "http://"), b.origin, cookieName, b.cookie().Value, csrfHeader, b.csrf, testImage(1200))
	conn.(*net.TCPConn).CloseWrite()
	cut, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	cutBody, _ := io.ReadAll(cut.Body)
	if cut.StatusCode != http.StatusBadRequest || !strings.Contains(string(cutBody), "cut short after 1200 bytes") {
		t.Fatalf("truncated upload: %d %s, want 400 naming the cut", cut.StatusCode, cutBody)
	}

	// Exactly 1 MiB is a valid size, and it arrives intact.
	img := testImage(maxFirmwareImage)
	if resp, body := b.upload("socket-1", img, map[string]string{"Content-Type": ""}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("1 MiB upload without a content type: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "socket-1", "the update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
	if got, _ := fake.got(); !bytes.Equal(got, img) {
		t.Fatalf("the driver got %d bytes that differ from the %d uploaded", len(got), len(img))
	}
}

func TestFirmware_Off_Answers404AndShowsNothing(t *testing.T) {
	_, b := firmwareServer(t, nil, Options{})
	resp, body := b.upload("lamp-1", testImage(100), nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("upload with the feature off: %d %s, want 404", resp.StatusCode, body)
	}
	_, body = b.do("GET", "/api/status", "", nil)
	if strings.Contains(body, "firmware_update") || !strings.Contains(body, `"firmware":false`) {
		t.Fatalf("status offers firmware updates while they are off: %s", body)
	}
}

func TestFirmware_Capable_FollowsOption(t *testing.T) {
	fake := newFakeUpdater(64, false)
	_, b := firmwareServer(t, fake, Options{FirmwareCapable: func(d hub.Device) bool { return d.ID == "lamp-2" }})
	for id, want := range map[string]bool{"lamp-1": false, "socket-1": false, "lamp-2": true} {
		if d, _ := firmwareOf(t, b, id); d.FirmwareUpdatable != want {
			t.Errorf("%s firmware_updatable=%v, want %v", id, d.FirmwareUpdatable, want)
		}
	}
	if resp, body := b.upload("lamp-1", testImage(100), nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("update of a device the option excludes: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.upload("lamp-2", testImage(100), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("update of the device the option includes: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "lamp-2", "the update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
}

func TestFirmware_Update_ProgressInStatusAndFeed(t *testing.T) {
	fake := newFakeUpdater(1000, true)
	var logs syncBuffer
	ts, b := firmwareServer(t, fake, Options{Coalesce: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sse := openSSE(t, ts.url, nil)
	sse.next(t, "snapshot")

	img := testImage(4000)
	resp, body := b.upload("lamp-1", img, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var job FirmwareJob
	mustJSON(t, body, &job)
	if job.Device != "lamp-1" || job.State != FirmwareRunning || job.Total != len(img) || job.User != testUser || job.Started.IsZero() {
		t.Fatalf("202 body %+v", job)
	}

	// The fake stops after confirming the first 1000 bytes.
	j := waitJob(t, b, "lamp-1", "1000 bytes in /api/status", func(j *FirmwareJob) bool { return j.Sent == 1000 })
	if j.State != FirmwareRunning || j.Total != 4000 || !j.Finished.IsZero() {
		t.Fatalf("running job %+v", j)
	}
	var d DeviceView
	for d.FirmwareUpdate == nil || d.FirmwareUpdate.Sent != 1000 {
		mustJSON(t, sse.next(t, "device").data, &d)
	}
	if d.ID != "lamp-1" || d.FirmwareUpdate.State != FirmwareRunning {
		t.Fatalf("feed: %+v", d.FirmwareUpdate)
	}

	// One update per device at a time; other devices may start theirs.
	resp, body = b.upload("lamp-1", img, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already running") {
		t.Fatalf("second update of lamp-1: %d %s, want 409", resp.StatusCode, body)
	}
	if n := fake.calls.Load(); n != 1 {
		t.Fatalf("driver called %d times, want 1", n)
	}

	close(fake.gate)
	for d.FirmwareUpdate == nil || d.FirmwareUpdate.State == FirmwareRunning {
		mustJSON(t, sse.next(t, "device").data, &d)
	}
	if f := d.FirmwareUpdate; f.State != FirmwareDone || f.Sent != 4000 || f.Result != "ok" || f.Error != "" || f.Finished.IsZero() {
		t.Fatalf("feed after the update: %+v", f)
	}
	j = waitJob(t, b, "lamp-1", "done in /api/status", func(j *FirmwareJob) bool { return j.State != FirmwareRunning })
	if j.State != FirmwareDone || j.Sent != j.Total {
		t.Fatalf("status after the update: %+v", j)
	}
	if got, _ := fake.got(); !bytes.Equal(got, img) {
		t.Fatal("the driver got another image than the one uploaded")
	}
	if !hasEvent(ts.h, "lamp-1", "started by "+testUser) || !hasEvent(ts.h, "lamp-1", "by "+testUser+" done") {
		t.Fatalf("events lack the start or finish with the user: %+v", ts.h.Events())
	}
	for _, want := range []string{"firmware update started", "firmware update done"} {
		if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "user="+testUser) {
			t.Fatalf("log lacks %q with the user:\n%s", want, logs.String())
		}
	}
	// A finished update does not block the next one.
	if resp, body := b.upload("lamp-1", img, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("update after a finished one: %d %s", resp.StatusCode, body)
	}
}

func TestFirmware_Update_FailureTextShown(t *testing.T) {
	fake := newFakeUpdater(512, false)
	fake.fail = fmt.Errorf("serial: update lamp-1: %w: new firmware failed to boot; device rolled back to 1.4.2", hub.ErrInvalidValue)
	var logs syncBuffer
	ts, b := firmwareServer(t, fake, Options{Coalesce: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sse := openSSE(t, ts.url, nil)
	sse.next(t, "snapshot")
	if resp, body := b.upload("lamp-1", testImage(2048), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	j := waitJob(t, b, "lamp-1", "the update to end", func(j *FirmwareJob) bool { return j.State != FirmwareRunning })
	if j.State != FirmwareFailed || j.Result != "invalid_value" || !strings.Contains(j.Error, "rolled back to 1.4.2") || j.Finished.IsZero() {
		t.Fatalf("failed job %+v", j)
	}
	var d DeviceView
	for d.FirmwareUpdate == nil || d.FirmwareUpdate.State == FirmwareRunning {
		mustJSON(t, sse.next(t, "device").data, &d)
	}
	if d.FirmwareUpdate.State != FirmwareFailed || d.FirmwareUpdate.Error != j.Error {
		t.Fatalf("feed shows %+v, want the failure", d.FirmwareUpdate)
	}
	if !hasEvent(ts.h, "lamp-1", testUser, "failed", "rolled back") {
		t.Fatalf("no event with the failure and the user: %+v", ts.h.Events())
	}
	if l := logs.String(); !strings.Contains(l, "firmware update failed") || !strings.Contains(l, "user="+testUser) {
		t.Fatalf("log lacks the failure with the user:\n%s", l)
	}
}

// TestFirmware_Update_OddDriversFailCleanly: a driver that panics or
// reports nonsense progress ends the update, not the daemon.
func TestFirmware_Update_OddDriversFailCleanly(t *testing.T) {
	var mode atomic.Int32
	update := func(ctx context.Context, id string, image []byte, _ bool, progress func(int, int)) error {
		switch mode.Load() {
		case 0:
			panic("driver bug")
		default:
			progress(-5, -1)
			progress(len(image)*3, len(image))
			return nil
		}
	}
	_, b := firmwareServer(t, nil, Options{UpdateFirmware: update})
	b.upload("lamp-1", testImage(100), nil)
	j := waitJob(t, b, "lamp-1", "the panicking update to end", func(j *FirmwareJob) bool { return j.State != FirmwareRunning })
	if j.State != FirmwareFailed || !strings.Contains(j.Error, "panicked") {
		t.Fatalf("job after a panic: %+v", j)
	}
	mode.Store(1)
	b.upload("lamp-1", testImage(100), nil)
	j = waitJob(t, b, "lamp-1", "the second update to end", func(j *FirmwareJob) bool { return j.State != FirmwareRunning && j.Error == "" })
	if j.State != FirmwareDone || j.Sent != 100 || j.Total != 100 {
		t.Fatalf("job with out-of-range progress: %+v", j)
	}
}

// TestFirmware_Update_ThrottlesProgressPushes: a driver reporting every
// chunk does not flood the feed, and the last value is still pushed while
// the update runs on.
func TestFirmware_Update_ThrottlesProgressPushes(t *testing.T) {
	steps := make(chan int)
	update := func(ctx context.Context, id string, image []byte, _ bool, progress func(int, int)) error {
		for {
			select {
			case v, ok := <-steps:
				if !ok {
					return nil
				}
				progress(v, len(image))
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	ts, b := firmwareServer(t, nil, Options{UpdateFirmware: update, Coalesce: 10 * time.Millisecond})
	sse := openSSE(t, ts.url, nil)
	sse.next(t, "snapshot")
	if resp, body := b.upload("lamp-1", testImage(5000), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	// until returns how many lamp-1 views came before one with sent == n.
	until := func(n int) int {
		pushes := 0
		for {
			var d DeviceView
			mustJSON(t, sse.next(t, "device").data, &d)
			if d.ID != "lamp-1" || d.FirmwareUpdate == nil {
				continue
			}
			pushes++
			if f := d.FirmwareUpdate; f.Sent == n {
				if f.State != FirmwareRunning {
					t.Fatalf("sent=%d came with state %s", n, f.State)
				}
				return pushes
			}
		}
	}
	steps <- 1
	until(1)

	start := time.Now()
	const n = 2000
	for i := 2; i <= n; i++ {
		steps <- i
	}
	// Nothing follows the last report: only a trailing push can carry it.
	pushes := until(n)
	elapsed := time.Since(start)
	if limit := 2 + int(elapsed/progressEvery); pushes > limit {
		t.Fatalf("%d progress reports over %v made %d pushes, want at most %d", n-1, elapsed, pushes, limit)
	}
	close(steps)
	waitJob(t, b, "lamp-1", "the update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
}

func TestFirmware_Update_LimitsConcurrentUpdates(t *testing.T) {
	fake := newFakeUpdater(10, true)
	_, b := firmwareServer(t, fake, Options{MaxFirmwareUpdates: 1})
	if resp, body := b.upload("lamp-1", testImage(100), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %d %s", resp.StatusCode, body)
	}
	resp, body := b.upload("socket-1", testImage(100), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many") {
		t.Fatalf("second device while the cap is reached: %d %s, want 503", resp.StatusCode, body)
	}
	close(fake.gate)
	waitJob(t, b, "lamp-1", "the first update to finish", func(j *FirmwareJob) bool { return j.State == FirmwareDone })
	if resp, body := b.upload("socket-1", testImage(100), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second device after the first finished: %d %s", resp.StatusCode, body)
	}
}

func TestFirmware_Update_HitsDeadline(t *testing.T) {
	fake := newFakeUpdater(10, true) // never released
	_, b := firmwareServer(t, fake, Options{FirmwareTimeout: 200 * time.Millisecond})
	b.upload("lamp-1", testImage(100), nil)
	j := waitJob(t, b, "lamp-1", "the update to time out", func(j *FirmwareJob) bool { return j.State != FirmwareRunning })
	if j.State != FirmwareFailed || j.Result != "unreachable" || !strings.Contains(j.Error, "no result within 200ms") {
		t.Fatalf("timed-out job %+v", j)
	}
	if _, ctxErr := fake.got(); !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Fatalf("driver context ended with %v, want the deadline", ctxErr)
	}
}

func TestFirmware_Close_CancelsRunningUpdate(t *testing.T) {
	fake := newFakeUpdater(10, true) // never released
	ts, b := firmwareServer(t, fake, Options{})
	if resp, body := b.upload("lamp-1", testImage(100), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	waitJob(t, b, "lamp-1", "the first chunk", func(j *FirmwareJob) bool { return j.Sent == 10 })
	// The request that started the update has long ended; only Close stops it.
	ts.Close()
	_, ctxErr := fake.got()
	if !errors.Is(ctxErr, context.Canceled) {
		t.Fatalf("after Close the driver's context says %v, want canceled", ctxErr)
	}
	j, ok := ts.fw.job("lamp-1")
	if !ok || j.State != FirmwareFailed || !strings.Contains(j.Error, "shutting down") {
		t.Fatalf("job after Close: %+v", j)
	}
	if !hasEvent(ts.h, "lamp-1", "failed", "shutting down") {
		t.Fatal("no event says the update was cut by the shutdown")
	}
	if resp, body := b.upload("socket-1", testImage(100), nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upload after Close: %d %s, want 503", resp.StatusCode, body)
	}
}
