package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt"
	"hubd/drivers/mqtt/mqttsim"
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
