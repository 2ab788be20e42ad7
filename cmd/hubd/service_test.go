package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hubd/systemd"
)

// unitDirectives parses a unit file into section -> key -> values, in order.
func unitDirectives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	units := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d: %q is not a directive", n, line)
			}
			units[section][k] = append(units[section][k], v)
		}
	}
	return units
}

func TestUnit_EmbedMatchesFile(t *testing.T) {
	b, err := os.ReadFile("../../systemd/hubd.service")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != systemd.Unit {
		t.Fatal("systemd.Unit differs from systemd/hubd.service")
	}
}

func TestUnit_HardeningDirectives(t *testing.T) {
	u := unitDirectives(t, systemd.Unit)
	tests := []struct {
		section, key string
		want         []string
	}{
		{"Unit", "Wants", []string{"network-online.target"}},
		{"Unit", "After", []string{"network-online.target"}},
		{"Unit", "StartLimitIntervalSec", []string{"300"}},
		{"Unit", "StartLimitBurst", []string{"5"}},
		{"Service", "Type", []string{"notify"}},
		{"Service", "ExecStart", []string{"/usr/bin/hubd run -config /etc/hubd/hubd.yaml"}},
		{"Service", "ExecReload", []string{"/bin/kill -HUP $MAINPID"}},
		{"Service", "Restart", []string{"on-failure"}},
		{"Service", "RestartSec", []string{"5s"}},
		{"Service", "TimeoutStopSec", []string{"8s"}},
		{"Service", "User", []string{"hubd"}},
		{"Service", "SupplementaryGroups", []string{"dialout"}},
		{"Service", "StateDirectory", []string{"hubd"}},
		{"Service", "StateDirectoryMode", []string{"0700"}},
		{"Service", "ConfigurationDirectory", []string{"hubd"}},
		// ConfigurationDirectory= lifts ProtectSystem=strict for /etc/hubd.
		{"Service", "ReadOnlyPaths", []string{"-/etc/hubd"}},
		{"Service", "LimitNOFILE", []string{"16384"}},
		{"Service", "DevicePolicy", []string{"closed"}},
		{"Service", "DeviceAllow", []string{"char-ttyUSB rw", "char-ttyACM rw", "char-ttyS rw", "char-ttyAMA rw", "char-ttymxc rw"}},
		{"Service", "CapabilityBoundingSet", []string{""}},
		{"Service", "AmbientCapabilities", []string{""}},
		{"Service", "NoNewPrivileges", []string{"yes"}},
		{"Service", "ProtectSystem", []string{"strict"}},
		{"Service", "ProtectHome", []string{"yes"}},
		{"Service", "PrivateTmp", []string{"yes"}},
		{"Service", "ProtectKernelTunables", []string{"yes"}},
		{"Service", "ProtectKernelModules", []string{"yes"}},
		{"Service", "ProtectControlGroups", []string{"yes"}},
		{"Service", "RestrictAddressFamilies", []string{"AF_UNIX AF_INET AF_INET6"}},
		{"Service", "RestrictNamespaces", []string{"yes"}},
		{"Service", "LockPersonality", []string{"yes"}},
		{"Service", "MemoryDenyWriteExecute", []string{"yes"}},
		{"Service", "SystemCallFilter", []string{"@system-service", "~@privileged"}},
		{"Install", "WantedBy", []string{"multi-user.target"}},
	}
	for _, tt := range tests {
		got := u[tt.section][tt.key]
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("[%s] %s = %q, want %q", tt.section, tt.key, got, tt.want)
		}
	}
	// systemd ignores StartLimit* in [Service] (kardianos' default unit's
	// mistake), and the daemon's 5 s shutdown must fit in TimeoutStopSec.
	for _, k := range []string{"StartLimitIntervalSec", "StartLimitInterval", "StartLimitBurst"} {
		if _, ok := u["Service"][k]; ok {
			t.Errorf("%s belongs in [Unit], not [Service]", k)
		}
	}
}

// TestUnit_SystemdAnalyzeVerify runs systemd's own checker on the unit,
// pointed at a freshly built binary, and fails on any complaint (verify
// exits 0 on unknown keys, so its output must be empty too).
func TestUnit_SystemdAnalyzeVerify(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not found: apt-get install -y systemd")
	}
	dir := t.TempDir()
	bin := buildHubd(t, dir, runtime.GOARCH)
	unit := strings.ReplaceAll(systemd.Unit, "ExecStart=/usr/bin/hubd ", "ExecStart="+bin+" ")
	if unit == systemd.Unit {
		t.Fatal("ExecStart not rewritten")
	}
	path := filepath.Join(dir, "hubd.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The same checker rejects a broken unit, so the check above can fail.
	bad := filepath.Join(dir, "bad.service")
	os.WriteFile(bad, []byte(strings.Replace(unit, "Type=notify", "Type=notify\nProtectEverything=yes", 1)), 0o644)
	if out, _ := exec.Command("systemd-analyze", "verify", bad).CombinedOutput(); !bytes.Contains(out, []byte("ProtectEverything")) {
		t.Fatalf("verify did not flag an unknown key: %s", out)
	}

	// Exposure score from `systemd-analyze security` (0 = locked down, 10 =
	// unprotected); the threshold is on its 0-100 internal scale.
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security above 2.0: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd-analyze security exposure: %s", m[1])
	}
}

func TestRenderUnit_PointsExecStartAtBinaryAndConfig(t *testing.T) {
	tests := []struct {
		name, exe, config string
		want              string // ExecStart line, or "" when an error is expected
	}{
		{"packaged", "/usr/bin/hubd", "/etc/hubd/hubd.yaml", "ExecStart=/usr/bin/hubd run -config /etc/hubd/hubd.yaml"},
		{"local", "/usr/local/bin/hubd", "/etc/hubd/site-a.yaml", "ExecStart=/usr/local/bin/hubd run -config /etc/hubd/site-a.yaml"},
		{"opt", "/opt/hubd-1.2/hubd", "/srv/cfg/hubd.yaml", "ExecStart=/opt/hubd-1.2/hubd run -config /srv/cfg/hubd.yaml"},
		{"home binary", "/home/tech/hubd", "/etc/hubd/hubd.yaml", ""},
		{"root home config", "/usr/bin/hubd", "/root/hubd.yaml", ""},
		{"tmp binary", "/tmp/hubd", "/etc/hubd/hubd.yaml", ""},
		{"space", "/usr/local/my bin/hubd", "/etc/hubd/hubd.yaml", ""},
		{"template braces", "/usr/bin/{{Path}}", "/etc/hubd/hubd.yaml", ""},
		{"newline", "/usr/bin/hubd\nUser=root", "/etc/hubd/hubd.yaml", ""},
		{"relative", "hubd", "/etc/hubd/hubd.yaml", ""},
		{"percent", "/usr/bin/hubd", "/etc/hubd/%n.yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderUnit(systemd.Unit, tt.exe, tt.config)
			if tt.want == "" {
				if !errors.Is(err, errUnitPath) {
					t.Fatalf("got err %v, want errUnitPath", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if execs := unitDirectives(t, got)["Service"]["ExecStart"]; len(execs) != 1 || "ExecStart="+execs[0] != tt.want {
				t.Fatalf("ExecStart = %q, want %q", execs, tt.want)
			}
			if strings.Count(got, "\n") != strings.Count(systemd.Unit, "\n") {
				t.Fatal("rendering changed the number of lines")
			}
		})
	}
}

func FuzzRenderUnit(f *testing.F) {
	for _, s := range [][2]string{
		{"/usr/bin/hubd", "/etc/hubd/hubd.yaml"},
		{"/home/tech/hubd", "/etc/hubd/hubd.yaml"},
		{"/usr/bin/{{Path}}", "/etc/x"},
		{"/usr/bin/hubd\nUser=root", "/etc/x"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, exe, config string) {
		got, err := renderUnit(systemd.Unit, exe, config)
		if err != nil {
			if !errors.Is(err, errUnitPath) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Whatever the paths, the unit keeps its shape: one ExecStart, no
		// injected lines or template markup.
		if strings.Count(got, "\n") != strings.Count(systemd.Unit, "\n") || strings.Contains(got, "{{") {
			t.Fatalf("paths %q %q reshaped the unit", exe, config)
		}
		if strings.Count(got, "\nExecStart=") != 1 {
			t.Fatalf("paths %q %q gave %d ExecStart lines", exe, config, strings.Count(got, "\nExecStart="))
		}
	})
}

// fakeManager stands in for systemd behind kardianos/service: it records
// calls and writes or removes the unit file as the library would.
type fakeManager struct {
	unitPath string
	calls    []string
	err      map[string]error
}

func (m *fakeManager) call(name string) error {
	m.calls = append(m.calls, name)
	return m.err[name]
}
func (m *fakeManager) Install() error {
	if err := m.call("install"); err != nil {
		return err
	}
	return os.WriteFile(m.unitPath, []byte(systemd.Unit), 0o644)
}
func (m *fakeManager) Uninstall() error {
	if err := m.call("uninstall"); err != nil {
		return err
	}
	return os.Remove(m.unitPath)
}
func (m *fakeManager) Start() error   { return m.call("start") }
func (m *fakeManager) Stop() error    { return m.call("stop") }
func (m *fakeManager) Restart() error { return m.call("restart") }

func TestServiceCtl_Actions_ClearMessages(t *testing.T) {
	tests := []struct {
		name      string
		own, pkg  bool // unit present before the action
		action    string
		err       map[string]error
		unit      [3]string // LoadState, ActiveState, SubState systemd reports
		unitErr   error     // systemctl show failed
		wantErr   error
		wantFail  bool // an error without a sentinel of its own
		wantCalls string
		wantOut   string
	}{
		{name: "install fresh", action: "install", wantCalls: "user install", wantOut: "enabled at boot"},
		{name: "install twice", own: true, action: "install", wantErr: errAlreadyInstalled, wantOut: ""},
		{name: "install over package", pkg: true, action: "install", wantErr: errPackaged},
		{name: "install race", action: "install", err: map[string]error{"install": errors.New("Init already exists: /etc/systemd/system/hubd.service")}, wantErr: errAlreadyInstalled, wantCalls: "user install"},
		{name: "install not root", action: "install", err: map[string]error{"install": fmt.Errorf("open /etc/systemd/system/hubd.service: %w", os.ErrPermission)}, wantErr: errNeedRoot, wantCalls: "user install"},
		{name: "uninstall not installed", action: "uninstall", wantErr: errNotInstalled},
		{name: "uninstall packaged", pkg: true, action: "uninstall", wantErr: errPackaged},
		{name: "uninstall", own: true, action: "uninstall", wantCalls: "stop uninstall", wantOut: "uninstalled"},
		{name: "uninstall when stop fails", own: true, action: "uninstall", err: map[string]error{"stop": errors.New("exit status 5")}, wantCalls: "stop uninstall", wantOut: "uninstalled"},
		{name: "start not installed", action: "start", wantErr: errNotInstalled},
		{name: "start", own: true, action: "start", wantCalls: "start", wantOut: "start done"},
		{name: "start packaged", pkg: true, action: "start", wantCalls: "start", wantOut: "start done"},
		{name: "start fails", own: true, action: "start", err: map[string]error{"start": errors.New("exit status 1")}, wantFail: true, wantCalls: "start"},
		{name: "restart", own: true, action: "restart", wantCalls: "restart"},
		{name: "stop", pkg: true, action: "stop", wantCalls: "stop"},
		{name: "status running", own: true, action: "status", unit: [3]string{"loaded", "active", "running"}, wantCalls: "status", wantOut: "hubd: running\n"},
		{name: "status reloading", own: true, action: "status", unit: [3]string{"loaded", "reloading", "reload"}, wantCalls: "status", wantOut: "hubd: running\n"},
		{name: "status stopped", pkg: true, action: "status", unit: [3]string{"loaded", "inactive", "dead"}, wantCalls: "status", wantOut: "hubd: stopped\n"},
		{name: "status not installed", action: "status", unit: [3]string{"not-found", "inactive", "dead"}, wantCalls: "status", wantOut: "hubd: not installed\n"},
		{name: "status starting", own: true, action: "status", unit: [3]string{"loaded", "activating", "start"}, wantCalls: "status", wantOut: "hubd: starting\n"},
		{name: "status stopping", own: true, action: "status", unit: [3]string{"loaded", "deactivating", "stop-sigterm"}, wantCalls: "status", wantOut: "hubd: stopping\n"},
		{name: "status crash looping", own: true, action: "status", unit: [3]string{"loaded", "activating", "auto-restart"}, wantErr: errServiceFailed, wantCalls: "status", wantOut: "hubd: failing: it exited and systemd restarts it shortly (see `journalctl -u hubd`)\n"},
		{name: "status failed", own: true, action: "status", unit: [3]string{"loaded", "failed", "failed"}, wantErr: errServiceFailed, wantCalls: "status", wantOut: "hubd: failed (see `journalctl -u hubd`; `systemctl reset-failed hubd` re-arms restarts)\n"},
		{name: "status other state", own: true, action: "status", unit: [3]string{"loaded", "maintenance", "cleaning"}, wantCalls: "status", wantOut: "hubd: maintenance (cleaning)\n"},
		{name: "status systemctl fails", own: true, action: "status", unitErr: errors.New("systemctl show: exit status 1"), wantFail: true, wantCalls: "status", wantOut: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ownPath := filepath.Join(dir, "etc", "hubd.service")
			pkgPath := filepath.Join(dir, "lib", "hubd.service")
			os.MkdirAll(filepath.Dir(ownPath), 0o755)
			os.MkdirAll(filepath.Dir(pkgPath), 0o755)
			if tt.own {
				os.WriteFile(ownPath, []byte(systemd.Unit), 0o644)
			}
			if tt.pkg {
				os.WriteFile(pkgPath, []byte(systemd.Unit), 0o644)
			}
			m := &fakeManager{unitPath: ownPath, err: tt.err}
			var out bytes.Buffer
			c := &serviceCtl{
				svc: m, unitPath: ownPath, packagedUnits: []string{filepath.Join(dir, "usr", "hubd.service"), pkgPath},
				exe: "/usr/local/bin/hubd", config: filepath.Join(dir, "hubd.yaml"), out: &out,
				ensureUser: func() error { m.calls = append(m.calls, "user"); return nil },
				unitState: func() (string, string, string, error) {
					m.calls = append(m.calls, "status")
					if tt.unitErr != nil {
						return "", "", "", tt.unitErr
					}
					return tt.unit[0], tt.unit[1], tt.unit[2], nil
				},
			}
			err := c.do(tt.action)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && !tt.wantFail && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantFail && err == nil:
				t.Fatal("library error swallowed")
			}
			if err != nil && !strings.HasPrefix(err.Error(), "service:") {
				t.Errorf("message %q lacks the prefix", err)
			}
			if err != nil && strings.Contains(tt.name, "start fails") && !strings.Contains(err.Error(), "journalctl -u hubd") {
				t.Errorf("message %q does not say where to look", err)
			}
			if got := strings.Join(m.calls, " "); got != tt.wantCalls {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
			if tt.action == "status" {
				// status prints exactly one line, or nothing when it could not
				// learn the state.
				if out.String() != tt.wantOut {
					t.Errorf("output %q, want %q", out.String(), tt.wantOut)
				}
				if tt.unitErr != nil && (err == nil || !errors.Is(err, tt.unitErr)) {
					t.Errorf("err = %v, want it to wrap %v", err, tt.unitErr)
				}
			} else if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q, want it to contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestServiceCtl_InstallTwice_SecondFails(t *testing.T) {
	dir := t.TempDir()
	unit := filepath.Join(dir, "hubd.service")
	m := &fakeManager{unitPath: unit}
	c := &serviceCtl{svc: m, unitPath: unit, exe: "/usr/bin/hubd", config: "/etc/hubd/hubd.yaml", out: new(bytes.Buffer)}
	if err := c.do("install"); err != nil {
		t.Fatal(err)
	}
	err := c.do("install")
	if !errors.Is(err, errAlreadyInstalled) || !strings.Contains(err.Error(), "hubd uninstall") {
		t.Fatalf("second install: %v", err)
	}
	if err := c.do("uninstall"); err != nil {
		t.Fatal(err)
	}
	if err := c.do("uninstall"); !errors.Is(err, errNotInstalled) {
		t.Fatalf("second uninstall: %v", err)
	}
}

func TestServiceControl_BadAction(t *testing.T) {
	for _, a := range []string{"", "instal", "run", "INSTALL", "status\x00"} {
		if err := serviceControl(a, "", nil); !errors.Is(err, errAction) {
			t.Errorf("%q: %v", a, err)
		}
	}
}

func TestServiceControl_WithoutSystemd_ClearError(t *testing.T) {
	// Pretend to be a SysV host whatever this machine runs, so the test
	// runs (and touches nothing) on systemd hosts too.
	saved := servicePlatform
	servicePlatform = func() string { return "linux-sysv" }
	t.Cleanup(func() { servicePlatform = saved })
	for _, a := range serviceActions {
		if err := serviceControl(a, "", nil); !errors.Is(err, errNoSystemd) {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// serviceRun starts runAsServiceWith with an injected signal channel.
func serviceRun(t *testing.T, run func(context.Context) error, opts serviceRunOptions) (chan os.Signal, chan error) {
	t.Helper()
	sigs := make(chan os.Signal, 4)
	opts.signals = sigs
	done := make(chan error, 1)
	go func() { done <- runAsServiceWith(run, opts) }()
	return sigs, done
}

func waitErr(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("runAsService did not return")
		return nil
	}
}

func TestRunAsService_SIGTERM_CancelsAndNotifiesStopping(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "")
	started := make(chan struct{})
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		if err := sdReady("up"); err != nil {
			return err
		}
		close(started)
		<-ctx.Done()
		return nil // clean shutdown
	}, serviceRunOptions{})
	<-started
	if got := next(); got != "READY=1\nSTATUS=up" {
		t.Fatalf("got %q", got)
	}
	sigs <- syscall.SIGTERM
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestRunAsService_RunFails_ReturnsWithoutSignal(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	boom := errors.New("store: open: locked")
	_, done := serviceRun(t, func(context.Context) error { return boom }, serviceRunOptions{})
	if err := waitErr(t, done); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

func TestRunAsService_SIGHUP_ReloadsBetweenNotifications(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "")
	reloads := make(chan struct{}, 2)
	failNext := errors.New("config: line 3: bad port")
	var calls int
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}, serviceRunOptions{Reload: func(context.Context) error {
		calls++
		reloads <- struct{}{}
		if calls == 2 {
			return failNext
		}
		return nil
	}})
	sigs <- syscall.SIGHUP
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("got %q", got)
	}
	<-reloads
	if got := next(); got != "READY=1\nSTATUS=reloaded" {
		t.Fatalf("got %q", got)
	}
	sigs <- syscall.SIGHUP
	next()
	<-reloads
	if got := next(); !strings.Contains(got, "reload failed") || !strings.Contains(got, "bad port") {
		t.Fatalf("got %q", got)
	}
	sigs <- syscall.SIGINT
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestRunAsService_SIGHUPWithoutReload_KeepsRunning(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "")
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}, serviceRunOptions{})
	sigs <- syscall.SIGHUP
	next() // RELOADING
	if got := next(); !strings.Contains(got, "reload not supported") {
		t.Fatalf("got %q", got)
	}
	select {
	case err := <-done:
		t.Fatalf("returned on SIGHUP: %v", err)
	default:
	}
	sigs <- syscall.SIGTERM
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestRunAsService_SecondSignal_ForcesExit(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	release := make(chan struct{})
	defer close(release)
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		<-ctx.Done()
		<-release // a shutdown that hangs
		return nil
	}, serviceRunOptions{})
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	if err := waitErr(t, done); !errors.Is(err, errForcedExit) {
		t.Fatalf("got %v", err)
	}
}

func TestRunAsService_WatchdogPingsUntilStop(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "40000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var once sync.Once
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}, serviceRunOptions{})
	for range 2 {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("got %q", got)
		}
	}
	once.Do(func() { sigs <- syscall.SIGTERM })
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestRunAsService_ReloadPanic_KeepsRunning(t *testing.T) {
	next := notifyListener(t)
	t.Setenv("WATCHDOG_USEC", "")
	sigs, done := serviceRun(t, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}, serviceRunOptions{Reload: func(context.Context) error {
		var m map[string]int
		m["boom"]++ // nil map write
		return nil
	}})
	sigs <- syscall.SIGHUP
	next() // RELOADING
	if got := next(); !strings.Contains(got, "reload failed") || !strings.Contains(got, "reload panicked") {
		t.Fatalf("got %q", got)
	}
	sigs <- syscall.SIGTERM
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
}

// TestService_Run_SpeaksSdNotify runs the real `hubd run` on the example
// config (ports and state moved to the test's own) as systemd would: with
// $NOTIFY_SOCKET and $WATCHDOG_USEC set, then SIGHUP, then SIGTERM.
func TestService_Run_SpeaksSdNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon: skipped in -short mode")
	}
	dir := t.TempDir()
	bin := buildHubd(t, dir, runtime.GOARCH)
	raw, err := os.ReadFile("../../systemd/hubd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example := []byte(withOwnSecrets(t, string(raw))) // hubd refuses its placeholders
	httpAddr := freePort(t)
	cfg := strings.NewReplacer(
		"listen: 0.0.0.0:8080", "listen: "+httpAddr,
		"listen: 0.0.0.0:1883", "listen: "+freePort(t),
		"data_dir: /var/lib/hubd", "data_dir: "+filepath.Join(dir, "state"),
	).Replace(string(example))
	if cfg == string(example) || !strings.Contains(cfg, httpAddr) {
		t.Fatal("example config no longer has the listen/data_dir lines this test moves")
	}
	cfgPath := filepath.Join(dir, "hubd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}

	next := notifyListener(t) // sets NOTIFY_SOCKET for the child too
	var logs syncBuffer
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "WATCHDOG_USEC=2000000", "WATCHDOG_PID=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// expect reads datagrams, skipping watchdog pings, until one matches.
	expect := func(what string, match func(string) bool) {
		t.Helper()
		for i := 0; i < 100; i++ {
			got := next()
			if got == "WATCHDOG=1" {
				continue
			}
			if !match(got) {
				t.Fatalf("waiting for %s, got %q\nlogs:\n%s", what, got, logs.String())
			}
			return
		}
		t.Fatalf("only watchdog pings, no %s", what)
	}
	expect("READY=1", func(s string) bool { return s == "READY=1\nSTATUS=serving on "+httpAddr })
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatalf("ready, but /healthz: %v", err)
	}
	resp.Body.Close()

	for i := 0; i < 2; i++ {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("watchdog: got %q", got)
		}
	}

	cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1", func(s string) bool { return strings.HasPrefix(s, "RELOADING=1\nMONOTONIC_USEC=") })
	expect("READY=1 after reload", func(s string) bool { return s == "READY=1\nSTATUS=reloaded" })

	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1", func(s string) bool { return s == "STOPPING=1" })
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("hubd run exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(8 * time.Second): // the unit's TimeoutStopSec
		t.Fatalf("hubd run still running 8 s after SIGTERM\n%s", logs.String())
	}
}
