package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hubd/drivers/mqtt/mosquittotest"
)

// The package and its unit under a real systemd: a container booted with
// systemd-nspawn from this machine's own root file system (an overlay with
// a tmpfs on top, so nothing is downloaded and the host is left as it was),
// the .deb installed in it, then start, sandbox, reload, crash, watchdog,
// stop and `hubd install` driven with systemctl through nsenter.
//
// Teardown does not depend on the test finishing: everything the test
// starts lives in a cgroup of its own (hubd-nspawn-PID under this
// process's cgroup v2), which cleanup kills with cgroup.kill; a later run
// kills and removes the cgroups of runs whose process is gone. The mounts
// live in a private mount namespace and vanish with the container.

const (
	nspawnCgroupPrefix = "hubd-nspawn-"
	nspawnMachine      = "hubd-nspawn-test"
	nspawnFiles        = "/mnt/hubd-test" // the host's files, read-only inside
	nspawnPath         = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	nspawnHTTP         = "127.0.0.1:8080" // the container's own loopback
)

// nspawnBoot is run by unshare in a private mount namespace: a tmpfs upper
// layer over the host's root, a machine id of its own, then nspawn.
const nspawnBoot = `set -eu
d=$1
shift
mount -t tmpfs -o mode=0700,size=4g hubd-nspawn "$d"
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 hubd-nspawn-run /run/systemd/nspawn
mkdir "$d/upper" "$d/work" "$d/root"
mount -t overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" hubd-nspawn-root "$d/root"
rm -f "$d/root/etc/machine-id"
systemd-id128 new >"$d/root/etc/machine-id"
exec systemd-nspawn "$@"
`

// container is one booted systemd-nspawn machine.
type container struct {
	t      *testing.T
	cgroup string // the cgroup v2 directory holding everything started
	cgFD   int
	nspawn *exec.Cmd
	exited chan error
	leader int // the container's PID 1, as this machine sees it
	out    syncBuffer
}

func TestNspawn_PackageUnderRealSystemd(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	if testing.Short() {
		t.Skip("boots a container: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("boots a systemd-nspawn container: needs root (CI runs as root)")
	}
	needTool(t, "systemd-nspawn", "systemd-container")
	needTool(t, "systemd-id128", "systemd")
	needTool(t, "dpkg-deb", "dpkg")
	needTool(t, "nsenter", "util-linux")
	needTool(t, "unshare", "util-linux")
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		t.Skip("no systemd on this machine to boot: apt-get install -y systemd")
	}
	debArch, goarch := "", runtime.GOARCH
	switch goarch {
	case "amd64", "arm64":
		debArch = goarch
	default:
		t.Skipf("no package for %s", goarch)
	}
	total := time.Now()
	defer func() { t.Logf("timing: whole test %v", time.Since(total).Round(time.Millisecond)) }()

	// The package, as `make deb` builds it, and a config for the container.
	step := time.Now()
	files := t.TempDir()
	if err := os.Chmod(files, 0o755); err != nil {
		t.Fatal(err)
	}
	buildHubd(t, files, goarch) // for HubdInstall_Kardianos
	deb := filepath.Base(buildDeb(t, files, debArch))
	writeNspawnConfig(t, filepath.Join(files, "hubd.yaml"))
	t.Logf("timing: build binary and .deb %v", time.Since(step).Round(time.Millisecond))

	step = time.Now()
	c := bootContainer(t, files)
	t.Logf("timing: boot to basic.target %v", time.Since(step).Round(time.Millisecond))

	steps := []struct {
		name string
		fn   func(t *testing.T, c *container)
	}{
		{"Package_Install", func(t *testing.T, c *container) { nspawnInstall(t, c, deb) }},
		{"Start_WaitsForReady", nspawnStart},
		{"Sandbox_Holds", nspawnSandbox},
		{"MQTTAccount_ThroughAdminSocket", nspawnMQTTAccount},
		{"Reload_SamePID", nspawnReload},
		{"Kill9_Restarts", nspawnKill},
		{"Watchdog_PingsAndRestartsHungDaemon", nspawnWatchdog},
		{"Stop_Within5s", nspawnStop},
		{"HubdInstall_Kardianos", nspawnHubdInstall},
	}
	for _, s := range steps {
		step := time.Now()
		ok := t.Run(s.name, func(t *testing.T) { s.fn(t, c) })
		t.Logf("timing: %s %v", s.name, time.Since(step).Round(time.Millisecond))
		if !ok {
			j, _ := c.run("journalctl", "-u", "hubd", "--no-pager", "-n", "80")
			t.Logf("last lines of the journal of hubd.service:\n%s", j)
			return
		}
	}

	step = time.Now()
	if err := c.shutdown(20 * time.Second); err != nil {
		t.Errorf("container shutdown: %v\n%s", err, tail(c.out.String(), 30))
	}
	t.Logf("timing: container shutdown %v", time.Since(step).Round(time.Millisecond))
}

// writeNspawnConfig writes the package's example config with the listeners
// on the container's loopback. The serial bus stays: /dev/ttyUSB0 is
// missing in the container, as on a gateway whose adapter is unplugged,
// and the daemon must run regardless.
func writeNspawnConfig(t *testing.T, path string) {
	t.Helper()
	example, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"listen: 0.0.0.0:8080", "listen: "+nspawnHTTP,
		"listen: 0.0.0.0:1883", "listen: 127.0.0.1:1883",
		"name: riverside-gw-1", "name: nspawn-gw",
	).Replace(withOwnSecrets(t, string(example)))
	if !strings.Contains(cfg, "listen: "+nspawnHTTP) || !strings.Contains(cfg, "data_dir: /var/lib/hubd") {
		t.Fatal("example config no longer has the listen/data_dir lines this test relies on")
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func nspawnInstall(t *testing.T, c *container, deb string) {
	// The lower layer is this machine: make sure no hubd is there already.
	c.sh(t, "if dpkg-query -W hubd >/dev/null 2>&1; then dpkg --purge hubd; fi; rm -rf /etc/systemd/system/hubd.service /etc/systemd/system/hubd.service.d /usr/local/bin/hubd; if id hubd >/dev/null 2>&1; then userdel hubd; fi; systemctl daemon-reload")
	out := c.sh(t, "dpkg -i "+nspawnFiles+"/"+deb)
	if !strings.Contains(out, "edit /etc/hubd/hubd.yaml, then: systemctl start hubd") {
		t.Errorf("postinst did not say what to do next:\n%s", out)
	}
	// postinst: a system user in dialout, ownerships, enabled, not started.
	uid, err := strconv.Atoi(c.sh(t, "id -u hubd"))
	if err != nil || uid <= 0 || uid >= 1000 {
		t.Errorf("hubd uid %d (%v), want a system uid", uid, err)
	}
	if groups := strings.Fields(c.sh(t, "id -nG hubd")); !contains(groups, "dialout") || !contains(groups, "hubd") {
		t.Errorf("hubd groups %v, want hubd and dialout", groups)
	}
	for path, want := range map[string]string{
		"/etc/hubd/hubd.yaml":              "root:hubd 640",
		"/var/lib/hubd":                    "hubd:hubd 700",
		"/usr/bin/hubd":                    "root:root 755",
		"/lib/systemd/system/hubd.service": "root:root 644",
	} {
		if got := c.sh(t, "stat -c '%U:%G %a' "+path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if got := c.sh(t, "systemctl is-enabled hubd || true"); got != "enabled" {
		t.Errorf("is-enabled = %q, want enabled", got)
	}
	if got := c.sh(t, "systemctl is-active hubd || true"); got != "inactive" {
		t.Errorf("is-active after first install = %q, want inactive (the example config is not the site's)", got)
	}
	// Started anyway, the shipped config is refused with its lines named:
	// no published password serves the building.
	mqttLine, webLine := placeholderLines(t, c.sh(t, "cat /etc/hubd/hubd.yaml"))
	if out, err := c.run("systemctl", "start", "hubd"); err == nil {
		t.Errorf("systemctl start with the shipped config succeeded:\n%s", out)
	}
	j := c.sh(t, "systemctl stop hubd; systemctl reset-failed hubd; journalctl -u hubd --no-pager -o cat")
	for _, want := range []string{fmt.Sprintf("/etc/hubd/hubd.yaml:%d: mqtt.password is a placeholder", mqttLine), fmt.Sprintf("/etc/hubd/hubd.yaml:%d: web user \"tech\": password_hash is a placeholder", webLine)} {
		if !strings.Contains(j, want) {
			t.Errorf("journal lacks %q:\n%s", want, j)
		}
	}
	// The site's config, as a technician would put it there.
	c.sh(t, "install -m 0640 -o root -g hubd "+nspawnFiles+"/hubd.yaml /etc/hubd/hubd.yaml && hubd check-config -config /etc/hubd/hubd.yaml")
}

func nspawnStart(t *testing.T, c *container) {
	start := time.Now()
	c.sh(t, "systemctl start hubd")
	took := time.Since(start)
	// Type=notify: start returned, so READY=1 came, with its STATUS=.
	p := c.props(t, "ActiveState", "SubState", "MainPID", "StatusText", "NRestarts")
	if p["ActiveState"] != "active" || p["SubState"] != "running" {
		t.Fatalf("right after `systemctl start`: %v", p)
	}
	if p["StatusText"] != "serving on "+nspawnHTTP {
		t.Errorf("StatusText = %q, want the READY=1 status line", p["StatusText"])
	}
	// No retry: the listener is up when start returns.
	if err := c.healthz(); err != nil {
		t.Fatalf("healthz right after start: %v", err)
	}
	t.Logf("systemctl start returned after %v; MainPID %s", took.Round(time.Millisecond), p["MainPID"])
	env := c.sh(t, "tr '\\0' '\\n' </proc/"+p["MainPID"]+"/environ")
	if !strings.Contains(env, "WATCHDOG_USEC=60000000") || !strings.Contains(env, "NOTIFY_SOCKET=") {
		t.Errorf("daemon environment lacks the watchdog or notify socket:\n%s", env)
	}
	// Readiness came from the daemon, after its listener: its "hubd started"
	// line is before systemd's "Started".
	j := c.sh(t, "journalctl -u hubd --no-pager -o cat")
	if i, k := strings.Index(j, "hubd started"), strings.Index(j, "Started hubd.service"); i < 0 || k < 0 || i > k {
		t.Errorf("journal order wrong (hubd started at %d, systemd Started at %d):\n%s", i, k, j)
	}
}

// nspawnMQTTAccount: root's `hubd mqtt-account` reaches the sandboxed
// daemon over its admin socket, and the device logs in at once.
func nspawnMQTTAccount(t *testing.T, c *container) {
	if mosquittotest.Tool("mosquitto_pub", "/usr/bin/mosquitto_pub") == "" {
		t.Skip("mosquitto_pub not installed: " + mosquittotest.Install)
	}
	out := c.sh(t, "hubd mqtt-account create r101-lamp -config /etc/hubd/hubd.yaml")
	m := passwordRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("mqtt-account create:\n%s", out)
	}
	if got := c.sh(t, "stat -c '%U %a' /var/lib/hubd/admin.sock"); got != "hubd 600" {
		t.Errorf("admin socket: %s, want hubd 600", got)
	}
	pub := "mosquitto_pub -h 127.0.0.1 -p 1883 -i r101 -u r101-lamp -q 1 -t tele/r101-lamp/LWT -m Online -P "
	if out, err := c.run("sh", "-c", pub+m[1]); err != nil {
		t.Errorf("the new account's publish: %v\n%s", err, out)
	}
	if out, err := c.run("sh", "-c", pub+"wrong-password"); err == nil {
		t.Errorf("a wrong password logged in:\n%s", out)
	}
}

func nspawnSandbox(t *testing.T, c *container) {
	pid := c.mainPID(t)
	status := c.sh(t, "cat /proc/"+pid+"/status")
	uid := c.sh(t, "id -u hubd")
	gid := c.sh(t, "id -g hubd")
	for _, want := range []string{
		"Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid,
		"Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid,
		"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000",
		"NoNewPrivs:\t1",
		"Seccomp:\t2", // filter mode: SystemCallFilter is in force
	} {
		if !strings.Contains(status, want+"\n") {
			t.Errorf("/proc/%s/status lacks %q", pid, want)
		}
	}
	if got := c.sh(t, "ps -o user= -p "+pid); got != "hubd" {
		t.Errorf("daemon runs as %q, want hubd", got)
	}
	for path, want := range map[string]string{
		"/var/lib/hubd":         "hubd:hubd 700",
		"/var/lib/hubd/hubd.db": "hubd:hubd 600", // UMask=0077
	} {
		if got := c.sh(t, "stat -c '%U:%G %a' "+path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	// The daemon's own view of the file system (its mount namespace):
	// ProtectSystem=strict makes / read-only, StateDirectory= re-opens
	// /var/lib/hubd. Even root is refused there, so it is the mount and not
	// the file modes that says no.
	mounts := c.sh(t, "cat /proc/"+pid+"/mountinfo")
	if !mountOpt(mounts, "/", "ro") || !mountOpt(mounts, "/var/lib/hubd", "rw") {
		t.Errorf("daemon's mounts: / not ro or /var/lib/hubd not rw:\n%s", mounts)
	}
	for _, probe := range []string{"/etc/hubd/probe", "/usr/bin/hubd-probe", "/var/lib/hubd-probe"} {
		out, err := c.run("nsenter", "--target", pid, "--mount", "--", "touch", probe)
		if err == nil || !strings.Contains(out, "Read-only file system") {
			t.Errorf("touch %s in the daemon's namespace: %v %q, want Read-only file system", probe, err, out)
		}
	}
	if out, err := c.run("nsenter", "--target", pid, "--mount", "--", "test", "-w", "/var/lib/hubd"); err != nil {
		t.Errorf("/var/lib/hubd not writable in the daemon's namespace: %v %s", err, out)
	}
	// PrivateTmp: the daemon's /tmp is not the container's.
	c.sh(t, "touch /tmp/hubd-nspawn-outside")
	if out, err := c.run("nsenter", "--target", pid, "--mount", "--", "test", "-e", "/tmp/hubd-nspawn-outside"); err == nil {
		t.Errorf("the daemon sees the container's /tmp (PrivateTmp off?) %s", out)
	}
	if err := c.healthz(); err != nil {
		t.Errorf("healthz: %v", err)
	}
}

// mountOpt reports whether the mount at point in a mountinfo text has the
// per-mount option opt (the last such mount wins, as it shadows the others).
func mountOpt(mountinfo, point, opt string) bool {
	found := false
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || f[4] != point {
			continue
		}
		found = contains(strings.Split(f[5], ","), opt)
	}
	return found
}

func nspawnReload(t *testing.T, c *container) {
	pid := c.mainPID(t)
	reloads := func() int { return strings.Count(c.sh(t, "journalctl -u hubd --no-pager -o cat"), "msg=reloaded") }
	failed := func() int {
		return strings.Count(c.sh(t, "journalctl -u hubd --no-pager -o cat"), `msg="reload failed"`)
	}
	reload := func(what string, count func() int) {
		t.Helper()
		before := count()
		start := time.Now()
		c.sh(t, "systemctl reload hubd")
		returned := time.Since(start)
		waitFor(t, 5*time.Second, what+" in the journal", func() bool { return count() > before })
		t.Logf("%s: systemctl reload returned after %v, log line after %v", what, returned.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		p := c.props(t, "ActiveState", "MainPID")
		if p["ActiveState"] != "active" || p["MainPID"] != pid {
			t.Fatalf("after %s: %v, want active with MainPID %s", what, p, pid)
		}
		if err := c.healthz(); err != nil {
			t.Fatalf("healthz after %s: %v", what, err)
		}
	}
	reload("reloaded", reloads)
	// A broken file is refused; the daemon keeps serving the old config.
	c.sh(t, "cp -p /etc/hubd/hubd.yaml /root/hubd.yaml.good && printf 'devices: [\\n' >>/etc/hubd/hubd.yaml")
	reload("reload failed", failed)
	c.sh(t, "cp -p /root/hubd.yaml.good /etc/hubd/hubd.yaml")
	reload("reloaded", reloads)
	// The filter answers EPERM rather than killing (SystemCallErrorNumber):
	// nothing the daemon did so far may have met it.
	if j := c.sh(t, "journalctl -u hubd --no-pager -o cat"); strings.Contains(j, "operation not permitted") || strings.Contains(j, "SIGSYS") {
		t.Errorf("the daemon met the sandbox during normal work:\n%s", j)
	}
}

func nspawnKill(t *testing.T, c *container) {
	pid := c.mainPID(t)
	restarts := c.props(t, "NRestarts")["NRestarts"]
	start := time.Now()
	c.sh(t, "kill -9 "+pid)
	var p map[string]string
	waitFor(t, 30*time.Second, "a new MainPID after kill -9 (Restart=on-failure, RestartSec=5s)", func() bool {
		p = c.props(t, "ActiveState", "MainPID", "NRestarts")
		return p["ActiveState"] == "active" && p["MainPID"] != pid && p["MainPID"] != "0"
	})
	t.Logf("kill -9 %s: active again as %s after %v", pid, p["MainPID"], time.Since(start).Round(time.Millisecond))
	if p["NRestarts"] == restarts {
		t.Errorf("NRestarts still %s", restarts)
	}
	if err := c.healthz(); err != nil {
		t.Errorf("healthz after restart: %v", err)
	}
}

func nspawnWatchdog(t *testing.T, c *container) {
	// A drop-in shortens the watchdog from 60 s so the test sees it work.
	c.sh(t, `mkdir -p /etc/systemd/system/hubd.service.d && printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n' >/etc/systemd/system/hubd.service.d/watchdog.conf && systemctl daemon-reload && systemctl restart hubd`)
	defer c.sh(t, "rm -rf /etc/systemd/system/hubd.service.d && systemctl daemon-reload")
	pid := c.mainPID(t)
	if env := c.sh(t, "tr '\\0' '\\n' </proc/"+pid+"/environ"); !strings.Contains(env, "WATCHDOG_USEC=2000000") {
		t.Fatalf("drop-in not in force:\n%s", env)
	}
	// WATCHDOG=1 every WatchdogSec/2: systemd's timestamp of the last ping moves.
	stamp := func() int64 {
		n, err := strconv.ParseInt(c.props(t, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	last, moved := stamp(), 0
	for i := 0; i < 3; i++ {
		time.Sleep(1200 * time.Millisecond)
		if now := stamp(); now > last {
			moved++
			last = now
		}
	}
	if moved < 2 {
		t.Fatalf("watchdog timestamp moved %d times in 3.6 s, want a ping every second", moved)
	}
	// A hung daemon stops pinging: systemd aborts it and starts a new one.
	start := time.Now()
	c.sh(t, "kill -STOP "+pid)
	var p map[string]string
	waitFor(t, 40*time.Second, "a restart after the watchdog fired", func() bool {
		p = c.props(t, "ActiveState", "MainPID")
		return p["ActiveState"] == "active" && p["MainPID"] != pid && p["MainPID"] != "0"
	})
	t.Logf("SIGSTOP %s: watchdog restart as %s after %v", pid, p["MainPID"], time.Since(start).Round(time.Millisecond))
	if j := c.sh(t, "journalctl -u hubd --no-pager -o cat"); !strings.Contains(j, "Watchdog timeout") {
		t.Errorf("no watchdog timeout in the journal")
	}
}

func nspawnStop(t *testing.T, c *container) {
	pid := c.mainPID(t)
	start := time.Now()
	c.sh(t, "systemctl stop hubd")
	took := time.Since(start)
	t.Logf("systemctl stop took %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("stop took %v, want under 5 s", took)
	}
	// A clean exit on SIGTERM, not the SIGKILL after TimeoutStopSec.
	p := c.props(t, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus", "ExecMainPID")
	if p["ActiveState"] != "inactive" || p["Result"] != "success" || p["ExecMainCode"] != "1" || p["ExecMainStatus"] != "0" || p["ExecMainPID"] != pid {
		t.Errorf("after stop: %v, want inactive, exited (code 1) with status 0", p)
	}
}

// nspawnHubdInstall drives `hubd install|status|start|stop|uninstall`
// (kardianos/service) against the container's systemd.
func nspawnHubdInstall(t *testing.T, c *container) {
	hubd := func(args string) (string, error) { return c.run("sh", "-c", "/usr/local/bin/hubd "+args+" 2>&1") }
	expect := func(args, want string, wantErr bool) {
		t.Helper()
		out, err := hubd(args)
		if (err != nil) != wantErr || !strings.Contains(out, want) {
			t.Errorf("hubd %s: %v %q, want error %v and %q", args, err, out, wantErr, want)
		}
	}
	c.sh(t, "install -m 0755 "+nspawnFiles+"/hubd /usr/local/bin/hubd")
	// The package owns the unit: install refuses.
	expect("install", "managed by the hubd Debian package", true)
	// Purge: prerm/postrm remove unit, config and state.
	c.sh(t, "dpkg --purge hubd")
	if got := c.sh(t, "systemctl is-enabled hubd 2>&1 || true"); !strings.Contains(got, "No such file") && got != "not-found" {
		t.Errorf("after purge is-enabled says %q", got)
	}
	if out, err := c.run("ls", "-d", "/var/lib/hubd", "/etc/hubd"); err == nil {
		t.Errorf("purge kept state or config: %s", out)
	}
	c.sh(t, "userdel hubd && systemctl reset-failed hubd 2>/dev/null; true")
	expect("status", "hubd: not installed", false)

	// A config only root can read: install says so; start then fails.
	c.sh(t, "mkdir -p /etc/hubd && install -m 0640 "+nspawnFiles+"/hubd.yaml /etc/hubd/hubd.yaml")
	expect("install", "user hubd cannot read /etc/hubd/hubd.yaml", false)
	if c.sh(t, "id -nG hubd") == "" {
		t.Error("install did not create user hubd")
	}
	if got := c.sh(t, "systemctl is-enabled hubd"); got != "enabled" {
		t.Errorf("is-enabled after install = %q", got)
	}
	if got := c.props(t, "FragmentPath")["FragmentPath"]; got != "/etc/systemd/system/hubd.service" {
		t.Errorf("unit loaded from %q", got)
	}
	if got := c.sh(t, "grep '^ExecStart=' /etc/systemd/system/hubd.service"); got != "ExecStart=/usr/local/bin/hubd run -config /etc/hubd/hubd.yaml" {
		t.Errorf("installed unit: %s", got)
	}
	expect("install", "already installed", true)
	expect("status", "hubd: stopped", false)
	expect("start", "start failed", true)
	// The crashed daemon waits for its restart: not "running".
	expect("status", "hubd: failing", true)
	c.sh(t, "systemctl stop hubd; systemctl reset-failed hubd; chgrp hubd /etc/hubd/hubd.yaml")

	expect("start", "hubd: start done", false)
	expect("status", "hubd: running", false)
	if err := c.healthz(); err != nil {
		t.Errorf("healthz under the installed unit: %v", err)
	}
	if got := c.sh(t, "stat -c '%U:%G %a' /var/lib/hubd"); got != "hubd:hubd 700" {
		t.Errorf("/var/lib/hubd: %s", got)
	}
	expect("restart", "hubd: restart done", false)
	expect("stop", "hubd: stop done", false)
	expect("status", "hubd: stopped", false)
	expect("uninstall", "uninstalled /etc/systemd/system/hubd.service", false)
	expect("status", "hubd: not installed", false)
	expect("uninstall", "not installed", true)
}

// bootContainer boots the container and waits until its systemd has
// reached basic.target.
func bootContainer(t *testing.T, files string) *container {
	t.Helper()
	parent, err := cgroup2Dir()
	if err != nil {
		t.Fatalf("cgroup v2: %v (nspawn needs the unified hierarchy)", err)
	}
	reapNspawnLeftovers(t, parent)
	c := &container{t: t, cgroup: filepath.Join(parent, nspawnCgroupPrefix+strconv.Itoa(os.Getpid())), exited: make(chan error, 1)}
	if err := os.Mkdir(c.cgroup, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatalf("cgroup: %v", err)
	}
	if c.cgFD, err = syscall.Open(c.cgroup, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
		t.Fatalf("cgroup: %v", err)
	}
	t.Cleanup(c.destroy)

	mnt := t.TempDir()
	c.nspawn = exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", nspawnBoot, "nspawn-boot", mnt,
		"--directory="+mnt+"/root", "--boot", "--machine="+nspawnMachine,
		// No machined or host systemd to register with or to ask for a scope.
		"--register=no", "--keep-unit",
		// Its own loopback: port 8080 may be taken here by other tests.
		"--private-network",
		"--link-journal=no", "--console=read-only",
		"--tmpfs=/tmp", "--tmpfs=/var/tmp",
		"--bind-ro="+files+":"+nspawnFiles,
		"--",
		// Only what a service needs: the machine's own enabled services
		// (multi-user.target) stay off.
		"systemd.unit=basic.target", "systemd.log_color=0", "systemd.show_status=0")
	c.nspawn.Env = append(os.Environ(), "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1", "TERM=dumb", "SYSTEMD_COLORS=0")
	c.nspawn.Stdout, c.nspawn.Stderr = &c.out, &c.out
	c.nspawn.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.cgFD, Pdeathsig: syscall.SIGTERM}
	// Pdeathsig fires when the starting thread ends: keep it for the
	// child's whole life.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := c.nspawn.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.exited <- c.nspawn.Wait()
	}()
	if err := <-started; err != nil {
		t.Fatalf("start systemd-nspawn: %v", err)
	}

	deadline := time.Now().Add(60 * time.Second)
	for c.leader == 0 {
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("systemd-nspawn exited during boot: %v\n%s", err, tail(c.out.String(), 40))
		case <-time.After(50 * time.Millisecond):
		}
		c.leader = containerInit(c.nspawn.Process.Pid)
		if time.Now().After(deadline) {
			t.Fatalf("no container init after 60 s\n%s", tail(c.out.String(), 40))
		}
	}
	for {
		out, _ := c.run("systemctl", "is-system-running", "--wait")
		if out == "running" || out == "degraded" {
			if out == "degraded" {
				t.Logf("container degraded:\n%s", c.sh(t, "systemctl --failed --no-legend || true"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container systemd not up after 60 s (%q)\n%s", out, tail(c.out.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// containerInit returns the child of nspawn that is PID 1 of a new PID
// namespace, or 0.
func containerInit(nspawn int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", nspawn, nspawn))
	if err != nil {
		return 0
	}
	self, _ := os.Readlink("/proc/self/ns/pid")
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		if err != nil || ns == self {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "systemd" {
			return pid
		}
	}
	return 0
}

// run runs a command inside the container with a clean environment and
// returns its trimmed combined output.
func (c *container) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"--target", strconv.Itoa(c.leader), "--all", "--",
		"env", "-i", nspawnPath, "LANG=C.UTF-8", "HOME=/root", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.cgFD}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v: %w", err, ctx.Err())
	}
	return strings.TrimSpace(string(out)), err
}

// sh runs a shell script inside the container; it must succeed.
func (c *container) sh(t *testing.T, script string) string {
	t.Helper()
	out, err := c.run("sh", "-c", script)
	if err != nil {
		t.Fatalf("in container: %s: %v\n%s", script, err, out)
	}
	return out
}

// props reads unit properties of hubd.service.
func (c *container) props(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := c.sh(t, "systemctl show hubd.service --property="+strings.Join(names, ","))
	p := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	return p
}

func (c *container) mainPID(t *testing.T) string {
	t.Helper()
	pid := c.props(t, "MainPID")["MainPID"]
	if pid == "" || pid == "0" {
		t.Fatalf("hubd has no main process")
	}
	return pid
}

// healthz asks the daemon's /healthz on the container's loopback, with
// bash's /dev/tcp (no HTTP client needed in the container).
func (c *container) healthz() error {
	host, port, _ := strings.Cut(nspawnHTTP, ":")
	out, err := c.run("timeout", "5", "bash", "-c",
		`exec 3<>/dev/tcp/`+host+`/`+port+` && printf 'GET /healthz HTTP/1.1\r\nHost: hubd\r\nConnection: close\r\n\r\n' >&3 && cat <&3`)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "HTTP/1.1 200 ") {
		return fmt.Errorf("status %q", strings.TrimSpace(first))
	}
	return nil
}

// shutdown powers the container off (nspawn turns SIGTERM into an orderly
// shutdown of the container) and waits for nspawn to exit.
func (c *container) shutdown(wait time.Duration) error {
	if err := c.nspawn.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.exited:
		c.exited <- err
		return err
	case <-time.After(wait):
		return fmt.Errorf("systemd-nspawn still running %v after SIGTERM", wait)
	}
}

// destroy is the cleanup: whatever the test did, kill every process it
// started (nspawn, the container, nsenter) and remove the cgroup.
func (c *container) destroy() {
	if c.nspawn != nil && c.nspawn.Process != nil {
		select {
		case err := <-c.exited:
			c.exited <- err
		default:
			_ = c.shutdown(10 * time.Second)
		}
	}
	if err := killCgroup(c.cgroup); err != nil {
		c.t.Errorf("teardown: %v", err)
	}
	if c.nspawn != nil && c.nspawn.Process != nil {
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.t.Errorf("teardown: systemd-nspawn did not exit")
		}
	}
	syscall.Close(c.cgFD)
}

// cgroup2Dir returns the directory of this process's cgroup v2.
func cgroup2Dir() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	self := ""
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			self = p
		}
	}
	if self == "" {
		return "", errors.New("this process is in no cgroup v2")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS] - TYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(pf) < 5 || len(sf) < 1 || sf[0] != "cgroup2" {
			continue
		}
		root, point := pf[3], pf[4]
		rel, ok := strings.CutPrefix(self, root)
		if !ok {
			continue
		}
		return filepath.Join(point, rel), nil
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// reapNspawnLeftovers kills and removes the cgroups of earlier runs of this
// test whose process is gone (an aborted run, a timed-out go test).
func reapNspawnLeftovers(t *testing.T, parent string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatalf("cgroup: %v", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), nspawnCgroupPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), nspawnCgroupPrefix) || err != nil {
			continue
		}
		if pid != os.Getpid() && syscall.Kill(pid, 0) == nil {
			continue // a run still going
		}
		t.Logf("removing the container of an earlier run (cgroup %s)", e.Name())
		if err := killCgroup(filepath.Join(parent, e.Name())); err != nil {
			t.Fatalf("leftover of an earlier run: %v", err)
		}
	}
}

// killCgroup kills every process in the cgroup dir and below, waits until
// it is empty and removes it with its sub-cgroups. A missing dir is fine.
func killCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		// Kernels before 5.14: kill one by one, deepest first.
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			return nil
		})
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil || strings.Contains(string(b), "populated 0") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes 15 s after the kill", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove cgroup: %w", err)
		}
	}
	return nil
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestUnitStatusMessage_States checks the mapping `hubd status` uses for
// systemd's unit states (the library's own takes a crashed daemon waiting
// for its restart for running, and a reloading one for not installed).
func TestUnitStatusMessage_States(t *testing.T) {
	tests := []struct {
		load, active, sub string
		err               error
		want              string
		wantErr           error
	}{
		{"loaded", "active", "running", nil, "running", nil},
		{"loaded", "reloading", "reload", nil, "running", nil},
		{"loaded", "activating", "start", nil, "starting", nil},
		{"loaded", "activating", "auto-restart", nil, "failing", errServiceFailed},
		{"loaded", "deactivating", "stop-sigterm", nil, "stopping", nil},
		{"loaded", "inactive", "dead", nil, "stopped", nil},
		{"loaded", "failed", "failed", nil, "failed", errServiceFailed},
		{"not-found", "inactive", "dead", nil, "not installed", nil},
		{"loaded", "maintenance", "cleaning", nil, "maintenance (cleaning)", nil},
	}
	for _, tt := range tests {
		got, err := unitStatusMessage(tt.load, tt.active, tt.sub, tt.err)
		if !strings.HasPrefix(got, tt.want) || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s/%s/%s: %q, %v; want %q, %v", tt.load, tt.active, tt.sub, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := unitStatusMessage("", "", "", errors.New("exit status 1")); err == nil || !strings.HasPrefix(err.Error(), "service: status:") {
		t.Errorf("systemctl error: %v", err)
	}
}
