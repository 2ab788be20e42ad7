package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/mosquittotest"
)

// A password made by mosquitto_passwd itself checks against hubd's code.
func TestMQTTHash_MatchesMosquittoPasswd(t *testing.T) {
	bin := mosquittotest.Tool("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
	if bin == "" {
		t.Skip("mosquitto_passwd not installed: " + mosquittotest.Install)
	}
	f := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(bin, "-c", "-b", f, "dev", "their-secret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(strings.TrimPrefix(string(b), "dev:"))
	if !checkMQTTHash(h, []byte("their-secret")) || checkMQTTHash(h, []byte("their-secreT")) {
		t.Errorf("mosquitto_passwd's hash %q does not check as it should", h)
	}
}

// The acl_file and password_file of `hubd mosquitto-acl` give a real
// Mosquitto the embedded broker's isolation: tried with a plug's account.
func TestMosquittoACL_RealMosquittoIsolatesDevices(t *testing.T) {
	dir := t.TempDir()
	cfg := mqttRunConfig(t, dir, "127.0.0.1:0", "hubd", "hub-pass-1", accountSpecs(), nil)
	pw := map[string]string{}
	for _, a := range []string{"plug-1", "lamp-1"} {
		out, err := mqttAccountCmd(t, "create", a, "-config", cfg)
		m := passwordRe.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("create %s: %v\n%s", a, err, out)
		}
		pw[a] = m[1]
	}
	var acl, errOut bytes.Buffer
	passwd := filepath.Join(dir, "passwd")
	if err := run([]string{"mosquitto-acl", "-config", cfg, "-passwd", passwd}, nil, &acl, &errOut); err != nil {
		t.Fatalf("mosquitto-acl: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"user hubd\ntopic readwrite #\n", "user plug-1\ntopic readwrite shellies/shellyplug-s-1/#\n",
		"user lamp-1\ntopic write tele/lamp-one/#\n", "(no password yet: hubd mqtt-account create zigbee2mqtt)\nuser zigbee2mqtt\ntopic readwrite zigbee2mqtt/#\n"} {
		if !strings.Contains(acl.String(), want) {
			t.Errorf("acl_file lacks %q:\n%s", want, acl.String())
		}
	}
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, acl.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := mosquittotest.StartWith(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\nacl_file %s\n", passwd, aclFile))
	addr := fmt.Sprintf("127.0.0.1:%d", b.Port())

	hubC, err := mqttConnect(addr, "hubd-x", "hubd", "hub-pass-1", 5*time.Second)
	if err != nil {
		t.Fatalf("the hub's account: %v", err)
	}
	defer hubC.Disconnect(0)
	got := make(chan string, 32)
	if tok := hubC.Subscribe("#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if c, err := mqttConnect(addr, "x", "plug-1", pw["lamp-1"], 0); err == nil {
		c.Disconnect(0)
		t.Error("plug-1 logged in with lamp-1's password")
	}
	plug, err := mqttConnect(addr, "plug", "plug-1", pw["plug-1"], 2*time.Second)
	if err != nil {
		t.Fatalf("plug-1's own password: %v", err)
	}
	defer plug.Disconnect(0)
	for _, topic := range []string{"cmnd/lamp-one/POWER", "tele/lamp-one/STATE", "hubd/hubd-x/availability", "zigbee2mqtt/bulb-one/set"} {
		plug.Publish(topic, 1, false, "ON").WaitTimeout(5 * time.Second)
	}
	own := "shellies/shellyplug-s-1/relay/0"
	plug.Publish(own, 1, false, "on").WaitTimeout(5 * time.Second)
	select {
	case topic := <-got:
		if topic != own {
			t.Errorf("the hub got %q from the plug's account before its own report", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plug's own report never arrived")
	}
	// Mosquitto's acl_file grants any subscription and filters what it
	// delivers by the read rules: subscribed to "#", the plug gets its own
	// command and nothing of the others'.
	heard := make(chan string, 32)
	if tok := plug.Subscribe("#", 1, func(_ paho.Client, m paho.Message) { heard <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ownCmd := "shellies/shellyplug-s-1/relay/0/command"
	for _, topic := range []string{"cmnd/lamp-one/POWER", "zigbee2mqtt/bulb-one/set", "hubd/hubd-x/availability", "shellies/other/relay/0/command", ownCmd} {
		hubC.Publish(topic, 1, false, "on").WaitTimeout(5 * time.Second)
	}
	select {
	case topic := <-heard:
		if topic != ownCmd {
			t.Errorf("the plug's account read %q", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plug's own command never arrived")
	}
}
