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

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
	"hubd/hub/web"
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

// Every MQTT family the hub discovers joins the way an installer meets
// it: new devices on the commissioning login, adopted alternately from the
// CLI and the status page's API, then on their own accounts, each
// answering devices/query with what it declared.
func TestAdoption_EveryMQTTFamily_ThroughCommissioning(t *testing.T) {
	t.Parallel()
	r := startAdoptRig(t)
	out, err := cli(t, "commission", "-config", r.path, "-for", "10m")
	m := comPassRe.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("commission: %v\n%s", err, out)
	}
	specs := mqttsim.DemoNew()
	sim := startSim(t, r.broker, mqtt.CommissioningAccount, m[1], specs...)
	// Wait until every spec's device is listed (Gen2 ones after their
	// RPC answers), then take the list.
	var found []web.NewDevice
	eventually(t, 20*time.Second, "every new device listed", func() bool {
		out, _ := cli(t, "discover", "-config", r.path, "-json")
		found = nil
		if json.Unmarshal([]byte(out), &found) != nil {
			return false
		}
		for _, s := range specs {
			if !slices.ContainsFunc(found, func(d web.NewDevice) bool { return strings.Contains(d.Address, ":"+s.Name) }) {
				return false
			}
		}
		return true
	})
	base := "http://" + r.d.addr
	cookie, csrf := webLogin(t, base)
	type adopted struct {
		ID          string
		MQTTAccount *web.MQTTPassword `json:"mqtt_account"`
	}
	passwords := map[string]string{} // account -> password
	accountOf := map[string]string{} // device name (spec) -> account
	var ids []string
	declared := map[string][]string{} // id -> capabilities the device declared
	for i, d := range found {
		if d.Unsupported != "" || d.Driver != "mqtt" {
			continue
		}
		id := fmt.Sprintf("dev-%d", i)
		var a adopted
		if i%2 == 0 {
			out, err := cli(t, "adopt", "-config", r.path, "-address", d.Address, "-id", id, "-name", d.Address, "-room", "room-1")
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
		if a.MQTTAccount.Password != "" {
			passwords[a.MQTTAccount.Account] = a.MQTTAccount.Password
		}
		_, name, _ := mqtt.ParseAddress(d.Address)
		name, _, _ = strings.Cut(name, ":")
		accountOf[name] = a.MQTTAccount.Account
		ids = append(ids, id)
		declared[id] = d.Capabilities
	}
	if len(ids) < len(specs) {
		t.Fatalf("adopted %d devices of %d specs: %+v", len(ids), len(specs), found)
	}
	// The devices take their own logins.
	sim.Close()
	own, err := mqttsim.Start(context.Background(), mqttsim.Options{Broker: "tcp://" + r.broker, Devices: specs, Telemetry: time.Second,
		Login: func(s mqttsim.Spec) (string, string) { a := accountOf[s.Name]; return a, passwords[a] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.Close)
	for _, id := range ids {
		eventually(t, 15*time.Second, id+" live with capabilities", func() bool {
			q := query(t, r.d.addr, id)[id]
			for _, c := range declared[id] {
				instance := map[string]string{"color": "hsv", "current": "amperage", "energy": "electricity_meter"}[c]
				if instance == "" {
					instance = c
				}
				if _, ok := q.value(instance); !ok {
					return false
				}
			}
			return q.ErrorCode == "" && len(declared[id]) > 0
		})
	}
}
