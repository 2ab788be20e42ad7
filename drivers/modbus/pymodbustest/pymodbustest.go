// Package pymodbustest runs a Modbus RTU slave written with Debian's
// python3-pymodbus on one end of a socat PTY pair, for the tests that check
// hubd's Modbus driver against an implementation it did not write. It is
// imported by tests only.
//
// The slave (slave.py) has unit 1, a 4-channel relay (coils 0..3), unit 2,
// a dimmer (holding register 0), and unit 3, an Eastron SDM120 (float32
// input registers: 230.5 V at 0, 1.25 A at 6, 288 W at 12, 12.75 kWh at
// 342).
package pymodbustest

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Install is the command that provides the slave's dependencies.
const Install = "apt-get install -y python3-pymodbus socat"

//go:embed slave.py
var script []byte

// Slave is the running slave; Port is the PTY the driver opens.
type Slave struct {
	Port  string
	in    io.WriteCloser
	lines chan string
}

// Start starts socat and the slave, or skips the test when either is
// missing. Both stop at the test's cleanup.
func Start(t testing.TB) *Slave {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("socat is not installed: " + Install)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pymodbus").Run(); err != nil {
		t.Skip("python3-pymodbus is not installed: " + Install)
	}
	ptys := startSocat(t)
	path := filepath.Join(t.TempDir(), "slave.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	py := exec.Command("/usr/bin/python3", path, ptys[0])
	if testing.Verbose() {
		py.Stderr = os.Stderr
	}
	in, err := py.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Slave{Port: ptys[1], in: in, lines: make(chan string, 16)}
	t.Cleanup(func() { in.Close(); py.Process.Kill(); py.Wait() })
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	s.expect(t, "ready")
	return s
}

// startSocat starts a PTY pair and returns its two ends once socat has
// made them.
func startSocat(t testing.TB) []string {
	t.Helper()
	socat := exec.Command("socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0")
	stderr, err := socat.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socat.Process.Kill(); socat.Wait() })
	var ptys []string
	sc := bufio.NewScanner(stderr)
	for len(ptys) < 2 && sc.Scan() {
		if _, p, ok := strings.Cut(sc.Text(), "PTY is "); ok {
			ptys = append(ptys, p)
		}
	}
	if len(ptys) < 2 {
		t.Fatalf("socat gave no PTY pair: %v", sc.Err())
	}
	go io.Copy(io.Discard, stderr)
	return ptys
}

// expect waits for the slave to print a line starting with want (10 s at
// most) and returns it.
func (s *Slave) expect(t testing.TB, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("slave exited waiting for %q", want)
			}
			if strings.HasPrefix(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("slave did not say %q", want)
		}
	}
}

// Do sends a control line (see slave.py: mute, answer, busy N, badcrc N,
// set UNIT co|hr ADDR VALUE, float UNIT ADDR VALUE) and returns once it is
// in effect.
func (s *Slave) Do(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "ok "+line)
}

// Get reads a coil ("co") or holding register ("hr") inside the slave.
func (s *Slave) Get(t testing.TB, unit int, table string, addr int) string {
	t.Helper()
	line := fmt.Sprintf("get %d %s %d", unit, table, addr)
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	v := strings.TrimPrefix(s.expect(t, "value "), "value ")
	s.expect(t, "ok "+line)
	return v
}
