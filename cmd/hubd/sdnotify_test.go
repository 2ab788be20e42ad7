package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifyListener binds a real unixgram socket, points $NOTIFY_SOCKET at it
// and returns a function that reads the next datagram.
func notifyListener(t *testing.T) func() string {
	t.Helper()
	// Unix socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		t.Helper()
		buf := make([]byte, 8192)
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestSdNotify_Ready_ReachesSocket(t *testing.T) {
	next := notifyListener(t)
	if err := sdReady("serving 5 devices"); err != nil {
		t.Fatal(err)
	}
	if got, want := next(), "READY=1\nSTATUS=serving 5 devices"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
}

func TestSdNotify_Reloading_CarriesMonotonicUsec(t *testing.T) {
	next := notifyListener(t)
	before := monotonicUsec()
	if err := sdReloading(); err != nil {
		t.Fatal(err)
	}
	got := next()
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("got %q", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || before <= 0 {
		t.Fatalf("MONOTONIC_USEC %q not a monotonic time after %d: %v", lines[1], before, err)
	}
}

func TestSdNotify_AbstractSocket(t *testing.T) {
	name := "@hubd-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if err := sdStopping(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestSdNotify_Unset_IsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestSdNotify_BadInput_ClearError(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, socket, state string
		want                error
	}{
		{"empty state", "/run/x", "", errNotifyState},
		{"nul in state", "/run/x", "READY=1\x00", errNotifyState},
		{"oversize state", "/run/x", "STATUS=" + strings.Repeat("x", maxNotifyLen), errNotifyState},
		{"relative socket", "notify.sock", "READY=1", errNotifySocket},
		{"bare at", "@", "READY=1", errNotifySocket},
		{"missing socket", filepath.Join(dir, "absent.sock"), "READY=1", syscall.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tt.socket)
			err := sdNotify(tt.state)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sd_notify") {
				t.Fatalf("message %q lacks the prefix", err)
			}
		})
	}
}

func TestStatusLine_KeepsOneLine(t *testing.T) {
	tests := []struct{ prefix, status, want string }{
		{"READY=1", "", "READY=1"},
		{"", "ok", "STATUS=ok"},
		{"READY=1", "a\nb\rc", "READY=1\nSTATUS=a b c"},
	}
	for _, tt := range tests {
		if got := statusLine(tt.prefix, tt.status); got != tt.want {
			t.Errorf("statusLine(%q, %q) = %q, want %q", tt.prefix, tt.status, got, tt.want)
		}
	}
}

func TestSdWatchdogInterval_HalfOfUsec(t *testing.T) {
	tests := []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"garbage", "", 0, false},
		{"-5", "", 0, false},
		{"60000000", "", 30 * time.Second, true},
		{"60000000", strconv.Itoa(os.Getpid()), 30 * time.Second, true},
		{"60000000", "1", 0, false},
	}
	for _, tt := range tests {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		got, ok := sdWatchdogInterval()
		if got != tt.want || ok != tt.ok {
			t.Errorf("usec %q pid %q: got %v %v, want %v %v", tt.usec, tt.pid, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSdWatchdog_PingsWhileAlive(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "20000") // ping every 10 ms
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sdWatchdog(ctx, nil) }()
	for range 3 {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("got %q", got)
		}
	}
	cancel()
	wg.Wait()
}

func TestSdWatchdog_SkipsPingWhenNotAlive(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	checks, healthy := 0, false
	alive := func() error {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if !healthy && checks >= 3 {
			// Only after three skipped pings does the daemon recover, so the
			// first datagram must come after the third check.
			healthy = true
		}
		if healthy {
			return nil
		}
		return errors.New("wedged")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sdWatchdog(ctx, alive) }()
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	n := checks
	mu.Unlock()
	if n < 3 {
		t.Fatalf("pinged after %d liveness checks; the failing ones must be skipped", n)
	}
	cancel()
	wg.Wait()
}

func FuzzStatusLine(f *testing.F) {
	for _, s := range []string{"", "ok", "a\nb\rc", "READY=1\nWATCHDOG=1", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, status string) {
		// Whatever the status text, it can add no assignment of its own.
		got := statusLine("READY=1", status)
		if n := strings.Count(got, "\n"); n > 1 || strings.ContainsAny(got, "\r\x00") {
			t.Fatalf("status %q produced %q", status, got)
		}
		if !strings.HasPrefix(got, "READY=1") {
			t.Fatalf("status %q lost the prefix: %q", status, got)
		}
	})
}
