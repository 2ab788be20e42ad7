package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/kardianos/service"

	"hubd/systemd"
)

// Service control: `hubd install|uninstall|start|stop|restart|status`.
//
// The unit is the project's own systemd/hubd.service, handed to
// kardianos/service as its SystemdScript: the library's built-in unit
// hard-codes RestartSec=120 and puts StartLimit* in [Service], where systemd
// ignores them. The library then only writes the file and runs systemctl;
// everything a user reads comes from this file, because the library's errors
// are bare ("exit status 1", "Init already exists: ...").

const (
	serviceName = "hubd"
	// serviceUser owns /var/lib/hubd and reads /etc/hubd/hubd.yaml.
	serviceUser = "hubd"
	// systemdPlatform is kardianos/service's name for a systemd host.
	systemdPlatform = "linux-systemd"
)

var (
	// errAlreadyInstalled is returned by install when a hubd unit exists.
	errAlreadyInstalled = errors.New("service: already installed")
	// errNotInstalled is returned by uninstall, start, stop and restart when
	// no hubd unit exists.
	errNotInstalled = errors.New("service: not installed")
	// errPackaged is returned by install and uninstall when the unit belongs
	// to the Debian package, which must stay in charge of it.
	errPackaged = errors.New("service: managed by the hubd Debian package")
	// errNoSystemd is returned when the machine does not run systemd.
	errNoSystemd = errors.New("service: systemd is not running on this machine")
	// errNeedRoot is returned when the service manager refused us for lack
	// of privilege.
	errNeedRoot = errors.New("service: permission denied, run it as root (sudo)")
	// errUnitPath is returned by install when the binary or the config file
	// lies where the hardened unit cannot reach it or cannot name it.
	errUnitPath = errors.New("service: unusable path")
	// errAction is returned for an action serviceControl does not know.
	errAction = errors.New("service: unknown action")
	// errForcedExit is returned by runAsService when a second SIGTERM or
	// SIGINT arrives before run finished its shutdown.
	errForcedExit = errors.New("forced exit")
	// errReloadPanic is returned by a reload whose hook panicked; the daemon
	// keeps running on its previous config.
	errReloadPanic = errors.New("reload panicked")
	// errServiceFailed is returned by status when the unit is in the
	// failed state.
	errServiceFailed = errors.New("service: failed")
)

// serviceActions are the verbs serviceControl accepts, in usage order.
var serviceActions = []string{"install", "uninstall", "start", "stop", "restart", "status"}

// serviceManager is the part of service.Service that serviceCtl drives.
type serviceManager interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
}

var _ serviceManager = service.Service(nil)

// serviceCtl maps one action onto the service manager, with checks before
// each call and messages a technician can act on.
type serviceCtl struct {
	svc serviceManager
	// unitPath is where install writes the unit.
	unitPath string
	// packagedUnits are where the Debian package puts it.
	packagedUnits []string
	exe, config   string
	out           io.Writer
	log           *slog.Logger // nil discards
	// ensureUser makes sure the service user exists (install only).
	ensureUser func() error
	// configReadable reports whether the service user can read the config
	// (install only; nil skips the check).
	configReadable func(path string) (bool, error)
	// unitState asks systemd for the unit's LoadState, ActiveState and
	// SubState (status only; nil asks systemctl through systemdUnitState).
	unitState func() (load, active, sub string, err error)
}

// serviceControl runs `hubd <action>` for one of install, uninstall, start,
// stop, restart and status against the local systemd. configPath is the
// file the installed unit passes to `hubd run -config` (relative paths are
// made absolute). It prints what it did to stdout.
// servicePlatform names the init system the service actions would drive;
// tests replace it to check the refusal on a machine that does run systemd.
var servicePlatform = service.Platform

func serviceControl(action, configPath string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !validAction(action) {
		return fmt.Errorf("%w %q (want one of %s)", errAction, action, strings.Join(serviceActions, ", "))
	}
	if p := servicePlatform(); p != systemdPlatform {
		return fmt.Errorf("%w (found %s); install the hubd Debian package or run `hubd run` from your own init", errNoSystemd, p)
	}
	if action != "status" && os.Geteuid() != 0 {
		return fmt.Errorf("%w: hubd %s", errNeedRoot, action)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("service: locate own binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if configPath == "" {
		configPath = "/etc/hubd/hubd.yaml"
	}
	if configPath, err = filepath.Abs(configPath); err != nil {
		return fmt.Errorf("service: config path: %w", err)
	}
	unit, err := renderUnit(systemd.Unit, exe, configPath)
	if action == "install" && err != nil {
		return err
	}
	svc, err := service.New(noopProgram{}, &service.Config{
		Name:        serviceName,
		DisplayName: serviceName,
		Description: "hubd building hub",
		Executable:  exe,
		Option:      service.KeyValue{"SystemdScript": unit},
	})
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	c := &serviceCtl{
		svc:           svc,
		unitPath:      "/etc/systemd/system/" + serviceName + ".service",
		packagedUnits: []string{"/lib/systemd/system/" + serviceName + ".service", "/usr/lib/systemd/system/" + serviceName + ".service"},
		exe:           exe,
		config:        configPath,
		out:           os.Stdout,
		log:           logger,
		ensureUser:    ensureServiceUser,
		configReadable: func(p string) (bool, error) {
			return readableBy(p, serviceUser)
		},
		unitState: systemdUnitState,
	}
	return c.do(action)
}

func validAction(action string) bool {
	for _, a := range serviceActions {
		if a == action {
			return true
		}
	}
	return false
}

func (c *serviceCtl) do(action string) error {
	own, packaged := c.installed()
	switch action {
	case "install":
		if own {
			return fmt.Errorf("%w (%s); run `hubd uninstall` first to reinstall", errAlreadyInstalled, c.unitPath)
		}
		if packaged != "" {
			return fmt.Errorf("%w (%s is already installed); upgrade it with apt instead", errPackaged, packaged)
		}
		if _, err := os.Stat(c.config); err != nil {
			fmt.Fprintf(c.out, "note: %s does not exist yet; write it before `hubd start`\n", c.config)
		}
		if c.ensureUser != nil {
			if err := c.ensureUser(); err != nil {
				return err
			}
		}
		if c.configReadable != nil {
			// The unit runs as hubd: a config only root can read makes
			// every start fail with "permission denied".
			if ok, err := c.configReadable(c.config); err == nil && !ok {
				fmt.Fprintf(c.out, "note: user %s cannot read %s; give it to group %s: chgrp %s %s && chmod 0640 %s\n",
					serviceUser, c.config, serviceUser, serviceUser, c.config, c.config)
			}
		}
		if err := c.svc.Install(); err != nil {
			return c.mapErr("install", err)
		}
		fmt.Fprintf(c.out, "hubd: installed %s (runs %s with %s), enabled at boot; start it with `hubd start`\n", c.unitPath, c.exe, c.config)
		return nil
	case "uninstall":
		if !own {
			if packaged != "" {
				return fmt.Errorf("%w (%s); remove it with `apt-get remove hubd`", errPackaged, packaged)
			}
			return fmt.Errorf("%w, nothing to uninstall", errNotInstalled)
		}
		if err := c.svc.Stop(); err != nil {
			if c.log != nil {
				c.log.Warn("stop before uninstall failed", "err", err)
			}
		}
		if err := c.svc.Uninstall(); err != nil {
			return c.mapErr("uninstall", err)
		}
		fmt.Fprintf(c.out, "hubd: uninstalled %s; state in /var/lib/hubd and the config are kept\n", c.unitPath)
		return nil
	case "status":
		state := c.unitState
		if state == nil {
			state = systemdUnitState
		}
		msg, err := unitStatusMessage(state())
		if msg != "" {
			fmt.Fprintln(c.out, "hubd:", msg)
		}
		return err
	}
	// start, stop, restart
	if !own && packaged == "" {
		return fmt.Errorf("%w; run `hubd install` first", errNotInstalled)
	}
	var err error
	switch action {
	case "start":
		err = c.svc.Start()
	case "stop":
		err = c.svc.Stop()
	case "restart":
		err = c.svc.Restart()
	}
	if err != nil {
		return c.mapErr(action, err)
	}
	fmt.Fprintf(c.out, "hubd: %s done\n", action)
	return nil
}

// installed reports whether our own unit exists and which packaged unit
// exists, if any.
func (c *serviceCtl) installed() (own bool, packaged string) {
	if _, err := os.Stat(c.unitPath); err == nil {
		own = true
	}
	for _, p := range c.packagedUnits {
		if _, err := os.Stat(p); err == nil {
			return own, p
		}
	}
	return own, ""
}

// mapErr turns the library's bare errors into ones that say what to do.
func (c *serviceCtl) mapErr(action string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, fs.ErrPermission) || strings.Contains(msg, "permission denied") || strings.Contains(msg, "Access denied"):
		return fmt.Errorf("%w: %s: %v", errNeedRoot, action, err)
	case strings.Contains(msg, "Init already exists"):
		return fmt.Errorf("%w (%s); run `hubd uninstall` first to reinstall", errAlreadyInstalled, c.unitPath)
	case errors.Is(err, service.ErrNotInstalled), errors.Is(err, fs.ErrNotExist) && action == "uninstall":
		return fmt.Errorf("%w, nothing to %s", errNotInstalled, action)
	}
	return fmt.Errorf("service: %s failed: %w; see `systemctl status hubd` and `journalctl -u hubd`", action, err)
}

// systemdUnitState asks systemctl for the unit's states. kardianos/service
// reads `systemctl is-active` and takes "activating" for running, also when
// the daemon crashed and waits for its restart, and "reloading" or
// "deactivating" for not installed.
func systemdUnitState() (load, active, sub string, err error) {
	out, err := exec.Command("systemctl", "show", "--property=LoadState,ActiveState,SubState", serviceName+".service").Output()
	if err != nil {
		return "", "", "", fmt.Errorf("systemctl show: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "LoadState":
			load = v
		case "ActiveState":
			active = v
		case "SubState":
			sub = v
		}
	}
	if load == "" || active == "" {
		return "", "", "", fmt.Errorf("systemctl show: unexpected output %q", out)
	}
	return load, active, sub, nil
}

// unitStatusMessage maps systemd's unit states to what `hubd status` says.
// A crashed daemon waiting for its restart and a failed unit are errors.
func unitStatusMessage(load, active, sub string, err error) (string, error) {
	const see = " (see `journalctl -u hubd`"
	switch {
	case err != nil:
		return "", fmt.Errorf("service: status: %w", err)
	case load == "not-found":
		return "not installed", nil
	case active == "active" || active == "reloading":
		return "running", nil
	case active == "activating" && sub == "auto-restart":
		return "failing: it exited and systemd restarts it shortly" + see + ")", errServiceFailed
	case active == "activating":
		return "starting", nil
	case active == "deactivating":
		return "stopping", nil
	case active == "inactive":
		return "stopped", nil
	case active == "failed":
		return "failed" + see + "; `systemctl reset-failed hubd` re-arms restarts)", errServiceFailed
	}
	return active + " (" + sub + ")", nil
}

// readableBy reports whether the account name may read path, judged by the
// file's owner, group and mode bits (ACLs are not looked at).
func readableBy(path, name string) (bool, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, fmt.Errorf("%s: no owner information", path)
	}
	perm := fi.Mode().Perm()
	if u.Uid == strconv.FormatUint(uint64(st.Uid), 10) {
		return perm&0o400 != 0, nil
	}
	gids, err := u.GroupIds()
	if err != nil {
		return false, err
	}
	for _, g := range gids {
		if g == strconv.FormatUint(uint64(st.Gid), 10) {
			return perm&0o040 != 0, nil
		}
	}
	return perm&0o004 != 0, nil
}

// unitPathOK matches paths the unit can hold without systemd quoting, and
// which kardianos' template engine leaves alone.
var unitPathOK = regexp.MustCompile(`^/[A-Za-z0-9/._+-]*$`)

// renderUnit points the unit's ExecStart at exe and config. Both must be
// visible inside the sandbox: ProtectHome hides home directories and
// PrivateTmp gives the service its own /tmp.
func renderUnit(unit, exe, config string) (string, error) {
	for _, p := range []string{exe, config} {
		if !unitPathOK.MatchString(p) {
			return "", fmt.Errorf("%w: %q holds characters a unit file cannot carry unquoted; move it", errUnitPath, p)
		}
		for _, hidden := range []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"} {
			if strings.HasPrefix(p, hidden) {
				return "", fmt.Errorf("%w: %s is under %s, which the hardened unit hides from the service; copy it to /usr/local/bin or /etc/hubd", errUnitPath, p, hidden)
			}
		}
	}
	lines := strings.Split(unit, "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, "ExecStart=") {
			lines[i] = "ExecStart=" + exe + " run -config " + config
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("%w: unit has no ExecStart", errUnitPath)
	}
	return strings.Join(lines, "\n"), nil
}

// ensureServiceUser creates the hubd system user (group hubd, member of
// dialout for the serial ports) unless it exists; the Debian package does
// the same in its postinst.
func ensureServiceUser() error {
	if _, err := user.Lookup(serviceUser); err == nil {
		return nil
	}
	args := []string{"--system", "--user-group", "--home-dir", "/var/lib/hubd", "--no-create-home", "--shell", "/usr/sbin/nologin"}
	if _, err := user.LookupGroup("dialout"); err == nil {
		args = append(args, "--groups", "dialout")
	}
	out, err := exec.Command("useradd", append(args, serviceUser)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("service: create user %s: %w: %s", serviceUser, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// noopProgram satisfies service.Interface for control actions, which never
// run the daemon through the library (see runAsService).
type noopProgram struct{}

func (noopProgram) Start(service.Service) error { return nil }
func (noopProgram) Stop(service.Service) error  { return nil }

// Running under the service manager.
//
// On Linux kardianos/service's Run does nothing but wait for SIGTERM or
// SIGINT between Start and Stop, and it keeps waiting when the daemon fails
// on its own, so a store that cannot open would hang instead of exiting for
// Restart=on-failure. runAsService therefore handles the signals itself and
// speaks sd_notify: the same code runs interactively and under systemd.

// serviceRunOptions tunes runAsServiceWith. The zero value is what
// runAsService uses.
type serviceRunOptions struct {
	// Reload is called on SIGHUP (systemctl reload hubd) between
	// RELOADING=1 and READY=1. Nil: the daemon logs that a restart is needed
	// to apply a new config, and keeps running (Go's default would be to die).
	Reload func(ctx context.Context) error
	// Alive is asked before each watchdog ping; an error skips the ping so
	// systemd restarts a wedged daemon after WatchdogSec. Nil: always alive.
	Alive func() error
	// Logger; nil discards.
	Logger *slog.Logger
	// signals replaces the process's signals in tests.
	signals chan os.Signal
}

// runAsService runs run until it returns or SIGTERM/SIGINT cancels its
// context (then STOPPING=1 is sent and run gets to finish its shutdown; a
// second signal returns errForcedExit at once). run
// must call sdReady once its store is open and its listeners are bound, as
// the unit is Type=notify. It returns run's error.
func runAsService(run func(ctx context.Context) error) error {
	return runAsServiceWith(run, serviceRunOptions{})
}

// runAsServiceWith is runAsService with a reload hook, a liveness check for
// the watchdog, and a logger.
func runAsServiceWith(run func(ctx context.Context) error, opts serviceRunOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sigs := opts.signals
	if sigs == nil {
		sigs = make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(sigs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- run(ctx) }()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sdWatchdog(ctx, opts.Alive)
	}()
	defer wg.Wait()
	defer cancel()

	stopping := false
	for {
		select {
		case err := <-done:
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(ctx, opts.Reload, logger)
				continue
			}
			if stopping {
				// A second Ctrl-C means the operator will not wait.
				return fmt.Errorf("%w: second %s during shutdown", errForcedExit, sig)
			}
			stopping = true
			logger.Info("shutting down", "signal", sig.String())
			if err := sdStopping(); err != nil {
				logger.Warn("sd_notify", "err", err)
			}
			cancel()
		}
	}
}

func reload(ctx context.Context, fn func(context.Context) error, logger *slog.Logger) {
	if err := sdReloading(); err != nil {
		logger.Warn("sd_notify", "err", err)
	}
	status := "reloaded"
	switch {
	case fn == nil:
		status = "reload not supported; restart hubd to apply a new config"
		logger.Warn(status)
	default:
		if err := safeReload(ctx, fn); err != nil {
			status = "reload failed, still running the previous config: " + err.Error()
			logger.Error("reload failed", "err", err)
		} else {
			logger.Info("reloaded")
		}
	}
	if err := sdReady(status); err != nil {
		logger.Warn("sd_notify", "err", err)
	}
}

// safeReload runs a reload hook, turning a panic into an error: a bad
// SIGHUP must not take down a daemon that was serving fine.
func safeReload(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errReloadPanic, p)
		}
	}()
	return fn(ctx)
}
