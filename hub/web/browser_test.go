package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// chromium starts a headless Chromium for the test, or skips with the
// command that installs it.
func chromium(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("needs Chromium: apt-get update && apt-get install -y chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelT()
		cancelC()
		cancelA()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
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
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "phone-375.png", png)
	if overflow {
		t.Fatal("the page scrolls sideways at 375 px")
	}
}
