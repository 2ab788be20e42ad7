package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
)

func TestConfig_Uplink_DefaultsAndLines(t *testing.T) {
	c, err := ParseConfig("c.yaml", []byte("gateway:\n  name: b7\n"+strings.TrimPrefix(goodConfig, "\n")+"uplink:\n  broker: ssl://fleet:8883\n  ca_file: /etc/hubd/ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uplink
	if u.Prefix != "hubd/b7" || *u.QoS != 1 || u.QueueMaxEvents != 100_000 || u.QueueMaxBytes != 64<<20 || u.CommandMaxAge != 30*time.Second || u.Commands {
		t.Fatalf("defaults: %+v", u)
	}
	base := goodConfig + "uplink:\n"
	for name, c := range map[string]struct{ text, want string }{
		"scheme":      {base + "  broker: http://x\n", `c.yaml:19: uplink.broker "http://x"`},
		"cert alone":  {base + "  broker: ssl://x:1\n  cert_file: c.pem\n", "c.yaml:20: uplink.cert_file and uplink.key_file go together"},
		"ca on tcp":   {base + "  broker: tcp://x:1\n  ca_file: ca.pem\n", "need an ssl:// broker"},
		"qos":         {base + "  broker: tcp://x:1\n  qos: 3\n", "c.yaml:20: uplink.qos 3"},
		"wildcard":    {base + "  broker: tcp://x:1\n  prefix: a/#\n", "c.yaml:20: uplink.prefix"},
		"tiny queue":  {base + "  broker: tcp://x:1\n  queue_max_bytes: 10\n", "c.yaml:20: uplink.queue_max_bytes 10"},
		"huge events": {base + "  broker: tcp://x:1\n  queue_max_events: -1\n", "c.yaml:20: uplink.queue_max_events -1"},
		"unknown key": {base + "  broker: tcp://x:1\n  comands: true\n", "c.yaml:20: field comands not found"},
	} {
		if _, err := ParseConfig("c.yaml", []byte(c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

// mosquittoSub runs Mosquitto's own client as a newcomer would and returns
// its `-v` lines: the retained messages under filter.
func mosquittoSub(t *testing.T, b *mosquittotest.Broker, filter string) []string {
	t.Helper()
	out, err := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", fmt.Sprint(b.Port()), "-v", "-t", filter, "--retained-only", "-W", "1").Output()
	if err != nil && len(out) == 0 {
		// -W ends the client with status 27 once it has printed what
		// was retained.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 27 {
			t.Fatalf("mosquitto_sub: %v", err)
		}
	}
	var lines []string
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	return lines
}

// DESIGN.md's contract: `hubd demo -uplink tcp://HOST:PORT` publishes the
// demo building under hubd/demo/, retained device state included, so that
// `mosquitto_sub -v -t 'hubd/#'` shows it.
func TestDemo_Uplink_MosquittoSubSeesTheBuilding(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	if mosquittotest.Tool("mosquitto_sub") == "" {
		t.Skip("mosquitto_sub not installed: " + mosquittotest.Install)
	}
	b := mosquittotest.Start(t)
	startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir(), "-uplink", b.URL())
	devices := []string{"lamp-1", "socket-1", "lamp-2", "socket-2", "lamp-3"}
	var lines []string
	eventually(t, 20*time.Second, "every demo device's retained state online under hubd/demo/", func() bool {
		lines = mosquittoSub(t, b, "hubd/#")
		online := map[string]bool{}
		for _, l := range lines {
			topic, payload, _ := strings.Cut(l, " ")
			id, ok := strings.CutSuffix(strings.TrimPrefix(topic, "hubd/demo/v1/devices/"), "/state")
			var st struct{ Online bool }
			if ok && json.Unmarshal([]byte(payload), &st) == nil && st.Online {
				online[id] = true
			}
		}
		for _, id := range devices {
			if !online[id] {
				return false
			}
		}
		return true
	})
	text := strings.Join(lines, "\n")
	for _, want := range []string{`hubd/demo/v1/status {"v":1,"status":"online"}`, "hubd/demo/v1/health ", `hubd/demo/v1/devices/lamp-3/availability {"v":1,"status":"online"}`} {
		if !strings.Contains(text, want) {
			t.Errorf("mosquitto_sub output lacks %q:\n%s", want, text)
		}
	}
	t.Logf("mosquitto_sub -v -t 'hubd/#':\n%s", text)
}

// The example's commented uplink section, uncommented, is a valid config.
func TestConfig_ExampleUplinkSectionIsValid(t *testing.T) {
	data, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := withOwnSecrets(t, string(data))
	i := strings.Index(text, "# uplink:\n")
	if i < 0 {
		t.Fatal("systemd/hubd.yaml has no commented uplink section")
	}
	var block []string
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	c, err := ParseConfig("hubd.yaml", []byte(text[:i]+strings.Join(block, "\n")+"\n"+text[i:]))
	if err != nil {
		t.Fatal(err)
	}
	if c.Uplink == nil || c.Uplink.Broker != "ssl://fleet.example.net:8883" || c.Uplink.Prefix != "hubd/"+c.Gateway.Name {
		t.Fatalf("uplink = %+v", c.Uplink)
	}
}

func TestReload_ChangedUplinkNeedsARestart(t *testing.T) {
	parse := func(extra string) *Config {
		c, err := ParseConfig("c.yaml", []byte(goodConfig+"uplink:\n  broker: tcp://fleet:1883\n"+extra))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := uplinkReload(parse(""), parse("")); err != nil {
		t.Fatalf("same uplink section: %v", err)
	}
	if err := uplinkReload(parse(""), parse("  commands: true\n")); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("changed uplink section: %v", err)
	}
}
