package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// exampleConfig is the packaged example config, as shipped.
const exampleConfig = "../../systemd/hubd.yaml"

// placeholderLines are the lines of text holding a CHANGE-ME
// credential: the MQTT password and the status page login.
func placeholderLines(t *testing.T, text string) (mqttLine, webLine int) {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		switch strings.TrimSpace(l) {
		case "password: CHANGE-ME":
			mqttLine = i + 1
		case "password_hash: CHANGE-ME":
			webLine = i + 1
		}
	}
	if mqttLine == 0 || webLine == 0 {
		t.Fatalf("the example config has no CHANGE-ME placeholders (mqtt line %d, web line %d)", mqttLine, webLine)
	}
	return mqttLine, webLine
}

// withOwnSecrets is the example config with its placeholders replaced as a
// technician would.
func withOwnSecrets(t *testing.T, text string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("a technician's own"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"password: CHANGE-ME", "password: Zm9vYmFyYmF6cXV4cXV1eA",
		"password_hash: CHANGE-ME", "password_hash: \""+string(h)+"\"",
	).Replace(text)
}

func TestConfig_ExampleFile_RefusedUntilItsSecretsAreSet(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	mqttLine, webLine := placeholderLines(t, string(b))
	_, err = LoadConfig(exampleConfig)
	es, ok := err.(ConfigErrors)
	if !ok || len(es) != 2 || es[0].Line != mqttLine || es[1].Line != webLine ||
		!strings.Contains(es[0].Msg, "mqtt.password is a placeholder") || !strings.Contains(es[1].Msg, `web user "tech": password_hash is a placeholder`) {
		t.Fatalf("the shipped example: %v, want exactly its lines %d and %d named", err, mqttLine, webLine)
	}
	if _, err := ParseConfig("own.yaml", []byte(withOwnSecrets(t, string(b)))); err != nil {
		t.Fatalf("with its secrets set: %v", err)
	}
}

// Passwords that hubd's docs, demo or earlier packages print are refused
// wherever they are put back.
func TestConfig_PublishedPasswordsRefused(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	good := withOwnSecrets(t, string(b))
	hashOf := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	oldShipped := "$2a$10$rdaQq/Hs57oeS6poARk2de2k3W/oAyJZx84puRNNywC39KoU4eyPm" // earlier packages' "change-me"
	for _, tc := range []struct{ from, to, want string }{
		{"password: Zm9vYmFyYmF6cXV4cXV1eA", "password: change-me-mqtt", "mqtt.password is a placeholder"},
		{"password: Zm9vYmFyYmF6cXV4cXV1eA", "password: demo-mqtt", "mqtt.password is a placeholder"},
		{"password: Zm9vYmFyYmF6cXV4cXV1eA", "password: please-CHANGEME", "mqtt.password is a placeholder"},
		{"password_hash: \"$2a$04$", "password_hash: \"" + oldShipped + "\" #", `published password "change-me"`},
		{"password_hash: \"$2a$04$", "password_hash: \"" + hashOf("demo-pass") + "\" #", `published password "demo-pass"`},
	} {
		i := strings.Index(good, tc.from)
		if i < 0 {
			t.Fatalf("no %q in the config", tc.from)
		}
		text := good[:i] + tc.to + good[i+len(tc.from):]
		if _, err := ParseConfig("x.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.to, err, tc.want)
		}
	}
}

// The published-hash check is remembered per hash (each costs bcrypt
// runs on every reload otherwise), answers stay right, and the memory of
// it is bounded.
func TestConfig_PublishedHashCheckRemembered(t *testing.T) {
	demo, err := bcrypt.GenerateFromPassword([]byte("demo-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	own, err := bcrypt.GenerateFromPassword([]byte("a secret of our own"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if p := publishedHashOf(string(demo)); p != "demo-pass" {
			t.Fatalf("round %d: demo hash: %q", i, p)
		}
		if p := publishedHashOf(string(own)); p != "" {
			t.Fatalf("round %d: own hash: %q", i, p)
		}
	}
	publishedMemo.Lock()
	got := publishedMemo.m[string(demo)]
	publishedMemo.Unlock()
	if got != "demo-pass" {
		t.Fatalf("not remembered: %q", got)
	}
	// Filled to one short of its bound directly (each hash through
	// publishedHashOf costs three bcrypt runs, ~50 ms under -race), then
	// driven past it with real hashes.
	publishedMemo.Lock()
	for i := len(publishedMemo.m); i < maxPublishedMemo-1; i++ {
		publishedMemo.m[fmt.Sprint("filler", i)] = ""
	}
	publishedMemo.Unlock()
	for i := 0; i < 10; i++ {
		h, _ := bcrypt.GenerateFromPassword([]byte(fmt.Sprint("pw", i)), bcrypt.MinCost)
		publishedHashOf(string(h))
	}
	publishedMemo.Lock()
	n := len(publishedMemo.m)
	publishedMemo.Unlock()
	if n > maxPublishedMemo {
		t.Fatalf("memo holds %d hashes, bound %d", n, maxPublishedMemo)
	}
}

// The package as built and installed: its binary refuses its own config
// and names the lines, and nothing listens, so no published password
// logs in anywhere (web or MQTT).
func TestFirstBoot_PackagedDaemonRefusesItsShippedConfig(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	needTool(t, "dpkg-deb", "dpkg")
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("no package for %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if out, err := exec.Command("dpkg-deb", "-x", buildDeb(t, dir, runtime.GOARCH), root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	conf := filepath.Join(root, "etc/hubd/hubd.yaml")
	shipped, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	mqttLine, webLine := placeholderLines(t, string(shipped))
	// Loopback and a free port, in case it started after all.
	http, broker := freePort(t), freePort(t)
	text := strings.NewReplacer("listen: 0.0.0.0:8080", "listen: "+http, "listen: 0.0.0.0:1883", "listen: "+broker,
		"data_dir: /var/lib/hubd", "data_dir: "+filepath.Join(dir, "data")).Replace(string(shipped))
	if err := os.WriteFile(conf, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	hubd := filepath.Join(root, "usr/bin/hubd")
	for _, cmd := range []string{"check-config", "run"} {
		c := exec.Command(hubd, cmd, "-config", conf)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = c.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			c.Process.Kill()
			<-done
			t.Fatalf("hubd %s with the shipped config is still running:\n%s", cmd, out)
		}
		for _, want := range []string{fmt.Sprintf("%s:%d: mqtt.password is a placeholder", conf, mqttLine), fmt.Sprintf("%s:%d: web user \"tech\": password_hash is a placeholder", conf, webLine)} {
			if err == nil || !strings.Contains(string(out), want) {
				t.Errorf("hubd %s: %v, output lacks %q:\n%s", cmd, err, want, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "hubd.db")); err == nil {
		t.Error("the refused daemon created its store")
	}
}
