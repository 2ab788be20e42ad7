// Command hubd is the building hub daemon: it talks to lamps and sockets over
// serial lines and MQTT, keeps their state in bbolt, answers the Yandex smart
// home provider API, syncs the building's rooms to Alexa and serves a status
// page for technicians.
//
//	hubd demo [-http ADDR] [-data DIR] [-broker URL] [-alexa URL] [-uplink URL]
//	hubd run -config FILE
//	hubd check-config -config FILE
//	hubd alexa plan|sync -config FILE
//	hubd home list|set-login HOME|checkout HOME [-config FILE]
//	hubd install|uninstall|start|stop|restart|status [-config FILE]
//	hubd hash-token [TOKEN] | hash-password
//	hubd mqtt-account create|rotate|delete DEVICE|ACCOUNT | list [-config FILE]
//	hubd mosquitto-acl [-config FILE] [-passwd FILE]
//	hubd version
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub/yandex"
)

// Stamped by the Makefile with -X main.version=... -X main.commit=...
var version, commit string

const defaultConfig = "/etc/hubd/hubd.yaml"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

const usage = `usage:
  hubd demo [-http ADDR] [-data DIR] [-broker URL] [-alexa URL] [-uplink URL]
  hubd run -config FILE
  hubd check-config -config FILE
  hubd modbus-scan -config FILE -bus NAME [-units 1-247]   list the Modbus slaves that answer (stop hubd first)
  hubd alexa plan|sync -config FILE
  hubd home list|set-login HOME|checkout HOME [-config FILE]
  hubd alexa login -config FILE [-redirect URL]
  hubd install|uninstall|start|stop|restart|status [-config FILE]
  hubd hash-token [TOKEN]      print the sha256: form of an API token (makes one if none given)
  hubd hash-password           read a password on stdin, print its bcrypt hash
  hubd mqtt-account create|rotate|delete DEVICE|ACCOUNT | list [-config FILE]
  hubd mosquitto-acl [-config FILE] [-passwd FILE]   the device accounts' ACLs for an external Mosquitto
  hubd version
` + discoveryUsage

func versionString() string {
	v, c := version, commit
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("hubd %s (commit %s, %s/%s, %s)", v, c, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	cmd, args := args[0], args[1:]
	if ok, err := runDiscoveryCommand(context.Background(), cmd, args, stdout, stderr); ok {
		return err
	}
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var o DemoOptions
		fs.StringVar(&o.HTTP, "http", "127.0.0.1:8080", "listen address of the status page and APIs (loopback only)")
		fs.StringVar(&o.DataDir, "data", "", "state directory (default: a directory under the user's cache)")
		fs.StringVar(&o.Broker, "broker", "", "external MQTT broker tcp://HOST:PORT (default: embedded)")
		fs.StringVar(&o.Alexa, "alexa", "", "Alexa API base URL to sync the demo site to (default: in-process simulator)")
		fs.StringVar(&o.Uplink, "uplink", "", "fleet MQTT broker tcp://HOST:PORT to publish the demo building to, under hubd/demo/ (default: none)")
		fs.StringVar(&o.LogLevel, "log", "info", "log level: debug, info, warn, error")
		if err := fs.Parse(args); err != nil {
			return usageError(err.Error())
		}
		defer tuneGC(os.Getenv)()
		ctx, cancel := signalContext()
		defer cancel()
		return runDemo(ctx, o, stdout, stderr)
	case "run":
		path, err := configFlag("run", args, stderr)
		if err != nil {
			return err
		}
		settle, stop := tuneGCForStart(os.Getenv)
		defer stop()
		return runService(path, stderr, settle)
	case "modbus-scan":
		return runModbusScan(args, stdout, stderr)
	case "check-config":
		path, err := configFlag("check-config", args, stderr)
		if err != nil {
			return err
		}
		c, err := LoadConfig(path)
		if err != nil {
			return err
		}
		for _, w := range c.Warnings {
			fmt.Fprintf(stdout, "warning: %v\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok (%d devices, %d serial buses%s)\n", path, len(c.Devices), len(c.Serial), describeModbus(c))
		warnClashes(c, stdout)
		return nil
	case "alexa":
		if len(args) > 0 && args[0] == "login" {
			return runAlexaLogin(context.Background(), args[1:], stdin, stdout, stderr)
		}
		if len(args) == 0 || (args[0] != "plan" && args[0] != "sync") {
			return usageError("usage: hubd alexa plan|sync -config FILE")
		}
		path, err := configFlag("alexa "+args[0], args[1:], stderr)
		if err != nil {
			return err
		}
		ctx, cancel := signalContext()
		defer cancel()
		return runAlexa(ctx, args[0], path, stdout, stderr)
	case "home":
		return runHome(args, stdout, stderr)
	case "install", "uninstall", "start", "stop", "restart", "status":
		path := defaultConfig
		if cmd == "install" {
			p, err := configFlag(cmd, args, stderr)
			if err != nil {
				return err
			}
			path = p
		}
		return serviceControl(cmd, path, newLogger(stderr, "info", "text"))
	case "mqtt-account":
		return runMQTTAccount(args, stdout, stderr)
	case "mosquitto-acl":
		return runMosquittoACL(args, stdout, stderr)
	case "hash-token":
		tok := ""
		if len(args) > 0 {
			tok = args[0]
		} else {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			tok = hex.EncodeToString(b)
			fmt.Fprintf(stdout, "token: %s\n", tok)
		}
		fmt.Fprintf(stdout, "%s\n", yandex.HashToken(tok))
		return nil
	case "hash-password":
		line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw := strings.TrimRight(line, "\r\n")
		if len(pw) < 8 {
			return errors.New("hash-password: give a password of at least 8 characters on standard input")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(h))
		return nil
	}
	return usageError(fmt.Sprintf("hubd: unknown command %q\n%s", cmd, usage))
}

// daemonGCPercent is the daemons' GC target. The soft memory limit
// (memlimit.go) paces the collector well before it: GOGC's target counts
// a 32 MiB buffer among the globals. It still paces a daemon run with
// GOMEMLIMIT set, a tighter target than Go's default (GOGC=100).
const daemonGCPercent = 50

// tuneGC sets the garbage collector of the long-running commands (run,
// demo) unless GOGC in the environment (getenv) has set it already, and
// has the soft memory limit follow the live heap (memlimit.go) unless
// GOMEMLIMIT has set one. The returned stop ends the latter.
func tuneGC(getenv func(string) string) (stop func()) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	return followHeap(getenv)
}

func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	if err := fs.Parse(args); err != nil {
		return "", usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return "", usageError(fmt.Sprintf("hubd %s: unexpected argument %q", name, fs.Arg(0)))
	}
	return *path, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
