// Package mosquittotest runs a real Mosquitto broker on a loopback port,
// for the tests that check hubd against a broker it did not write. It is
// imported by tests only.
package mosquittotest

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

// Install is the command that provides the broker and its clients.
const Install = "apt-get install -y mosquitto mosquitto-clients"

// Broker is a Mosquitto process on 127.0.0.1. Start makes it anonymous,
// without persistence, with a deep queue for subscribers that fall behind
// in a benchmark; StartConfig takes any other configuration.
type Broker struct {
	tb   testing.TB
	bin  string
	conf string
	port int
	cmd  *exec.Cmd
}

// Tool finds a command on PATH or at one of the given paths ("" when
// none is there).
func Tool(name string, paths ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a broker until the test ends; the test is skipped, naming
// the install command, when mosquitto is not installed.
func Start(tb testing.TB) *Broker {
	tb.Helper()
	return StartWith(tb, "allow_anonymous true\n")
}

// StartWith is Start with access lines of the caller's (allow_anonymous,
// password_file, acl_file, ...) instead of anonymous access. The broker
// keeps running as the test's user, so it reads files only it may read.
func StartWith(tb testing.TB, access string) *Broker {
	tb.Helper()
	return StartConfig(tb, "persistence false\nmax_queued_messages 100000\n"+access)
}

// StartConfig runs a broker with body as its configuration after the
// loopback listener line (ACLs, password files, bridges, persistence).
func StartConfig(tb testing.TB, body string) *Broker {
	tb.Helper()
	bin := Tool("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
	if bin == "" {
		tb.Skip("mosquitto not installed: " + Install)
	}
	port := FreePort(tb)
	conf := filepath.Join(tb.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\n%s", port, body)
	if os.Geteuid() == 0 && !strings.HasPrefix(body, "user ") && !strings.Contains(body, "\nuser ") {
		text += "user root\n" // not mosquitto: the test's files are root's
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	b := &Broker{tb: tb, bin: bin, conf: conf, port: port}
	b.Run()
	tb.Cleanup(b.Stop)
	return b
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the broker's tcp:// address.
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// Port is the broker's TCP port.
func (b *Broker) Port() int { return b.port }

// Run starts the broker (again, after Stop) and waits until it listens.
func (b *Broker) Run() {
	b.tb.Helper()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.tb.Fatalf("start mosquitto: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("mosquitto did not listen on %d: %v", b.port, err)
		}
	}
}

// Stop kills the broker, as a crash or a power cut would.
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
	b.cmd = nil
}
