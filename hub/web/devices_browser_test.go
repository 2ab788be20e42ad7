package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// TestPage_Chromium_FindsOneDeviceAmongThousandsAndSeesItLive: at 375 px,
// with 3,000 devices, the list shows a page; a room of the site tree lists
// its devices; a search finds a device far from the first page, and a
// change of that device shows without a reload; with "Only problems", a
// device that fails off the page joins the list, and a summary of more
// problems than it lists says how many more.
func TestPage_Chromium_FindsOneDeviceAmongThousandsAndSeesItLive(t *testing.T) {
	t.Parallel()             // its own server and Chromium: the waits overlap
	h := hotel(t, 3, 50, 20) // 3,000 devices in 150 rooms
	ts := serveHub(t, h, Options{AllowAnonymousView: true, Coalesce: testCoalesce})
	ctx := chromium(t, 375, 812)
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('devices').innerText.slice(0, 600)`))
			t.Fatalf("%s: %v\n%s", what, err, state)
		}
	}
	cards := `document.querySelectorAll('#dev-list article').length`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(css(`article[data-device="r101-d0"]`)),
	); err != nil {
		t.Fatal(err)
	}
	poll("the first page of 3000", cards+` === 50 && document.getElementById('dev-count').textContent === '(3000)' &&
		document.getElementById('pager-range').textContent === '1–50 of 3000' && !document.getElementById('pager').hidden`)

	if err := chromedp.Do(ctx, chromedp.Click(css(`button[data-node="room-205"]`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	poll("room 205's devices", cards+` === 20 && !!document.querySelector('article[data-device="r205-d0"]') &&
		document.getElementById('room-filter').textContent.includes('Room 205')`)
	if err := chromedp.Do(ctx, chromedp.Click(css(`#room-filter`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	poll("every room again", cards+` === 50 && !!document.querySelector('article[data-device="r101-d0"]')`)

	card := `article[data-device="r342-d6"]`
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`#filter`), "r342-d6", chromedp.NodeVisible),
		chromedp.WaitVisible(css(card)),
	); err != nil {
		t.Fatal(err)
	}
	poll("only the device searched for", cards+` === 1 && document.querySelector('`+card+` .card-title').textContent === 'Room 342 lamp 6'`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('filter').value = '') === ''`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(css(`#filter`), "room 342 LAMP 6", chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	poll("found by its name", `!!document.querySelector('`+card+`') && !document.querySelector('article[data-device="r101-d0"]') &&
		[...document.querySelectorAll('#dev-list article .card-title')].every(e => e.textContent.startsWith('Room 342 lamp'))`)

	// The marker lives in the page's JS heap: seeing it next to the new
	// state proves the state came over the feed, not a reload.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.__marker = 1) === 1`)); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(hub.Report{Device: "r342-d6", State: hub.State{Set: hub.Fields(hub.FieldBrightness), Brightness: 77}}); err != nil {
		t.Fatal(err)
	}
	poll("the change live", `document.querySelector('`+card+` [data-field="brightness"]').textContent === '77 %' && window.__marker === 1`)
	noSidewaysScroll(t, ctx, "phone-375-3000-devices.png")

	// Only problems, with none: then a lamp fails off the page, and the
	// gateway's hint brings it onto the list.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('filter').value = '') === ''`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(css(`#filter`), "room", chromedp.NodeVisible), chromedp.Click(css(`#problems-only`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	poll("no problems", cards+` === 0 && document.getElementById('dev-count').textContent === '(0)'`)
	if err := h.Apply(hub.Report{Device: "r250-d2", Avail: hub.AvailOffline, Cause: &hub.Cause{Code: hub.CauseWill}}); err != nil {
		t.Fatal(err)
	}
	poll("the failed lamp on the list", cards+` === 1 && document.querySelector('article[data-device="r250-d2"]').classList.contains('bad') &&
		!!document.querySelector('#summary-list li[data-device="r250-d2"]') && window.__marker === 1`)
	// More failures than the summary lists: it says how many more.
	for i := range 24 {
		if err := h.Apply(hub.Report{Device: fmt.Sprintf("r3%02d-d0", i+1), Avail: hub.AvailOffline}); err != nil {
			t.Fatal(err)
		}
	}
	poll("25 problems", `document.getElementById('dev-count').textContent === '(25)' &&
		document.querySelectorAll('#summary-list li[data-device]').length === 20 &&
		document.querySelector('#summary-list [data-action="all-problems"]').textContent.startsWith('5 more')`)
}
