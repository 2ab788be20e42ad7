package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub/web"
	"hubd/hub/web/webtest"
)

// startSim runs emulated MQTT devices that log in as user/pass.
func startSim(t *testing.T, broker, user, pass string, specs ...mqttsim.Spec) *mqttsim.Sim {
	t.Helper()
	sim, err := mqttsim.Start(context.Background(), mqttsim.Options{Broker: "tcp://" + broker, Devices: specs,
		Login: func(mqttsim.Spec) (string, string) { return user, pass }, Telemetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

var (
	comPassRe  = regexp.MustCompile(`(?m)^password: (\S+)$`)
	mqttPassRe = regexp.MustCompile(`(?m)^MQTT password: (\S+)`)
)

// A brand-new Tasmota plug, on the commissioning login, shows up; adopted,
// it gets its own account, and with that login it is live. The window's
// end puts the commissioning client out.
func TestCommissioning_NewTasmotaJoinsAdoptedWithItsOwnAccount(t *testing.T) {
	t.Parallel()
	r := startAdoptRig(t)
	if out, _ := cli(t, "commission", "-config", r.path, "-status"); !strings.Contains(out, "closed") {
		t.Fatalf("status before: %s", out)
	}
	// Windows shorter than a minute or longer than the bound are refused.
	for _, d := range []string{"5s", "100h", "-1m"} {
		if out, err := cli(t, "commission", "-config", r.path, "-for", d); err == nil || strings.Contains(out, "password:") {
			t.Fatalf("commission -for %s: %v\n%s", d, err, out)
		}
	}
	out, err := cli(t, "commission", "-config", r.path, "-for", "10m")
	m := comPassRe.FindStringSubmatch(out)
	if err != nil || m == nil || !strings.Contains(out, "user:     "+mqtt.CommissioningAccount) {
		t.Fatalf("commission: %v\n%s", err, out)
	}
	plug := mqttsim.Spec{ID: "new-plug", Dialect: mqttsim.Tasmota, Name: "tasmota_5A1B2C", Kind: "socket"}
	first := startSim(t, r.broker, mqtt.CommissioningAccount, m[1], plug)
	eventually(t, 10*time.Second, "the new plug listed", func() bool {
		out, _ = cli(t, "discover", "-config", r.path)
		return strings.Contains(out, "tasmota:tasmota_5A1B2C")
	})
	if out, _ := cli(t, "commission", "-config", r.path, "-status"); !strings.Contains(out, "1 of 32 clients in") {
		t.Fatalf("status while the plug is in: %s", out)
	}
	out, err = cli(t, "adopt", "-config", r.path, "-address", "tasmota:tasmota_5A1B2C", "-id", "plug-9", "-name", "Plug", "-room", "room-1")
	pm := mqttPassRe.FindStringSubmatch(out)
	if err != nil || pm == nil || !strings.Contains(out, "MQTT user:     plug-9") || !strings.Contains(out, "Backlog MqttUser plug-9; MqttPassword "+pm[1]) {
		t.Fatalf("adopt: %v\n%s", err, out)
	}
	// Still on the commissioning login it can not report as plug-9.
	if q := query(t, r.d.addr, "plug-9"); len(q["plug-9"].Capabilities) > 0 {
		t.Fatalf("plug-9 answered before it logged in as itself: %+v", q["plug-9"])
	}
	first.Close()
	startSim(t, r.broker, "plug-9", pm[1], plug)
	eventually(t, 10*time.Second, "plug-9 live on its own login", func() bool {
		q := query(t, r.d.addr, "plug-9")["plug-9"]
		return q.ErrorCode == "" && len(q.Capabilities) > 0
	})
	// The account shows with its password; a second adoption of the same
	// account would not make another.
	if out, _ := cli(t, "mqtt-account", "list", "-config", r.path); !strings.Contains(out, "plug-9") {
		t.Fatalf("account list: %s", out)
	}
	// Closing the window puts a commissioning client out, and keeps it out.
	startSim(t, r.broker, mqtt.CommissioningAccount, m[1], mqttsim.Spec{ID: "x", Dialect: mqttsim.Tasmota, Name: "tasmota_FFFFFF", Kind: "socket"})
	eventually(t, 10*time.Second, "the late device listed", func() bool {
		out, _ = cli(t, "discover", "-config", r.path)
		return strings.Contains(out, "tasmota_FFFFFF")
	})
	if out, err := cli(t, "commission", "-config", r.path, "-close"); err != nil || !strings.Contains(out, "closed") {
		t.Fatalf("close: %v %s", err, out)
	}
	eventually(t, 10*time.Second, "no commissioning client left", func() bool {
		out, _ = cli(t, "commission", "-config", r.path, "-status")
		return strings.TrimSpace(out) == "commissioning window: closed"
	})
	if !strings.Contains(r.d.out.String(), "commissioning window closed by") {
		t.Fatal("the close is not in the log")
	}
}

// families is an adoption rig with one new device of every MQTT family
// (mqttsim.DemoNew) on the commissioning login, all listed as new.
type families struct {
	r     *adoptRig
	specs []mqttsim.Spec
	sim   *mqttsim.Sim
	found []web.NewDevice
	// What the adoptions gave: each account's password, each emulated
	// device's account (by its name), each adopted id's declared
	// capabilities.
	passwords, accountOf map[string]string
	declared             map[string][]string
}

func startFamilies(t *testing.T) *families {
	t.Helper()
	f := &families{r: startAdoptRig(t), specs: mqttsim.DemoNew(),
		passwords: map[string]string{}, accountOf: map[string]string{}, declared: map[string][]string{}}
	out, err := cli(t, "commission", "-config", f.r.path, "-for", "10m")
	m := comPassRe.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("commission: %v\n%s", err, out)
	}
	f.sim = startSim(t, f.r.broker, mqtt.CommissioningAccount, m[1], f.specs...)
	// Every spec's device listed (Gen2 ones after their RPC answers).
	eventually(t, 20*time.Second, "every new device listed", func() bool {
		out, _ := cli(t, "discover", "-config", f.r.path, "-json")
		f.found = nil
		if json.Unmarshal([]byte(out), &f.found) != nil {
			return false
		}
		for _, s := range f.specs {
			if !slices.ContainsFunc(f.found, func(d web.NewDevice) bool { return strings.Contains(d.Address, ":"+s.Name) }) {
				return false
			}
		}
		return true
	})
	return f
}

// adoptable is what of the found devices can be adopted.
func (f *families) adoptable() []web.NewDevice {
	var out []web.NewDevice
	for _, d := range f.found {
		if d.Unsupported == "" && d.Driver == "mqtt" {
			out = append(out, d)
		}
	}
	return out
}

// adopted records an adoption of d as id under account (pw: the password
// the adoption made, "" when the account had one).
func (f *families) adopted(d web.NewDevice, id, account, pw string) {
	if pw != "" {
		f.passwords[account] = pw
	}
	_, name, _ := mqtt.ParseAddress(d.Address)
	name, _, _ = strings.Cut(name, ":")
	f.accountOf[name] = account
	f.declared[id] = d.Capabilities
}

// liveOnOwnAccounts restarts the emulated devices on the accounts their
// adoptions gave and waits until every adopted device answers
// devices/query with each capability it declared.
func (f *families) liveOnOwnAccounts(t *testing.T) {
	t.Helper()
	if len(f.declared) < len(f.specs) {
		t.Fatalf("adopted %d devices of %d specs: %+v", len(f.declared), len(f.specs), f.found)
	}
	f.sim.Close()
	own, err := mqttsim.Start(context.Background(), mqttsim.Options{Broker: "tcp://" + f.r.broker, Devices: f.specs, Telemetry: time.Second,
		Login: func(s mqttsim.Spec) (string, string) { a := f.accountOf[s.Name]; return a, f.passwords[a] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.Close)
	for id, caps := range f.declared {
		eventually(t, 15*time.Second, id+" live with capabilities", func() bool {
			q := query(t, f.r.d.addr, id)[id]
			for _, c := range caps {
				instance := map[string]string{"color": "hsv", "current": "amperage", "energy": "electricity_meter"}[c]
				if instance == "" {
					instance = c
				}
				if _, ok := q.value(instance); !ok {
					return false
				}
			}
			return q.ErrorCode == "" && len(caps) > 0
		})
	}
}

// Every MQTT family the hub discovers joins the way an installer meets
// it: new devices on the commissioning login, adopted alternately from the
// CLI and the status page's API, then on their own accounts, each
// answering devices/query with what it declared.
func TestAdoption_EveryMQTTFamily_ThroughCommissioning(t *testing.T) {
	t.Parallel()
	f := startFamilies(t)
	base := "http://" + f.r.d.addr
	cookie, csrf := webLogin(t, base)
	for i, d := range f.adoptable() {
		id := fmt.Sprintf("dev-%d", i)
		var a struct {
			MQTTAccount *web.MQTTPassword `json:"mqtt_account"`
		}
		if i%2 == 0 {
			out, err := cli(t, "adopt", "-config", f.r.path, "-address", d.Address, "-id", id, "-name", d.Address, "-room", "room-1")
			if err != nil {
				t.Fatalf("CLI adopt %s: %v\n%s", d.Address, err, out)
			}
			if am := regexp.MustCompile(`(?m)^MQTT user:\s+(\S+)`).FindStringSubmatch(out); am != nil {
				a.MQTTAccount = &web.MQTTPassword{Account: am[1]}
				if pm := mqttPassRe.FindStringSubmatch(out); pm != nil {
					a.MQTTAccount.Password = pm[1]
				}
			}
		} else {
			body, _ := json.Marshal(web.AdoptRequest{Driver: d.Driver, Address: d.Address, ID: id, Name: d.Address, Room: "room-1"})
			code, resp := do(t, "POST", base+"/api/adopt", bytes.NewReader(body), "Cookie", cookie, "X-CSRF-Token", csrf, "Origin", base, "Content-Type", "application/json")
			if code != 200 || json.Unmarshal([]byte(resp), &a) != nil {
				t.Fatalf("page adopt %s: %d %s", d.Address, code, resp)
			}
		}
		if a.MQTTAccount == nil {
			t.Fatalf("%s adopted without an MQTT account", d.Address)
		}
		f.adopted(d, id, a.MQTTAccount.Account, a.MQTTAccount.Password)
	}
	f.liveOnOwnAccounts(t)
}

// The same from the status page in a real browser: a serial lamp and
// every MQTT family adopted from their cards under New devices, each MQTT
// device's own login read off the page (shown once), then live on it.
func TestAdoption_Chromium_EveryMQTTFamilyFromThePage(t *testing.T) {
	t.Parallel()
	f := startFamilies(t)
	// And the rig's unconfigured serial lamp, found by a scan.
	if out, err := cli(t, "discover", "-config", f.r.path, "-scan", "bus0", "-from", "5", "-to", "5"); err != nil || !strings.Contains(out, "bus0/5") {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	ctx := webtest.Chromium(t, 1280, 1000)
	base := "http://" + f.r.d.addr
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS(`#signin`), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`#login-user`), "tech", chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`#login-pass`), secWebPass, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`#login-submit`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#signout`)),
		chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#new-list .card`)))
	if err != nil {
		t.Fatal(err)
	}
	adopt := func(address, id string) {
		t.Helper()
		// Found, filled and submitted in one step: the list is redrawn
		// while the page runs.
		fill := `(() => { const c = document.querySelector('#new-list [data-address="` + address + `"]'); const f = c && c.querySelector('form.adopt');
			if (!f) return false; f.querySelector('[name=id]').value = '` + id + `'; f.querySelector('[name=room]').value = 'room-1';
			f.requestSubmit(); return true; })()`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fill, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("adopt %s from its card: %v", address, err)
		}
	}
	adopt("bus0/5", "page-white")
	eventually(t, 10*time.Second, "the serial lamp adopted from the page, with its own range", func() bool {
		return strings.Contains(yandexDevicesList(t, f.r.d.addr)["page-white"], `"min":3000`)
	})
	login := regexp.MustCompile(`user (\S+), password (\S+)`)
	kept := regexp.MustCompile(`It logs in as (\S+), whose password`)
	for i, d := range f.adoptable() {
		id := fmt.Sprintf("page-%d", i)
		adopt(d.Address, id)
		var secret string
		eventually(t, 10*time.Second, id+"'s login shown", func() bool {
			secret, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#new-secret`)))
			return strings.Contains(secret, "adopted as "+id)
		})
		switch km, lm := kept.FindStringSubmatch(secret), login.FindStringSubmatch(secret); {
		case km != nil: // before login: its next line names the user too
			f.adopted(d, id, km[1], "")
		case lm != nil:
			f.adopted(d, id, lm[1], lm[2])
		default:
			t.Fatalf("no MQTT login on the page after adopting %s: %q", d.Address, secret)
		}
	}
	f.liveOnOwnAccounts(t)
}
