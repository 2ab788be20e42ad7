package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/firmware"
)

// adoptRig is a production daemon (a child process) with an embedded
// broker, a serial bus with one configured lamp and one that is not, and
// a signed-in technician.
type adoptRig struct {
	dir, path, broker string
	d                 *daemon
	harness           *firmware.Harness
}

func startAdoptRig(t *testing.T, edits ...func(*Config)) *adoptRig {
	t.Helper()
	r := &adoptRig{dir: t.TempDir(), broker: freePort(t)}
	lamp, err := firmware.NewLamp(1, firmware.LampConfig{})
	if err != nil {
		t.Fatal(err)
	}
	white, err := firmware.NewLamp(5, firmware.LampConfig{White: true, MinK: 3000, MaxK: 6000, Model: "HL-W"})
	if err != nil {
		t.Fatal(err)
	}
	r.harness, err = firmware.StartPTY(t.TempDir(), lamp, white)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.harness.Close() })
	webHash := testHash(t, secWebPass)
	r.path = mqttRunConfig(t, r.dir, r.broker, "hubd", "adopt-pass", nil, func(c *Config) {
		c.Serial = []SerialConfig{{Name: "bus0", Port: r.harness.Path(), PollInterval: 300 * time.Millisecond, Timeout: 100 * time.Millisecond}}
		c.Devices = []DeviceConfig{{ID: "lamp-1", Name: "Lamp", Kind: "light", Driver: "serial", Bus: "bus0", Address: 1}}
		c.Site[0].Children[0].Devices = []string{"lamp-1"}
		c.Web = WebConfig{Users: []WebUser{{Name: "tech", PasswordHash: webHash}}}
		for _, e := range edits {
			e(c)
		}
	})
	r.d = startDaemon(t, "run", "-config", r.path)
	return r
}

// cli runs a hubd command in this process, as a technician's shell would.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, strings.NewReader(""), &out, &errb)
	return out.String() + errb.String(), err
}

// publishZ2M puts a Zigbee2MQTT bridge/devices list on the broker, as the
// bridge keeps it: retained.
func publishZ2M(t *testing.T, broker string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "drivers", "mqtt", "testdata", "discovery", "z2m-devices.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("z2m-bridge").
		SetUsername("hubd").SetPassword("adopt-pass").SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("bridge connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish("zigbee2mqtt/bridge/devices", 1, true, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// yandexDevicesList is GET /v1.0/user/devices: each device's capability
// types and its color temperature range, if any.
func yandexDevicesList(t *testing.T, addr string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1.0/user/devices", nil)
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("X-Request-Id", "d1")
	resp, err := faultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Payload struct {
			Devices []struct {
				ID           string            `json:"id"`
				Capabilities []json.RawMessage `json:"capabilities"`
			} `json:"devices"`
		} `json:"payload"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("devices: %v %s", err, data)
	}
	out := map[string]string{}
	for _, d := range r.Payload.Devices {
		var b strings.Builder
		for _, c := range d.Capabilities {
			b.Write(c)
		}
		out[d.ID] = b.String()
	}
	return out
}

func TestAdoption_CLIAndPage_LiveAtOnceAndAfterRestart(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	r := startAdoptRig(t)
	publishZ2M(t, r.broker)
	// discover lists what the config does not name: the Zigbee devices
	// and, after a scan, the serial lamp at 5 - not lamp-1.
	var out string
	eventually(t, 10*time.Second, "zigbee devices listed", func() bool {
		out, _ = cli(t, "discover", "-config", r.path)
		return strings.Contains(out, "z2m:hall/ct") && strings.Contains(out, "z2m:kitchen/plug")
	})
	out, err := cli(t, "discover", "-config", r.path, "-scan", "bus0", "-from", "1", "-to", "6")
	if err != nil || !strings.Contains(out, "bus0/5") || strings.Contains(out, "bus0/1 ") || !strings.Contains(out, "(3000..6000 K)") {
		t.Fatalf("discover after scan: %v\n%s", err, out)
	}
	// Adopt the CT bulb from the CLI.
	if out, err := cli(t, "adopt", "-config", r.path, "-address", "z2m:hall/ct", "-id", "ct-1", "-name", "Hall", "-room", "room-1"); err != nil {
		t.Fatalf("adopt: %v\n%s", err, out)
	}
	// Adopt the white serial lamp from the status page's API.
	base := "http://" + r.d.addr
	cookie, csrf := webLogin(t, base)
	body := `{"driver":"serial","address":"bus0/5","id":"white-5","name":"White","room":"room-1"}`
	code, resp := do(t, "POST", base+"/api/adopt", strings.NewReader(body), "Cookie", cookie, "X-CSRF-Token", csrf,
		"Origin", base, "Content-Type", "application/json")
	if code != 200 || !strings.Contains(resp, `"white-5"`) {
		t.Fatalf("page adopt: %d %s", code, resp)
	}
	check := func(addr string) {
		t.Helper()
		eventually(t, 10*time.Second, "adopted devices answer", func() bool {
			q := query(t, addr, "ct-1", "white-5")
			return q["white-5"].ErrorCode == "" && q["ct-1"].ErrorCode != "DEVICE_NOT_FOUND"
		})
		list := yandexDevicesList(t, addr)
		ct, white := list["ct-1"], list["white-5"]
		// Each with what it declared: temperature only, with its own range.
		if !strings.Contains(ct, `"min":2203`) || !strings.Contains(ct, `"max":4000`) || strings.Contains(ct, "color_model") {
			t.Fatalf("ct-1 capabilities: %s", ct)
		}
		if !strings.Contains(white, `"min":3000`) || !strings.Contains(white, `"max":6000`) || strings.Contains(white, "color_model") {
			t.Fatalf("white-5 capabilities: %s", white)
		}
	}
	check(r.d.addr)
	if out, _ := cli(t, "discover", "-config", r.path); strings.Contains(out, "z2m:hall/ct") || strings.Contains(out, "bus0/5") {
		t.Fatalf("adopted devices still listed as new:\n%s", out)
	}
	// The export is one config that check-config accepts, with both in it.
	exp, err := cli(t, "config", "export", "-config", r.path)
	if err != nil {
		t.Fatal(err)
	}
	ep := filepath.Join(t.TempDir(), "export.yaml")
	os.WriteFile(ep, []byte(exp), 0o600)
	if out, err := cli(t, "check-config", "-config", ep); err != nil || !strings.Contains(out, "3 devices") {
		t.Fatalf("check-config of the export: %v %s\n%s", err, out, exp)
	}
	// A restart finds them.
	r.d.stop()
	r.d = startDaemon(t, "run", "-config", r.path)
	check(r.d.addr)
	// Forget the bulb: gone from the API, listed as new again.
	if out, err := cli(t, "forget", "-config", r.path, "-id", "ct-1"); err != nil {
		t.Fatalf("forget: %v %s", err, out)
	}
	if q := query(t, r.d.addr, "ct-1"); q["ct-1"].ErrorCode != "DEVICE_NOT_FOUND" {
		t.Fatalf("forgotten device: %+v", q["ct-1"])
	}
	// lamp-1 is the config file's: forget refuses it.
	if out, err := cli(t, "forget", "-config", r.path, "-id", "lamp-1"); err == nil {
		t.Fatalf("forget of a configured device: %s", out)
	}
}

func TestAdoption_Page_RefusesStrangersAndBadRequests(t *testing.T) {
	r := startAdoptRig(t)
	publishZ2M(t, r.broker)
	base := "http://" + r.d.addr
	body := `{"driver":"mqtt","address":"z2m:kitchen/plug","id":"plug-1","name":"Plug","room":"room-1"}`
	// Anonymous: no list, no adoption.
	if code, _ := do(t, "GET", base+"/api/discovered", nil); code != http.StatusUnauthorized {
		t.Fatalf("anonymous list: %d", code)
	}
	if code, _ := do(t, "POST", base+"/api/adopt", strings.NewReader(body), "Content-Type", "application/json", "Origin", base); code != http.StatusUnauthorized {
		t.Fatalf("anonymous adopt: %d", code)
	}
	cookie, csrf := webLogin(t, base)
	// Signed in, but without the CSRF token, or from another site.
	if code, _ := do(t, "POST", base+"/api/adopt", strings.NewReader(body), "Cookie", cookie, "Content-Type", "application/json", "Origin", base); code != http.StatusForbidden {
		t.Fatalf("adopt without CSRF: %d", code)
	}
	if code, _ := do(t, "POST", base+"/api/adopt", strings.NewReader(body), "Cookie", cookie, "X-CSRF-Token", csrf, "Content-Type", "application/json", "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("cross-site adopt: %d", code)
	}
	hdr := []string{"Cookie", cookie, "X-CSRF-Token", csrf, "Content-Type", "application/json", "Origin", base}
	for want, b := range map[int]string{
		http.StatusBadRequest:          `{"driver":"mqtt","address":"z2m:kitchen/plug","id":"bad id!","room":"room-1"}`,
		http.StatusNotFound:            `{"driver":"mqtt","address":"z2m:nothing","id":"x","room":"room-1"}`,
		http.StatusUnprocessableEntity: `{"driver":"mqtt","address":"z2m:kitchen/plug","id":"x","room":"no-such-room"}`,
	} {
		eventually(t, 10*time.Second, "plug found", func() bool {
			code, list := do(t, "GET", base+"/api/discovered", nil, "Cookie", cookie)
			return code == 200 && strings.Contains(list, "kitchen/plug")
		})
		if code, resp := do(t, "POST", base+"/api/adopt", strings.NewReader(b), hdr...); code != want {
			t.Errorf("%s: %d %s, want %d", b, code, resp, want)
		}
	}
	// The technician gets through; the plug is live.
	if code, resp := do(t, "POST", base+"/api/adopt", strings.NewReader(body), hdr...); code != 200 {
		t.Fatalf("adopt: %d %s", code, resp)
	}
	if q := query(t, r.d.addr, "plug-1"); q["plug-1"].ErrorCode == "DEVICE_NOT_FOUND" {
		t.Fatal("adopted plug unknown to the API")
	}
	// The admin socket is the owner's only.
	fi, err := os.Stat(adminSocketPath(filepath.Join(r.dir, "data")))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}
}

// A configured Zigbee bulb whose entry names no capabilities is offered
// with what its exposes declare; one whose entry does keeps the entry's.
func TestDiscovery_ConfiguredDevicesLearnFromExposes(t *testing.T) {
	r := startAdoptRig(t, func(c *Config) {
		c.Devices = append(c.Devices,
			DeviceConfig{ID: "ct", Name: "CT", Kind: "light", Driver: "zigbee2mqtt", Topic: "hall/ct"},
			DeviceConfig{ID: "bulb", Name: "Bulb", Kind: "light", Driver: "zigbee2mqtt", Topic: "hall/bulb", Capabilities: []string{"on", "brightness"}})
		c.Site[0].Children[0].Devices = append(c.Site[0].Children[0].Devices, "ct", "bulb")
	})
	before := yandexDevicesList(t, r.d.addr)
	if !strings.Contains(before["ct"], "color_model") {
		t.Fatalf("ct before the bridge list: %s", before["ct"])
	}
	publishZ2M(t, r.broker)
	eventually(t, 10*time.Second, "ct offered as the CT bulb it is", func() bool {
		ct := yandexDevicesList(t, r.d.addr)["ct"]
		return strings.Contains(ct, `"min":2203`) && !strings.Contains(ct, "color_model")
	})
	if bulb := yandexDevicesList(t, r.d.addr)["bulb"]; strings.Contains(bulb, "color_setting") {
		t.Fatalf("pinned bulb grew capabilities: %s", bulb)
	}
	// check-config, next to the running daemon, names the disagreement.
	out, err := cli(t, "check-config", "-config", r.path)
	if err != nil || !strings.Contains(out, `warning: device "bulb": config and device disagree`) || strings.Contains(out, `device "ct"`) {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
}

// A bus with no configured device is scanned when hubd starts, over the
// configured range only.
func TestDiscovery_EmptyBusIsScannedAtStart(t *testing.T) {
	r := startAdoptRig(t, func(c *Config) {
		c.Devices = nil
		c.Site[0].Children[0].Devices = nil
		c.Discovery.ScanTo = 4
	})
	var out string
	eventually(t, 10*time.Second, "lamp at 1 found by the start scan", func() bool {
		out, _ = cli(t, "discover", "-config", r.path)
		return strings.Contains(out, "bus0/1")
	})
	// Another scan is refused while the start scan runs: once one goes
	// through, the start scan is over, and address 5 was never asked.
	eventually(t, 20*time.Second, "start scan over", func() bool {
		_, err := cli(t, "discover", "-config", r.path, "-scan", "bus0", "-from", "2", "-to", "2")
		return err == nil
	})
	if out, _ = cli(t, "discover", "-config", r.path); strings.Contains(out, "bus0/5") || !strings.Contains(out, "bus0/1") {
		t.Fatalf("want bus0/1 only (scan_to 4):\n%s", out)
	}
}
