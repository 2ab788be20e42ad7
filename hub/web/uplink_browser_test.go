package web

import (
	"testing"
	"time"

	"hubd/hub"
)

// TestPage_Chromium_UplinkCardAndVerdict: the links section has an uplink
// card; when the uplink drops with events queued, the card turns red with
// the count and the error, the summary says so and the header is Degraded;
// back, all of it clears.
func TestPage_Chromium_UplinkCardAndVerdict(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	f := &fakeUplink{st: hub.UplinkStatus{Broker: "ssl://fleet.example:8883", EventsSent: 120}}
	f.set(true, 0, "")
	const refresh = 200 * time.Millisecond
	r := newPageRig(t, 1280, "", func(o *Options) { o.Uplink = f.status; o.RefreshEvery = refresh })
	card := `#uplink [data-uplink="ssl://fleet.example:8883"]`
	r.poll("the connected uplink", `(() => { const c = document.querySelector('`+card+`');
		return !!c && c.classList.contains('ok') && c.innerText.includes('Connected since') && c.innerText.includes('Events queued'); })()`, time.Second)

	f.set(false, 37, "uplink: dial tcp 10.0.0.9:8883: connection refused")
	r.poll("the uplink down with 37 events waiting", `(() => { const c = document.querySelector('`+card+`');
		const s = document.querySelector('#summary-list [data-kind="uplink"]');
		return c.classList.contains('bad') && c.querySelector('[data-field="uplink-queued"]').textContent.startsWith('37 ') &&
			c.innerText.includes('Disconnected since') && c.textContent.includes('connection refused') &&
			!!s && s.innerText.includes('ssl://fleet.example:8883') && s.innerText.includes('37 events wait') &&
			document.getElementById('health').dataset.state === 'degraded'; })()`, refresh)
	r.screenshot("uplink-down")

	f.set(true, 0, "")
	r.poll("recovered", `document.querySelector('`+card+`').classList.contains('ok') && !document.querySelector('#summary-list [data-kind="uplink"]') &&
		document.getElementById('health').dataset.state === 'healthy'`, refresh)
}
