package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// broker is a real Mosquitto on a loopback port.
type broker struct {
	t    *testing.T
	bin  string
	conf string
	port int
	cmd  *exec.Cmd
}

func lookTool(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if _, err := os.Stat(n); err == nil {
			return n
		}
	}
	return ""
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	bin := lookTool("mosquitto", "/usr/sbin/mosquitto")
	if bin == "" || lookTool("mosquitto_pub") == "" {
		t.Skip("mosquitto not installed: apt-get install -y mosquitto mosquitto-clients")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, bin: bin, conf: conf, port: port}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not listen: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *broker) stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
		b.cmd = nil
	}
}

func (b *broker) pub(topic, payload string) {
	b.t.Helper()
	out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", fmt.Sprint(b.port), "-t", topic, "-m", payload).CombinedOutput()
	if err != nil {
		b.t.Fatalf("mosquitto_pub %s: %v %s", topic, err, out)
	}
}

// The MQTT issue's acceptance check, word for word: hubd demo on an
// external Mosquitto, state published with mosquitto_pub shows in
// devices/query; Mosquitto restarted, the devices answer again.
func TestDemo_Mosquitto_PublishedStateShowsInQuery(t *testing.T) {
	b := startBroker(t)
	d := startDaemon(t, "demo", "-http", "127.0.0.1:0", "-data", t.TempDir(), "-broker", b.url())
	eventually(t, 15*time.Second, "MQTT devices online", func() bool {
		q := query(t, d.addr, "lamp-2", "socket-2", "lamp-3")
		for _, id := range []string{"lamp-2", "socket-2", "lamp-3"} {
			if _, ok := q[id].value("on"); !ok {
				return false
			}
		}
		return true
	})
	// The emulated devices are on (so a published OFF is a real change).
	on := `{"payload":{"devices":[` +
		`{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},` +
		`{"id":"lamp-3","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]},` +
		`{"id":"socket-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	if code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "on", on); code != 200 || strings.Count(string(data), "DONE") != 3 {
		t.Fatalf("switching on: %d %s", code, data)
	}

	b.pub("tele/demo-lamp-2/STATE", `{"POWER":"OFF","Dimmer":20}`)
	eventually(t, 5*time.Second, "lamp-2 off at 20%", func() bool {
		l := query(t, d.addr, "lamp-2")["lamp-2"]
		on, _ := l.value("on")
		bri, _ := l.value("brightness")
		return on == "false" && bri == "20"
	})
	b.pub("zigbee2mqtt/demo-lamp-3", `{"state":"OFF"}`)
	eventually(t, 5*time.Second, "lamp-3 off", func() bool {
		on, _ := query(t, d.addr, "lamp-3")["lamp-3"].value("on")
		return on == "false"
	})
	b.pub("shellies/shellyplug-s-demo2/relay/0/power", "42.5")
	eventually(t, 5*time.Second, "socket-2 at 42.5 W", func() bool {
		p, _ := query(t, d.addr, "socket-2")["socket-2"].value("power")
		return p == "42.5"
	})

	// Garbage on a subscribed topic changes nothing.
	b.pub("tele/demo-lamp-2/STATE", `{"POWER":"OFF","Dimmer":"bright"`)
	b.pub("zigbee2mqtt/demo-lamp-3", `not json at all`)
	time.Sleep(300 * time.Millisecond)
	if bri, _ := query(t, d.addr, "lamp-2")["lamp-2"].value("brightness"); bri != "20" {
		t.Fatalf("garbage changed lamp-2 brightness to %s", bri)
	}

	// Mosquitto goes away and comes back: the hub reconnects and its
	// devices answer commands again.
	b.stop()
	time.Sleep(500 * time.Millisecond)
	b.start()
	lampOn := `{"payload":{"devices":[{"id":"lamp-2","capabilities":[{"type":"devices.capabilities.on_off","state":{"instance":"on","value":true}}]}]}}`
	eventually(t, 30*time.Second, "lamp-2 answers after the broker restart", func() bool {
		code, data := yandexCall(t, d.addr, "/v1.0/user/devices/action", "again", lampOn)
		return code == 200 && strings.Contains(string(data), "DONE")
	})
}
