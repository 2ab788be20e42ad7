package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPage_Chromium_FirmwareConfirmShowsVersionsAndGuardsDowngrade picks an
// older image on a phone: the confirm step names the image's model and
// version and the version the lamp runs, Install stays disabled until the
// downgrade box is ticked, and the driver is then told the downgrade is
// allowed.
func TestPage_Chromium_FirmwareConfirmShowsVersionsAndGuardsDowngrade(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	fake := newFakeUpdater(1000, false)
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 20 * time.Millisecond,
		UpdateFirmware: fake.update, InspectFirmware: testInspect})
	ctx := chromium(t, 375, 812)
	file := filepath.Join(t.TempDir(), "lamp-old.hfw")
	if err := os.WriteFile(file, fwImage("lamp", "1.3.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	lamp := `article[data-device="lamp-1"]`
	install := css(lamp + ` [data-action="firmware-install"]`)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(css(lamp)),
		signIn(),
		chromedp.WaitVisible(css(lamp+` [data-action="firmware"]`)),
		chromedp.SetUploadFiles(css(lamp+` input[type="file"]`), []string{file}),
		chromedp.WaitVisible(css(lamp+` [data-action="firmware-downgrade"]`)),
	); err != nil {
		t.Fatal(err)
	}
	confirm, err := chromedp.Run(ctx, chromedp.Text(css(lamp+` .fw-confirm`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lamp 1.3.0", "runs 1.4.2", "downgrade 1.4.2 \u2192 1.3.0"} {
		if !strings.Contains(confirm, want) {
			t.Errorf("confirm step %q lacks %q", confirm, want)
		}
	}
	disabled := `document.querySelector('` + lamp + ` [data-action="firmware-install"]').disabled`
	if d, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](disabled)); !d {
		t.Fatal("Install is enabled for an older image before the downgrade box is ticked")
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "phone-375-firmware-downgrade.png", png)
	if err := chromedp.Do(ctx,
		chromedp.Click(css(lamp+` [data-action="firmware-downgrade"]`), chromedp.NodeVisible),
		chromedp.Click(install, chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forced downgrade to reach the driver", func() bool { return fake.calls.Load() == 1 })
	if !fake.downgrade.Load() {
		t.Fatal("the page installed the older image without allowing the downgrade")
	}
	if !hasEvent(ts.h, "downgrade 1.4.2 -> 1.3.0 forced by "+testUser) {
		t.Fatal("the forced downgrade is not in the event log")
	}
}

// TestPage_Chromium_FirmwareInRussian: under ?lang=ru (an English browser)
// the firmware part of a card speaks Russian: the button, the confirm step
// and the image's particulars.
func TestPage_Chromium_FirmwareInRussian(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	fake := newFakeUpdater(1000, false)
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 20 * time.Millisecond,
		UpdateFirmware: fake.update, InspectFirmware: testInspect})
	ctx := chromium(t, 1280, 900)
	file := filepath.Join(t.TempDir(), "lamp-new.hfw")
	if err := os.WriteFile(file, fwImage("lamp", "1.5.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	lamp := `article[data-device="lamp-1"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/?lang=ru"),
		chromedp.WaitVisible(css(lamp)),
		signIn(),
		chromedp.WaitVisible(css(lamp+` [data-action="firmware"]`)),
		chromedp.SetUploadFiles(css(lamp+` input[type="file"]`), []string{file}),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+lamp+` [data-field="firmware-versions"]').textContent !== ''`, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatal("the image's particulars never showed: ", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang + '|' +
		document.querySelector('`+lamp+` [data-action="firmware"]').textContent + '|' +
		document.querySelector('`+lamp+` .fw-confirm').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ru|", "Обновить прошивку|", "Установить lamp-new.hfw", "Образ: lamp 1.5.0", "работает на 1.4.2 \u2192 1.5.0", "Отмена"} {
		if !strings.Contains(got, want) {
			t.Errorf("the Russian firmware part %q lacks %q", got, want)
		}
	}
	for _, english := range []string{"Install", "Update firmware", "Image:", "runs"} {
		if strings.Contains(got, english) {
			t.Errorf("the Russian firmware part %q still says %q", got, english)
		}
	}
}
