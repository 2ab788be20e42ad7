package web

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// listAdoption is an Adoption over a fixed list: adopting takes a device
// off it.
type listAdoption struct {
	mu        sync.Mutex
	found     []hub.Found
	adopted   []AdoptRequest
	forgotten []string
}

func (a *listAdoption) New() []hub.Found {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]hub.Found(nil), a.found...)
}

func (a *listAdoption) Adopt(_ context.Context, r AdoptRequest) (Adopted, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, f := range a.found {
		if f.Driver == r.Driver && f.Address == r.Address {
			if r.Room != "r101" {
				return Adopted{}, fmt.Errorf("%w: room %q is not in the site", hub.ErrInvalidDevice, r.Room)
			}
			a.found = append(a.found[:i], a.found[i+1:]...)
			a.adopted = append(a.adopted, r)
			ad := Adopted{Device: hub.Device{ID: r.ID, Room: r.Room, Fields: f.Caps.Fields}}
			if r.Driver == "mqtt" {
				ad.MQTT = &MQTTPassword{Account: r.ID, Devices: []string{r.ID}, Password: "pw-of-" + r.ID}
				ad.Next = "Give the device its own login: user " + r.ID
			}
			return ad, nil
		}
	}
	return Adopted{}, fmt.Errorf("%w: %s", hub.ErrNotFound, r.Address)
}

func (a *listAdoption) Stats() DiscoveryStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return DiscoveryStats{Found: len(a.found) + len(a.adopted), New: len(a.found), Max: 100, Dropped: 7}
}

func (a *listAdoption) Forget(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.adopted {
		if r.ID == id {
			a.forgotten = append(a.forgotten, id)
			return nil
		}
	}
	return fmt.Errorf("%w: no adopted device %q", hub.ErrNotFound, id)
}

func TestPage_Chromium_AdoptsANewDevice(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	ad := &listAdoption{found: []hub.Found{
		{Driver: "mqtt", Address: "z2m:hall/ct", Kind: hub.KindLight, Name: "hall/ct", Seen: time.Now(),
			Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldTemperatureK), TempMinK: 2203, TempMaxK: 4000},
			Info: hub.Info{Manufacturer: "IKEA", Model: "LED1545G12"}},
		{Driver: "mqtt", Address: "tasmota:relay4:2", Kind: hub.KindSocket, Unsupported: "channel POWER2", Seen: time.Now()},
	}}
	win := &fakeWindow{}
	opts := Options{Name: "gw", AllowAnonymousView: true, Adoption: ad, Commissioning: win}
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1280, 1000)
	card := `#new-list [data-address="z2m:hall/ct"]`
	// Viewing is open, but the section is for technicians only.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#devices`))); err != nil {
		t.Fatal(err)
	}
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('new-devices').hidden`))
	if err != nil || !hidden {
		t.Fatalf("new devices shown before sign-in: %v", err)
	}
	// Signed in once the device controls show; the section comes with the
	// next page load.
	err = chromedp.Do(ctx, signIn(), chromedp.WaitVisible(css(`article[data-device="lamp-1"] [data-action="off"]`)),
		chromedp.Reload(), chromedp.WaitVisible(css(card)))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(css(`#new-list`), chromedp.NodeVisible))
	if err != nil || !strings.Contains(text, "2203..4000 K") || !strings.Contains(text, "not adoptable: channel POWER2") {
		t.Fatalf("section text %q: %v", text, err)
	}
	// A room that is not in the site: the page shows the hub's refusal.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(card+` input[name="room"]`), "attic", chromedp.NodeVisible),
		chromedp.Click(css(card+` button`), chromedp.NodeVisible),
		chromedp.WaitVisible(css(card+` span.muted`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "refusal shown", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(css(card+` span.muted`)))
		return strings.Contains(s, "not in the site")
	})
	err = chromedp.Do(ctx,
		chromedp.SetValue(css(card+` input[name="room"]`), "r101"),
		chromedp.Click(css(card+` button`), chromedp.NodeVisible),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "adopted", func() bool {
		ad.mu.Lock()
		defer ad.mu.Unlock()
		return len(ad.adopted) == 1
	})
	if r := ad.adopted[0]; r.ID != "hall-ct" || r.Room != "r101" || r.Address != "z2m:hall/ct" {
		t.Fatalf("adopt request %+v", r)
	}
	// Its own MQTT login is shown once, outside the list that redraws.
	waitFor(t, "the device's login shown", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(css(`#new-secret`)))
		return strings.Contains(s, "password pw-of-hall-ct") && strings.Contains(s, "Give the device its own login")
	})
	// The commissioning window opens from the section and shows its login.
	err = chromedp.Do(ctx, chromedp.Click(css(`#commission-open`), chromedp.NodeVisible), chromedp.WaitVisible(css(`#commission-close`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the window's login shown", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(css(`#new-secret`)))
		return strings.Contains(s, "as user commissioning, password window-secret-1234567")
	})
	if st, _ := chromedp.Run(ctx, chromedp.Text(css(`#commission-state`))); !strings.Contains(st, "open until") {
		t.Fatalf("window state %q", st)
	}
	err = chromedp.Do(ctx, chromedp.Click(css(`#commission-close`), chromedp.NodeVisible), chromedp.WaitVisible(css(`#commission-open`)))
	if err != nil {
		t.Fatal(err)
	}
	win.mu.Lock()
	calls := append([]string(nil), win.log...)
	win.mu.Unlock()
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "open 0s by ") || !strings.HasPrefix(calls[1], "close by ") {
		t.Fatalf("window calls %q", calls)
	}
	// Forget it again from the same section.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(`#forget-form input`), "hall-ct", chromedp.NodeVisible),
		chromedp.Click(css(`#forget-form button`), chromedp.NodeVisible),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forgotten", func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(css(`#forget-form span.muted`)))
		return strings.Contains(s, "forgot hall-ct")
	})
	ad.mu.Lock()
	forgotten := append([]string(nil), ad.forgotten...)
	ad.mu.Unlock()
	if len(forgotten) != 1 || forgotten[0] != "hall-ct" {
		t.Fatalf("forgotten %v", forgotten)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		keepScreenshot(t, "adopt.png", png)
	}
}
