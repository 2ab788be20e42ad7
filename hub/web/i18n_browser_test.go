package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/hub"
)

// TestPage_Chromium_HomesAndNewDevicesInRussian: under ?lang=ru (an English
// browser) a signed-in manager reads the Homes panel and the New devices
// section in Russian, their buttons and the adoption form included.
func TestPage_Chromium_HomesAndNewDevicesInRussian(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	ad := &listAdoption{found: []hub.Found{
		{Driver: "mqtt", Address: "z2m:hall/ct", Kind: hub.KindLight, Name: "hall/ct", Seen: time.Now(),
			Caps: hub.Caps{Fields: hub.Fields(hub.FieldOn)}},
		{Driver: "mqtt", Address: "tasmota:relay4:2", Kind: hub.KindSocket, Unsupported: "channel POWER2", Seen: time.Now()},
	}}
	opts := Options{AllowAnonymousView: true, Homes: &recordingHomes{}, Adoption: ad,
		Users: []User{{Name: "boss", PasswordHash: testHash(t, "boss-pass"), Role: RoleManager}}}
	ts := newTestServer(t, opts)
	ctx := chromium(t, 1280, 1000)
	card := `#new-list [data-address="z2m:hall/ct"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/?lang=ru"),
		chromedp.WaitVisible(css(`#gateway`)),
		chromedp.Click(css(`#signin`), chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-user`), "boss", chromedp.NodeVisible),
		chromedp.SendKeys(css(`#login-pass`), "boss-pass", chromedp.NodeVisible),
		chromedp.Click(css(`#login-submit`), chromedp.NodeVisible),
		chromedp.WaitVisible(css(`#home-list .card button`)),
		// The New devices section comes with the next page load.
		chromedp.Reload(),
		chromedp.WaitVisible(css(card+` button`)),
		chromedp.WaitVisible(css(`#home-list .card button`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang + '|' +
		document.getElementById('homes').innerText + '|' + document.getElementById('new-devices').innerText + '|' +
		document.querySelector('`+card+` input[name="room"]').placeholder`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ru|", "Квартиры и жильцы", "Логин жильцов", "Новый логин", "Выселить",
		"Новые устройства", "Светильник z2m:hall/ct", "добавить нельзя: channel POWER2", "Добавить", "Забыть", "Идентификатор комнаты"} {
		if !strings.Contains(got, want) {
			t.Errorf("the Russian page %q lacks %q", got, want)
		}
	}
	for _, english := range []string{"Homes and residents", "Resident login", "New login", "Check out",
		"New devices", "not adoptable", "Adopt", "Forget", "Room id", "homes.", "new.", "{"} {
		if strings.Contains(got, english) {
			t.Errorf("the Russian page %q still says %q", got, english)
		}
	}
}
