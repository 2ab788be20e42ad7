package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// The bounds the page is held to, from the moment the hub knows a thing:
//   - a device's diagnosis, and the header's verdict that comes with it,
//     arrive with the device's change, within Options.Coalesce (20 ms here);
//   - a link's state (a bus closed, a broker gone) without a device change
//     arrives with the next heartbeat, within heartbeatEvery (2 s);
//   - a silent feed is noticed within 2*heartbeatEvery + 1 s, and shown at
//     the page's next one-second tick.
//
// The polls wait the bound plus pageSlack, for a browser on a loaded
// machine; each logs how long it took.
const (
	testCoalesce = 20 * time.Millisecond
	pageSlack    = 3 * time.Second
)

// pageRig is a status page in a real Chromium, behind a proxy that can
// freeze or restart the "daemon".
type pageRig struct {
	t     *testing.T
	ts    *testServer
	links *switchableLinks
	proxy *gateProxy
	ctx   context.Context
	width int
	shots string
}

// newPageRig opens the page at width; acceptLanguage, if set, is the
// browser's Accept-Language; mods change the server's options.
func newPageRig(t *testing.T, width int, acceptLanguage string, mods ...func(*Options)) *pageRig {
	t.Helper()
	links := &switchableLinks{}
	opts := Options{Name: "Demo House gateway", Version: "1.0.0", AllowAnonymousView: true, Coalesce: testCoalesce}
	links.install(&opts)
	for _, m := range mods {
		m(&opts)
	}
	ts := newTestServer(t, opts)
	// Every device answers at first: the page starts healthy.
	if err := ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline}); err != nil {
		t.Fatal(err)
	}
	r := &pageRig{t: t, ts: ts, links: links, proxy: newGateProxy(t, ts.ts.Listener.Addr().String()), width: width}
	r.ctx = chromium(t, width, 900)
	r.shots = fmt.Sprintf("w%d", width)
	if acceptLanguage != "" {
		if _, err := chromedp.Call(r.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": acceptLanguage}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(r.ctx,
		chromedp.EmulateViewport(int64(width), 900),
		chromedp.Navigate(r.proxy.url()+"/"),
		chromedp.WaitVisible(css(`article[data-device="lamp-1"]`)),
	); err != nil {
		t.Fatal(err)
	}
	r.poll("the healthy start", `document.getElementById('health').dataset.state === 'healthy'`, heartbeatEvery)
	return r
}

// poll waits until the page expression holds, within bound plus slack.
func (r *pageRig) poll(what, expr string, bound time.Duration) {
	r.t.Helper()
	start := time.Now()
	if _, err := chromedp.Run(r.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(bound+pageSlack))); err != nil {
		html, _ := chromedp.Run(r.ctx, chromedp.Evaluate[string](`document.getElementById('top').innerText + '\n---\n' +
			document.getElementById('summary').innerText`))
		r.t.Fatalf("%s (bound %v): %v\n%s", what, bound, err, html)
	}
	r.t.Logf("%s: %v (bound %v)", what, time.Since(start).Round(time.Millisecond), bound)
}

func (r *pageRig) text(sel string) string {
	r.t.Helper()
	s, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector('`+sel+`'); return e ? e.innerText : ''; })()`))
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *pageRig) screenshot(name string) {
	r.t.Helper()
	png, err := chromedp.Run(r.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		r.t.Fatal(err)
	}
	keepScreenshot(r.t, r.shots+"-"+name+".png", png)
}

// expectCause waits for device id's card and the summary to show the
// diagnosis code with text containing want, and the header not healthy.
func (r *pageRig) expectCause(id, code, want string, bound time.Duration) {
	r.t.Helper()
	card := `article[data-device="` + id + `"]`
	r.poll(id+" card shows "+code, `(() => { const d = document.querySelector('`+card+` [data-field="diagnosis"]');
		return !!d && d.dataset.cause === '`+code+`' && d.innerText.includes(`+quoteJS(want)+`); })()`, bound)
	r.poll(id+" in the summary", `(() => { const p = document.querySelector('#summary-list li[data-device="`+id+`"]');
		return !!p && p.innerText.includes(`+quoteJS(want)+`); })()`, bound)
	if state := r.text(`#health`); state == "Healthy" {
		r.t.Fatalf("header says %q while %s has %s", state, id, code)
	}
	r.poll(id+" card not green", `!document.querySelector('`+card+`').classList.contains('ok')`, bound)
}

func quoteJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func noReplyCause(addr string) *hub.Cause {
	return &hub.Cause{Code: hub.CauseNoReply, Params: map[string]string{"bus": "bus0", "address": addr},
		Raw: "device " + addr + ", POLL: serial: no reply"}
}

// TestPage_Chromium_DiagnosesAndRecovery walks each failure a technician
// meets, at phone and laptop widths: the card and the summary name the
// cause within the bound, the header is not Healthy, and recovery clears
// it all. Screenshots of each state are kept in the test's temp dir.
func TestPage_Chromium_DiagnosesAndRecovery(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	for _, width := range []int{375, 1280} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			r := newPageRig(t, width, "")
			h := r.ts.h.Hub

			// A serial device falls silent.
			h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline, Cause: noReplyCause("1")})
			r.expectCause("lamp-1", "no_reply", "No reply at bus0 address 1", testCoalesce)
			r.poll("header counts 4 of 5", `document.getElementById('hdr-online').textContent === '4 of 5 online'`, testCoalesce)
			r.poll("lamp-1 last-known state greyed with its age", `(() => {
				const s = document.querySelector('article[data-device="lamp-1"] .state');
				return s.classList.contains('last-known') && s.innerText.includes('Last known,'); })()`, testCoalesce)
			r.screenshot("no-reply")

			// Noise on the line: the socket still answers, with a warning.
			h.Apply(hub.Report{Device: "socket-1", Avail: hub.AvailOnline, Link: &hub.Link{CRCErrors: 12, Timeouts: 1},
				Cause: &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{"bus": "bus0", "address": "2", "count": "12"}, Raw: "12 corrupt frames"}})
			r.expectCause("socket-1", "crc_errors", "CRC errors rising on bus0 at address 2", testCoalesce)
			if link := r.text(`article[data-device="socket-1"] [data-field="link"]`); !strings.Contains(link, "1 timeouts, 12 CRC errors") {
				t.Errorf("socket-1 link quality %q", link)
			}
			// Details opened by the technician stay open while the card
			// updates under them.
			if err := chromedp.Do(r.ctx, chromedp.Click(css(`article[data-device="socket-1"] details.raw summary`), chromedp.NodeVisible)); err != nil {
				t.Fatal(err)
			}
			h.Apply(hub.Report{Device: "socket-1", State: hub.State{Set: hub.Fields(hub.FieldPower), Power: 7}, Link: &hub.Link{CRCErrors: 13},
				Cause: &hub.Cause{Code: hub.CauseCRC, Params: map[string]string{"bus": "bus0", "address": "2", "count": "13"}, Raw: "13 corrupt frames"}})
			r.poll("details still open after an update", `(() => { const c = document.querySelector('article[data-device="socket-1"]');
				return c.innerText.includes('13 so far') && c.innerText.includes('7.0 W') && c.querySelector('details.raw').open; })()`, testCoalesce)

			// The broker goes: every MQTT device with it, the link too.
			r.links.brokerUp.Store(false)
			brokerDown(t, h)
			r.expectCause("lamp-2", "broker_down", "MQTT broker 127.0.0.1:1883 down", testCoalesce)
			r.poll("summary names the broker", `document.querySelector('#summary-list li[data-kind="broker"]') !== null`, heartbeatEvery)
			r.poll("header degraded, 1 of 5", `document.getElementById('health').dataset.state === 'degraded' &&
				document.getElementById('hdr-online').textContent === '1 of 5 online'`, testCoalesce)
			r.screenshot("broker-down")

			// An MQTT lamp loses power: its will.
			r.links.brokerUp.Store(true)
			h.Apply(hub.Report{Device: "lamp-2", Avail: hub.AvailOnline})
			h.Apply(hub.Report{Device: "lamp-2", Avail: hub.AvailOffline, Cause: &hub.Cause{Code: hub.CauseWill}})
			r.expectCause("lamp-2", "will", "lost power or its network", testCoalesce)

			// The serial adapter is pulled.
			r.links.busOpen.Store(false)
			gone := &hub.Cause{Code: hub.CausePortGone, Params: map[string]string{"bus": "bus0", "port": "/dev/ttyUSB0"}, Raw: "read /dev/ttyUSB0: input/output error"}
			h.Apply(hub.Report{Device: "socket-1", Avail: hub.AvailOffline, Cause: gone})
			r.expectCause("socket-1", "port_gone", "Serial port gone: /dev/ttyUSB0", testCoalesce)
			r.poll("summary names the bus", `document.querySelector('#summary-list li[data-kind="bus"]') !== null`, heartbeatEvery)
			r.poll("the raw error only behind Details", `(() => {
				const d = document.querySelector('article[data-device="socket-1"] [data-field="diagnosis"] details.raw');
				return !!d && !d.open && !document.querySelector('article[data-device="socket-1"] .diag-title').innerText.includes('input/output'); })()`, testCoalesce)
			r.screenshot("port-gone")

			// A command the device refuses.
			h.SetDriver("mqtt", hub.DriverFunc(func(context.Context, hub.Device, hub.Command) error {
				return &hub.Refusal{Reason: "device error 0x05 (busy), detail 0", Err: hub.ErrBusy}
			}))
			h.Apply(hub.Report{Device: "socket-2", Avail: hub.AvailOnline})
			h.Execute(context.Background(), hub.Command{Device: "socket-2", Identify: true})
			r.expectCause("socket-2", "refused", "Command refused by the device: device error 0x05 (busy)", testCoalesce)

			// Everything comes back: every diagnosis goes, the header is
			// healthy again.
			r.links.busOpen.Store(true)
			for _, id := range []string{"lamp-1", "socket-1", "lamp-2", "socket-2", "lamp-3"} {
				h.Apply(hub.Report{Device: id, Avail: hub.AvailOnline})
			}
			h.SetDriver("mqtt", hub.DriverFunc(func(context.Context, hub.Device, hub.Command) error { return nil }))
			h.Execute(context.Background(), hub.Command{Device: "socket-2", Identify: true})
			r.poll("no diagnosis left", `document.querySelectorAll('[data-field="diagnosis"]').length === 0`, testCoalesce)
			r.poll("header healthy, 5 of 5", `document.getElementById('health').dataset.state === 'healthy' &&
				document.getElementById('hdr-online').textContent === '5 of 5 online'`, heartbeatEvery)
			r.poll("summary clear", `document.getElementById('summary').dataset.count === '0'`, heartbeatEvery)
			r.poll("cards green and live", `[...document.querySelectorAll('article.card')].every(c => c.classList.contains('ok')) &&
				document.querySelectorAll('.state.last-known').length === 0`, testCoalesce)
			r.screenshot("recovered")

			// The event log names devices, never ids, and never leads with a
			// Go error; the Alexa section never says null.
			events := r.text(`#event-list`)
			for _, bad := range []string{"lamp-1", "socket-2", "input/output error", "serial: no reply"} {
				if strings.Contains(events, bad) {
					t.Errorf("event log shows %q:\n%s", bad, events)
				}
			}
			if !strings.Contains(events, "Lobby lamp went offline: No reply at bus0 address 1") {
				t.Errorf("event log lacks the worded offline event:\n%s", events)
			}
			if page := r.text(`main`); strings.Contains(page, "null") || strings.Contains(page, "undefined") {
				t.Errorf("the page prints null or undefined")
			}
		})
	}
}

// TestPage_Chromium_ProblemsFirstAndOnly: the toggles put failing
// devices on top, then show only them.
func TestPage_Chromium_ProblemsFirstAndOnly(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 375, "")
	r.ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOffline, Cause: &hub.Cause{Code: hub.CauseWill}})
	firstCard := `document.querySelector('#dev-list article:not([hidden])').dataset.device`
	r.poll("lamp-3 failing, last by room", `document.querySelector('article[data-device="lamp-3"]').classList.contains('bad') &&
		[...document.querySelectorAll('#dev-list article')].pop().dataset.device === 'lamp-3'`, testCoalesce)
	if err := chromedp.Do(r.ctx, chromedp.Click(css(`#problems-first`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	r.poll("lamp-3 first", firstCard+` === 'lamp-3' && document.getElementById('problems-first').getAttribute('aria-pressed') === 'true'`, time.Second)
	if err := chromedp.Do(r.ctx, chromedp.Click(css(`#problems-only`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	r.poll("only lamp-3", `document.querySelectorAll('#dev-list article:not([hidden])').length === 1 && `+firstCard+` === 'lamp-3'`, time.Second)
	r.ts.h.Apply(hub.Report{Device: "lamp-3", Avail: hub.AvailOnline})
	r.poll("none once lamp-3 is back", `document.querySelectorAll('#dev-list article:not([hidden])').length === 0`, testCoalesce)
}

// TestPage_Chromium_EventFilters narrows the log by room, device and
// severity.
func TestPage_Chromium_EventFilters(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 1280, "")
	h := r.ts.h.Hub
	h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline, Cause: noReplyCause("1")})
	h.Apply(hub.Report{Device: "lamp-2", Avail: hub.AvailOffline, Cause: &hub.Cause{Code: hub.CauseWill}})
	r.poll("both events", `document.getElementById('event-list').innerText.includes('Lobby lamp went offline') &&
		document.getElementById('event-list').innerText.includes('Room 101 lamp went offline')`, testCoalesce)
	set := func(sel, v string) {
		if err := chromedp.Do(r.ctx, chromedp.SetValue(css(sel), v), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.querySelector('`+sel+`').dispatchEvent(new Event('change'))`)(ctx, tg)
			return err
		})); err != nil {
			t.Fatal(err)
		}
	}
	set(`#ev-room`, "r101")
	if ev := r.text(`#event-list`); strings.Contains(ev, "Lobby") || !strings.Contains(ev, "Room 101 lamp went offline") {
		t.Errorf("room 101 filter:\n%s", ev)
	}
	set(`#ev-room`, "")
	set(`#ev-device`, "lamp-1")
	if ev := r.text(`#event-list`); strings.Contains(ev, "Room 101") || !strings.Contains(ev, "Lobby lamp went offline") {
		t.Errorf("device filter:\n%s", ev)
	}
	set(`#ev-device`, "")
	set(`#ev-level`, "warn")
	if ev := r.text(`#event-list`); strings.Contains(ev, "is online") || !strings.Contains(ev, "went offline") {
		t.Errorf("warnings filter:\n%s", ev)
	}
}

// TestPage_Chromium_SilentFeedAndRestart freezes the "daemon" (nothing
// flows, connections stay up): the page must stop looking live within the
// silence bound; then restarts it: the session is gone, so is "Signed in".
func TestPage_Chromium_SilentFeedAndRestart(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 375, "")
	silence := 2*heartbeatEvery + time.Second + time.Second // and the page's tick
	if err := chromedp.Do(r.ctx, signIn(), chromedp.WaitVisible(css(`#signout`))); err != nil {
		t.Fatal(err)
	}
	r.poll("signed in", `document.getElementById('who').textContent === 'Signed in as tech'`, time.Second)

	r.proxy.freeze(true)
	r.poll("no contact in the header", `document.getElementById('health').dataset.state === 'nocontact' &&
		document.getElementById('live').textContent.startsWith('No contact for')`, silence)
	r.poll("no green card", `[...document.querySelectorAll('article.card')].every(c => c.classList.contains('unknown')) &&
		document.querySelectorAll('.card.ok').length === 0`, time.Second)
	r.poll("summary says so", `document.querySelector('#summary-list li[data-kind="nocontact"]') !== null`, time.Second)
	r.screenshot("frozen")
	r.proxy.freeze(false)
	r.poll("live again", `document.getElementById('health').dataset.state === 'healthy' &&
		document.getElementById('live').textContent === 'Live' && document.querySelectorAll('article.card.ok').length === 5`, heartbeatEvery)

	// The daemon is down: nothing listens. The feed errors at once; the
	// page says so at its next tick.
	r.proxy.restart("127.0.0.1:1")
	r.poll("no contact once the daemon is down", `document.getElementById('health').dataset.state === 'nocontact' &&
		document.querySelectorAll('article.card.ok').length === 0`, time.Second)

	// A new daemon behind the same address: it has no sessions.
	s2, err := New(r.ts.h.Hub, Options{AllowAnonymousView: true, Users: []User{{Name: testUser, PasswordHash: testHash(t, testPass)}}})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(s2.Handler())
	t.Cleanup(func() { s2.Close(); ts2.Close() })
	r.proxy.restart(ts2.Listener.Addr().String())
	r.poll("signed out after the restart", `document.getElementById('who').textContent === 'View only' &&
		!document.getElementById('signin').hidden && document.getElementById('signout').hidden`, silence)
	r.screenshot("restarted")
}

// TestPage_Chromium_LastSeenFromGatewayClock: a browser whose clock is
// ten minutes fast still reads "just now" for a device heard a moment ago,
// and the value keeps up with reports that change nothing.
func TestPage_Chromium_LastSeenFromGatewayClock(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 1280, "")
	if err := chromedp.Do(r.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { const real = Date.now; Date.now = () => real() + 600000; return true; })()`)(ctx, tg)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	lastSeen := `document.querySelector('article[data-device="socket-2"] details.more time').textContent`
	on := hub.State{Set: hub.Fields(hub.FieldOn), On: true} // socket-2's value already: no device event
	r.ts.h.Apply(hub.Report{Device: "socket-2", At: time.Now().Add(-70 * time.Second), State: on})
	r.poll("socket-2 last seen 70 s ago", `/^7\d s ago$/.test(`+lastSeen+`)`, heartbeatEvery)
	r.ts.h.Apply(hub.Report{Device: "socket-2", State: on})
	r.poll("socket-2 last seen just now", lastSeen+` === 'just now'`, heartbeatEvery)
}

// TestPage_Chromium_Accessibility: from the accessibility tree, every
// control of a card is named with its device, and every card is named by
// its heading; at 375 px every target is at least 44 px; a jump link lands
// below the sticky header; the sign-in note covers no control.
func TestPage_Chromium_Accessibility(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 375, "", func(o *Options) {
		// Firmware controls show on the serial devices' cards: named too.
		o.UpdateFirmware = func(context.Context, string, []byte, bool, func(int, int)) error { return nil }
	})
	if err := chromedp.Do(r.ctx, signIn(), chromedp.WaitVisible(css(`article[data-device="lamp-1"] [data-action="off"]`))); err != nil {
		t.Fatal(err)
	}
	// The note shows now, in the header: no control under it.
	covered, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`(() => {
		const t = document.getElementById('toast'); if (t.hidden) return 'toast hidden';
		const a = t.getBoundingClientRect(); const hit = [];
		for (const c of document.querySelectorAll('main button, main input, main select, main a')) {
			const b = c.getBoundingClientRect();
			if (b.width && b.height && b.left < a.right && b.right > a.left && b.top < a.bottom && b.bottom > a.top && document.elementFromPoint(b.left + b.width/2, b.top + b.height/2) !== c && !c.contains(document.elementFromPoint(b.left + b.width/2, b.top + b.height/2))) hit.push(c.outerHTML.slice(0, 80));
		}
		return hit.join('\n'); })()`))
	if err != nil {
		t.Fatal(err)
	}
	if covered != "" {
		t.Errorf("the sign-in note covers controls: %s", covered)
	}

	tree, err := chromedp.Call(r.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"lamp-1": "Lobby lamp", "socket-1": "Lobby socket", "lamp-2": "Room 101 lamp", "socket-2": "Room 101 plug", "lamp-3": "Room 201 lamp"}
	axText := func(v *accessibility.Value) string {
		if v == nil {
			return ""
		}
		var s string
		json.Unmarshal([]byte(fmt.Sprint(string(v.Value))), &s)
		return s
	}
	byID := map[accessibility.NodeID]*accessibility.Node{}
	for _, n := range tree.Nodes {
		byID[n.NodeID] = n
	}
	// deviceOf finds the card (an article) a node sits in, by its name.
	deviceOf := func(n *accessibility.Node) string {
		for p := n; p != nil; p = byID[p.ParentID] {
			if axText(p.Role) == "article" {
				for id, name := range names {
					if axText(p.Name) == name {
						return id
					}
				}
				return "?" + axText(p.Name)
			}
		}
		return ""
	}
	controls, articles := 0, 0
	for _, n := range tree.Nodes {
		if n.Ignored {
			continue
		}
		switch axText(n.Role) {
		case "article":
			articles++
			if id := deviceOf(n); strings.HasPrefix(id, "?") {
				t.Errorf("a card's accessible name %q is no device name", axText(n.Name))
			}
		case "button", "slider":
			id := deviceOf(n)
			if id == "" {
				continue // not in a card
			}
			controls++
			if name := axText(n.Name); !strings.Contains(name, names[id]) {
				t.Errorf("%s %q in %s's card does not name the device", axText(n.Role), name, id)
			}
		}
	}
	t.Logf("accessibility tree: %d cards, %d named card controls", articles, controls)
	if articles != 5 || controls < 17 {
		t.Errorf("accessibility tree has %d cards and %d card controls, want 5 and at least 17 (15 and 2 firmware)", articles, controls)
	}

	small, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('button, a, select, input, summary')]
		.filter(e => e.offsetParent !== null && e.getClientRects().length)
		.map(e => [e, e.getBoundingClientRect()]).filter(([e, b]) => b.height < 44 || b.width < 44)
		.map(([e, b]) => e.tagName + ' ' + (e.id || e.textContent.trim().slice(0, 20)) + ' ' + Math.round(b.width) + 'x' + Math.round(b.height)).join('\n')`))
	if err != nil {
		t.Fatal(err)
	}
	if small != "" {
		t.Errorf("targets under 44 px at 375 px:\n%s", small)
	}

	for _, target := range []string{"alexa", "events", "devices"} {
		below, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`(async () => {
			document.querySelector('.jump a[href="#`+target+`"]').click();
			await new Promise(r => setTimeout(r, 300));
			const head = document.getElementById('top').getBoundingClientRect().bottom;
			const sec = document.getElementById('`+target+`').getBoundingClientRect().top;
			return sec >= head - 1 ? '' : 'section top ' + sec + ' under header bottom ' + head; })()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if below != "" {
			t.Errorf("jump to #%s: %s", target, below)
		}
	}
	height, err := chromedp.Run(r.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollHeight`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("page height at 375 px, signed in, 5 devices: %.0f px", height)
	if height > 4000 {
		t.Errorf("the phone page is %.0f px tall for 5 devices", height)
	}
	// A command to an offline lamp fails in red; the red goes once the
	// lamp is back.
	r.ts.h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline, Cause: noReplyCause("1")})
	r.poll("lamp-1 offline", `document.querySelector('article[data-device="lamp-1"]').classList.contains('bad')`, testCoalesce)
	if err := chromedp.Do(r.ctx, chromedp.Click(css(`article[data-device="lamp-1"] [data-action="off"]`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	r.poll("the failure in red", `(() => { const p = document.querySelector('article[data-device="lamp-1"] .result');
		return p.classList.contains('bad') && p.textContent === 'Switch off: the device did not answer'; })()`, time.Second)
	r.ts.h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOnline})
	r.poll("the red gone once lamp-1 is back", `(() => { const c = document.querySelector('article[data-device="lamp-1"]');
		return c.classList.contains('ok') && c.querySelector('.result').textContent === ''; })()`, testCoalesce)

	r.screenshot("a11y")
}

// TestPage_Chromium_Russian: a Russian browser gets Russian, diagnoses
// included; the switch turns the page to English without a reload.
func TestPage_Chromium_Russian(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	r := newPageRig(t, 375, "ru-RU,ru;q=0.9,en;q=0.5")
	r.poll("Russian header", `document.documentElement.lang === 'ru' && document.getElementById('health').textContent === 'Исправно'`, time.Second)
	r.ts.h.Apply(hub.Report{Device: "lamp-1", Avail: hub.AvailOffline, Cause: noReplyCause("1")})
	r.poll("Russian diagnosis", `document.querySelector('article[data-device="lamp-1"] [data-field="diagnosis"]')?.innerText.includes('Нет ответа на шине bus0 по адресу 1') &&
		document.getElementById('health').textContent === 'Есть неполадки'`, testCoalesce)
	r.poll("Russian event", `document.getElementById('event-list').innerText.includes('Lobby lamp: нет связи')`, testCoalesce)
	r.screenshot("ru")
	if err := chromedp.Do(r.ctx, chromedp.SetValue(css(`#lang`), "en"), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.getElementById('lang').dispatchEvent(new Event('change'))`)(ctx, tg)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	r.poll("English after the switch", `document.documentElement.lang === 'en' && document.getElementById('health').textContent === 'Degraded' &&
		document.querySelector('article[data-device="lamp-1"] [data-field="diagnosis"]')?.innerText.includes('No reply at bus0 address 1')`, time.Second)
}

// TestPage_Chromium_AlexaWithoutUnitsOrWarnings: the parts the sync does
// not have are left out, never printed as "null".
func TestPage_Chromium_AlexaWithoutUnitsOrWarnings(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	opts := Options{AllowAnonymousView: true}
	fakeLinks(&opts)
	opts.Alexa = func() hub.SyncStatus { return hub.SyncStatus{Enabled: true, Calls: 3} }
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1280, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#alexa-body .pill`))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('alexa').innerText + document.querySelector('main').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "null") || strings.Contains(text, "undefined") || !strings.Contains(text, "Nothing pending") {
		t.Errorf("Alexa section:\n%s", text)
	}
}
