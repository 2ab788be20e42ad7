package web

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeAccounts is a broker's device accounts whose refusals and passwords
// a test changes.
type fakeAccounts struct {
	mu    sync.Mutex
	accts []MQTTAccount
	calls []string
}

func (f *fakeAccounts) list() []MQTTAccount {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]MQTTAccount, len(f.accts))
	copy(out, f.accts)
	return out
}

func (f *fakeAccounts) set(name string, rotate bool) (MQTTPassword, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := map[bool]string{false: "create", true: "rotate"}[rotate]
	f.calls = append(f.calls, op+" "+name)
	for i := range f.accts {
		if f.accts[i].Name == name {
			f.accts[i].HasPassword = true
			return MQTTPassword{Account: name, Devices: f.accts[i].Devices, Password: "pw-" + op + "-" + name, PasswordFileLine: name + ":$7$101$salt$hash"}, nil
		}
	}
	return MQTTPassword{}, ErrBadRequest
}

func (f *fakeAccounts) deny(name string, pub uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.accts {
		if f.accts[i].Name == name {
			f.accts[i].DeniedPublish = pub
		}
	}
}

func (f *fakeAccounts) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "; ")
}

// TestPage_Chromium_MQTTAccounts: a viewer sees each account, its devices,
// whether it has a password and its refusals (highlighted when above zero,
// kept current by the feed) but no buttons; a signed-in technician creates
// one account's password and rotates another's, each shown once.
func TestPage_Chromium_MQTTAccounts(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	f := &fakeAccounts{accts: []MQTTAccount{
		{Name: "plug-1", Devices: []string{"plug-1"}, HasPassword: true, DeniedPublish: 3, DeniedSubscribe: 1},
		{Name: "zigbee2mqtt", Devices: []string{"lamp-3", "lamp-4"}},
	}}
	ts := newTestServer(t, Options{AllowAnonymousView: true, Coalesce: 20 * time.Millisecond, RefreshEvery: 100 * time.Millisecond,
		MQTTAccounts: f.list, SetMQTTPassword: f.set})
	ctx := chromium(t, 1280, 1000)
	plug, zb := `[data-mqtt-account="plug-1"]`, `[data-mqtt-account="zigbee2mqtt"]`
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/"), chromedp.WaitVisible(css(`#mqtt-accounts `+zb))); err != nil {
		t.Fatal(err)
	}
	q := func(sel string) string { return `document.querySelector('` + sel + `')` }
	poll("the accounts as a viewer sees them", `(() => { const p = `+q(plug)+`, z = `+q(zb)+`;
		return p.innerText.includes('Password set') && z.innerText.includes('No password') && z.innerText.includes('lamp-3, lamp-4') &&
			p.querySelectorAll('[data-denied="true"]').length === 2 && z.querySelectorAll('[data-denied="true"]').length === 0 &&
			p.classList.contains('bad') && !document.querySelector('#mqtt-accounts button'); })()`)
	f.deny("zigbee2mqtt", 7)
	poll("a new refusal through the feed", q(zb+` [data-denied="true"]`)+`?.textContent === '7'`)

	if err := chromedp.Do(ctx, signIn(), chromedp.WaitVisible(css(zb+` [data-action="mqtt-create"]`))); err != nil {
		t.Fatal(err)
	}
	// The list is redrawn by the feed (every 100 ms here): a button is
	// clicked in the page, found and clicked in one step, so a redraw
	// between finding and clicking can not lose the click.
	click := func(what, sel string) {
		t.Helper()
		poll(what, `(() => { const e = document.querySelector('`+sel+`'); if (!e) return false; e.click(); return true; })()`)
	}
	click("create", zb+` [data-action="mqtt-create"]`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`#mqtt-secret code`))); err != nil {
		t.Fatal(err)
	}
	poll("the new password shown once, the pill turned", q(`#mqtt-secret`)+`.innerText.includes('pw-create-zigbee2mqtt') &&
		`+q(`#mqtt-secret`)+`.innerText.includes('zigbee2mqtt:$7$101$salt$hash') && `+q(zb)+`.innerText.includes('Password set')`)
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true) && true`)(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatal(err)
	}
	click("rotate", plug+` [data-action="mqtt-rotate"]`)
	poll("the rotated password", q(`#mqtt-secret`)+`.innerText.includes('pw-rotate-plug-1') && !`+q(`#mqtt-secret`)+`.innerText.includes('pw-create')`)
	if got := f.log(); got != "create zigbee2mqtt; rotate plug-1" {
		t.Errorf("calls = %q", got)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "mqtt-accounts.png", png)
	if err := chromedp.Do(ctx, chromedp.Click(css(`#signout`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	poll("the password gone on sign-out", q(`#mqtt-secret`)+`.textContent === '' && !document.querySelector('#mqtt-accounts button')`)
}

// TestPage_Chromium_MQTTAccountsHiddenWithoutBroker: a gateway without
// an embedded broker shows no accounts section; one with a broker but no
// accounts says so, in Russian under ?lang=ru.
func TestPage_Chromium_MQTTAccountsHiddenWithoutBroker(t *testing.T) {
	t.Parallel() // its own server and Chromium: the waits overlap
	for _, c := range []struct {
		name   string
		list   func() []MQTTAccount
		hidden bool
		text   string
	}{
		{"no broker", nil, true, ""},
		{"no accounts", func() []MQTTAccount { return nil }, false, "нет учётных записей устройств"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, Options{AllowAnonymousView: true, MQTTAccounts: c.list})
			ctx := chromium(t, 1280, 900)
			if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/?lang=ru"), chromedp.WaitVisible(css(`#gateway`))); err != nil {
				t.Fatal(err)
			}
			expr := `document.getElementById('gw-facts').children.length > 0 && document.documentElement.lang === 'ru' &&
				document.getElementById('mqtt-accounts').hidden === ` + map[bool]string{true: "true", false: "false"}[c.hidden] + ` &&
				document.getElementById('mqtt-account-list').innerText.includes('` + c.text + `') &&
				document.querySelector('#mqtt-accounts h2').textContent === 'Учётные записи MQTT устройств'`
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
				t.Fatal(err)
			}
		})
	}
}
