package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The systemd notification protocol (sd_notify(3)): newline-separated
// KEY=VALUE assignments in one datagram to the AF_UNIX socket named by
// $NOTIFY_SOCKET. Spoken directly so that hubd needs no libsystemd and no
// extra module.

var (
	// errNotifyState is returned by sdNotify when the state is empty or holds
	// a NUL byte, which the protocol cannot carry.
	errNotifyState = errors.New("sd_notify: invalid state")
	// errNotifySocket is returned by sdNotify when $NOTIFY_SOCKET names
	// neither a path nor an abstract socket.
	errNotifySocket = errors.New("sd_notify: invalid NOTIFY_SOCKET")
)

// maxNotifyLen bounds one notification; systemd reads at most a page plus
// credentials, and nothing hubd sends comes near it.
const maxNotifyLen = 4096

// sdNotify sends state (for example "READY=1" or "STATUS=serving") to the
// service manager. It is a no-op returning nil when $NOTIFY_SOCKET is unset,
// as it is outside systemd or under a unit that is not Type=notify.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if state == "" || len(state) > maxNotifyLen || strings.IndexByte(state, 0) >= 0 {
		return fmt.Errorf("%w: %d bytes", errNotifyState, len(state))
	}
	// A leading '@' names an abstract socket; Go's net package maps it to
	// the leading NUL the kernel expects.
	if addr[0] != '/' && addr[0] != '@' || len(addr) < 2 {
		return fmt.Errorf("%w: %q", errNotifySocket, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: dial %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: send: %w", err)
	}
	return nil
}

// sdReady tells systemd the daemon is up (store open, listeners bound):
// `systemctl start hubd` returns and units ordered after hubd start.
func sdReady(status string) error {
	return sdNotify(statusLine("READY=1", status))
}

// sdStopping tells systemd the daemon is shutting down on purpose.
func sdStopping() error { return sdNotify("STOPPING=1") }

// sdReloading tells systemd a configuration reload began; send sdReady when
// it is done. systemd 253+ requires MONOTONIC_USEC to match the reload to the
// ExecReload= job.
func sdReloading() error {
	return sdNotify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
}

// sdStatus sets the free-form status line `systemctl status hubd` shows.
func sdStatus(status string) error { return sdNotify(statusLine("", status)) }

func statusLine(prefix, status string) string {
	// STATUS= is one line; a newline would start a new assignment.
	status = strings.NewReplacer("\n", " ", "\r", " ", "\x00", " ").Replace(status)
	switch {
	case status == "":
		return prefix
	case prefix == "":
		return "STATUS=" + status
	default:
		return prefix + "\nSTATUS=" + status
	}
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

// sdWatchdogInterval reports how often systemd expects WATCHDOG=1 (half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises), and false when the
// watchdog is off or meant for another process ($WATCHDOG_PID).
func sdWatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// sdWatchdog pings the systemd watchdog until ctx ends. Each ping first asks
// alive (nil = always alive); when it fails the ping is skipped, so a daemon
// whose main loop is wedged gets restarted by systemd after WatchdogSec.
func sdWatchdog(ctx context.Context, alive func() error) {
	every, ok := sdWatchdogInterval()
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if alive == nil || alive() == nil {
			_ = sdNotify("WATCHDOG=1")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
