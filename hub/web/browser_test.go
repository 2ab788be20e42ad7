package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
	"hubd/hub/web/webtest"
)

// chromium starts a headless Chromium for the test (webtest.Chromium).
func chromium(t *testing.T, width, height int) context.Context {
	return webtest.Chromium(t, width, height)
}

// keepScreenshot writes png into the test's temp dir, and also into
// $HUBD_SCREENSHOTS when set, so a person can look at it.
func keepScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("%s is not a PNG (%d bytes)", name, len(png))
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("HUBD_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

type css = chromedp.CSS

func signIn() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Click(css(`#signin`), chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-user`), testUser, chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-pass`), testPass, chromedp.NodeVisible),
		chromedp.Click(css(`#login-submit`), chromedp.NodeVisible),
	)
}

func TestPage_Chromium_LoginSwitchOffSeesLiveState(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	opts := Options{Name: "Demo House gateway", Version: "1.0.0", Commit: "abc123", AllowAnonymousView: true}
	fakeLinks(&opts)
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1280, 1000)

	card := `article[data-device="lamp-1"]`
	onChip2 := card + ` [data-field="on"]`
	onChip := css(onChip2)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(card))); err != nil {
		t.Fatal(err)
	}
	before, err := chromedp.Run(ctx, chromedp.Text(onChip, chromedp.NodeVisible))
	if err != nil {
		t.Fatal(err)
	}
	if before != "On" {
		t.Fatalf("lamp-1 shows %q before the command, want On", before)
	}
	// Controls stay hidden until sign-in.
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+card+` .controls').hidden`))
	if err != nil {
		t.Fatal(err)
	}
	if !hidden {
		t.Fatal("controls are shown before sign-in")
	}

	// The marker lives in the page's JS heap: a reload would erase it, so
	// seeing it next to the new state proves the state came over the feed.
	err = chromedp.Do(ctx,
		signIn(),
		chromedp.WaitVisible(css(card+` [data-action="off"]`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.__marker = 1) === 1`)(ctx, tg)
			return err
		}),
		chromedp.Click(css(card+` [data-action="off"]`), chromedp.NodeVisible),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub state of lamp-1 to be off", func() bool {
		_, snap, _ := ts.h.Snapshot("lamp-1")
		return !snap.State.On
	})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+onChip2+`').textContent === "Off" && window.__marker === 1`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+card+`').outerHTML + ' live=' + document.getElementById('live').textContent`))
		t.Fatalf("the page did not show lamp-1 off without a reload: %v\n%s", err, html)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(css(card+` .result.ok`))); err != nil {
		t.Fatalf("no result line: %v", err)
	}
	result, err := chromedp.Run(ctx, chromedp.Text(css(card+` .result`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(result, "Switch off: done") {
		t.Fatalf("result line %q does not confirm the command", result)
	}

	// A change that did not come from the page arrives live as well.
	if err := ts.h.Apply(hub.Report{Device: "lamp-1", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 33}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+card+` [data-field="brightness"]').textContent === "33 %" && window.__marker === 1`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("brightness 33 %% never showed without a reload: %v", err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "desktop.png", png)
}

func TestPage_Chromium_PhoneWidth(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	opts := Options{Name: "Demo House gateway", Version: "1.0.0", Commit: "abc123", AllowAnonymousView: true}
	fakeLinks(&opts)
	opts.SyncNow = func(context.Context) error { return nil }
	ts := newTestServer(t, opts)
	ctx := chromium(t, 375, 812)

	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(css(`article[data-device="lamp-1"]`)),
		signIn(),
		chromedp.WaitVisible(css(`article[data-device="lamp-1"] [data-action="off"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	noSidewaysScroll(t, ctx, "phone-375.png")
}

// noSidewaysScroll keeps a screenshot of the page as name and fails the
// test when the page is wider than the phone's screen.
func noSidewaysScroll(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, name, png)
	if overflow {
		t.Fatalf("the page scrolls sideways at phone width (%s)", name)
	}
}

// TestPage_Chromium_FirmwareUpdate picks an image through the card's file
// input at phone width, installs it, watches the progress bar, and sees the
// card reach "done"; a failing update shows the driver's reason.
func TestPage_Chromium_FirmwareUpdate(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	fake := newFakeUpdater(1000, true)
	opts := Options{Name: "Demo House gateway", AllowAnonymousView: true, Coalesce: 20 * time.Millisecond,
		UpdateFirmware: func(ctx context.Context, id string, image []byte, down bool, progress func(int, int)) error {
			if id == "socket-1" {
				progress(0, len(image))
				return fmt.Errorf("serial: update socket-1: %w: image is for model HL-100, device is HS-200", hub.ErrInvalidValue)
			}
			return fake.update(ctx, id, image, down, progress)
		}}
	ts := newTestServer(t, opts)
	ctx := chromium(t, 375, 812)

	img := testImage(3000)
	file := filepath.Join(t.TempDir(), "lamp-1.hfw")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	lamp := `article[data-device="lamp-1"]`
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+lamp+`').outerHTML`))
			t.Fatalf("%s: %v\n%s", what, err, html)
		}
	}
	visible := func(sel string) string {
		return `(() => { const e = document.querySelector('` + sel + `'); return !!e && e.offsetParent !== null; })()`
	}

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(css(lamp)),
	); err != nil {
		t.Fatal(err)
	}
	if shown, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](visible(lamp+` [data-action="firmware"]`))); shown {
		t.Fatal("Update firmware is offered before sign-in")
	}
	if err := chromedp.Do(ctx, signIn(), chromedp.WaitVisible(css(lamp+` [data-action="firmware"]`))); err != nil {
		t.Fatal(err)
	}
	if shown, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](visible(`article[data-device="lamp-2"] [data-action="firmware"]`))); shown {
		t.Fatal("Update firmware is offered on an MQTT device")
	}

	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(css(lamp+` input[type="file"]`), []string{file}),
		chromedp.WaitVisible(css(lamp+` [data-action="firmware-install"]`)),
	); err != nil {
		t.Fatal(err)
	}
	confirm, err := chromedp.Run(ctx, chromedp.Text(css(lamp+` .fw-confirm`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(confirm, "lamp-1.hfw") || !strings.Contains(confirm, "2.9 KiB") {
		t.Fatalf("confirmation %q does not name the file and its size", confirm)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(lamp+` [data-action="firmware-install"]`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	// The fake holds after the first 1000 bytes: the bar must show them.
	status := lamp + ` [data-field="firmware"]`
	poll("progress bar at 1000 of 3000", `(() => { const s = document.querySelector('`+status+`');
		return s && !s.hidden && s.dataset.state === 'running' && s.querySelector('progress').value === 1000 &&
			s.querySelector('progress').max === 3000 && s.textContent.includes('33\u00a0%'); })()`)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "phone-375-firmware.png", png)
	if overflow {
		t.Fatal("the page scrolls sideways at 375 px during a firmware update")
	}

	close(fake.gate)
	poll("the card to reach done", `(() => { const s = document.querySelector('`+status+`');
		return s.dataset.state === 'done' && s.textContent.includes('Firmware update done'); })()`)
	if got, _ := fake.got(); !bytes.Equal(got, img) {
		t.Fatalf("the driver got %d bytes that differ from the file", len(got))
	}

	socket := `article[data-device="socket-1"]`
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(css(socket+` input[type="file"]`), []string{file}),
		chromedp.Click(css(socket+` [data-action="firmware-install"]`), chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	poll("the failure on the socket's card", `(() => { const s = document.querySelector('`+socket+` [data-field="firmware"]');
		return s && s.dataset.state === 'failed' && s.textContent.includes('device is HS-200'); })()`)
}
