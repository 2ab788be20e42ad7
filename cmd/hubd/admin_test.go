package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asNobody runs a Python snippet as uid 65534 and returns its output.
func asNobody(t *testing.T, script string, args ...string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user (CI runs as root)")
	}
	const py = "/usr/bin/python3" // the system's, which every user may run
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3: apt-get install -y python3")
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 as nobody: %v\n%s", err, out)
	}
	return string(out)
}

const adminProbe = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused:", e); sys.exit()
s.sendall(b"POST /homes/room-101/checkout HTTP/1.0\r\n\r\n")
print(s.recv(4096).decode(errors="replace"))
`

// TestAdmin_Socket_RefusesOtherUsers is the admin socket from the side of
// a local user who is neither root nor the daemon's: the file system stops
// them, and were the socket opened up, the daemon's own uid check would.
func TestAdmin_Socket_RefusesOtherUsers(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	sock := d.adminSocket(t)
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("admin socket %s: %v %v, want a socket with mode 0600", sock, st.Mode(), err)
	}
	if out := asNobody(t, adminProbe, sock); !strings.Contains(out, "refused:") {
		t.Fatalf("another user reached the admin socket:\n%s", out)
	}
	// Open every directory up to the socket below the temp directory,
	// and the socket itself. Not the temp directory: /tmp is the
	// machine's (1777), and this loop used to leave it 0755.
	for p := sock; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		mode := os.FileMode(0o755)
		if p == sock {
			mode = 0o666
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if out := asNobody(t, adminProbe, sock); !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "only root and the daemon's user") {
		t.Fatalf("another user got past the uid check:\n%s", out)
	}
	// Root, the party that may, gets through.
	if out, err := hubdCLI(t, "home", "list", "-config", d.cfg); err != nil || !strings.Contains(out, "room-101") {
		t.Fatalf("root's home list: %v\n%s", err, out)
	}
	// Nothing was checked out by the refused calls.
	if code, _ := d.listed(t, tenTok101); code != 200 {
		t.Errorf("Room 101's token answers %d after refused check-outs", code)
	}
}

// TestAdmin_Socket_BoundsOpenConnections holds the admin socket's four
// connections open: a fifth is closed at once and counted, and once one is
// let go, the CLI gets through again.
func TestAdmin_Socket_BoundsOpenConnections(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	sock := d.adminSocket(t)
	var held []net.Conn
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for range defaultAdminConns {
		h, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	// Accepted connections are taken in order: the one after the four is
	// the one refused, whatever the timing.
	extra, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a fifth connection was not closed: read %d, %v", n, err)
	}
	// The daemon's log reaches the test through a pipe, a little later.
	eventually(t, 10*time.Second, "the refusal counted in the log", func() bool {
		return strings.Contains(d.out.String(), "refused_total=1")
	})
	held[0].Close()
	held = held[1:]
	eventually(t, 10*time.Second, "the CLI after a connection was let go", func() bool {
		out, err := hubdCLI(t, "home", "list", "-config", d.cfg)
		return err == nil && strings.Contains(out, "room-101")
	})
}

// TestAdmin_Socket_Garbage_AnswersClearly sends what is not a request, an
// oversize header and ids that are no home: clear HTTP errors, no panic,
// and the daemon keeps answering.
func TestAdmin_Socket_Garbage_AnswersClearly(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	d := startTenancyDaemon(t)
	sock := d.adminSocket(t)
	raw := func(req string) string {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte(req))
		b, _ := io.ReadAll(conn)
		return string(b)
	}
	for req, want := range map[string]string{
		"\x00\xff garbage\r\n\r\n": "400 Bad Request",
		"GET /homes HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n": "431 Request Header Fields Too Large",
		"POST /homes/lobby/checkout HTTP/1.0\r\n\r\n":                                          "404 Not Found",
		"POST /homes/" + strings.Repeat("%E2%98%83", 500) + "/login HTTP/1.0\r\n\r\n":          "404 Not Found",
		"DELETE /homes HTTP/1.0\r\n\r\n":                                                       "405 Method Not Allowed",
	} {
		if got := raw(req); !strings.Contains(got, want) {
			t.Errorf("%.40q: answered %.200q, want %s", req, got, want)
		}
	}
	if out, err := hubdCLI(t, "home", "checkout", "nowhere", "-config", d.cfg); err == nil || !strings.Contains(out, `"nowhere" is not a site node`) {
		t.Errorf("checkout of an unknown home: %v\n%s", err, out)
	}
	if out, err := hubdCLI(t, "home", "list", "-config", d.cfg); err != nil || !strings.Contains(out, "room-201") {
		t.Errorf("home list after garbage: %v\n%s", err, out)
	}
}

// adminSocket is the path of the daemon's admin socket.
func (d *tenancyDaemon) adminSocket(t *testing.T) string {
	t.Helper()
	c, err := LoadConfig(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return adminSocketPath(c.DataDir)
}
