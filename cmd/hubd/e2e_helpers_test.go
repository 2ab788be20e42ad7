package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The end-to-end tests run the whole daemon as a child process: the test
// binary re-executes itself with HUBD_E2E_ARGS set, and TestMain hands those
// arguments to the real command line (run), exactly as bin/hubd would.
const e2eArgsEnv = "HUBD_E2E_ARGS"

func TestMain(m *testing.M) {
	serveStaticIfAsked()
	if args := os.Getenv(e2eArgsEnv); args != "" {
		err := run(strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hubd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	flag.Parse()
	parallelE2E()
	code := m.Run()
	removeBuilds()
	os.Exit(code)
}

// e2eParallel is how many tests that call t.Parallel run at once unless
// -test.parallel says otherwise. They spend their time waiting for child
// processes (daemons, brokers, a container) and timers, not on a CPU, so
// GOMAXPROCS (go test's default: 2 on a small CI machine) would leave the
// package's time at the sum of its waits.
const e2eParallel = 6

func parallelE2E() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < e2eParallel {
		flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
}

// daemon is a hubd child process.
type daemon struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string
	out    *syncBuffer
	exited chan struct{}
	err    error
}

var startedRe = regexp.MustCompile(`msg="hubd started".* http=(\S+)`)

// startDaemon runs `hubd ARGS...` and waits until it logs that it serves.
func startDaemon(t testing.TB, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), e2eArgsEnv+"="+strings.Join(args, "\x1f"))
	return startCmd(t, cmd, args)
}

// startBinary runs a built hubd (see buildHubd) with args, for figures
// that must be the shipped binary's own, such as its resident memory (the
// test binary carries the test code and its libraries).
func startBinary(t testing.TB, bin string, args ...string) *daemon {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...), args)
}

func startCmd(t testing.TB, cmd *exec.Cmd, args []string) *daemon {
	t.Helper()
	d := launch(t, cmd)
	out := d.out
	deadline := time.After(30 * time.Second)
	for {
		if m := startedRe.FindStringSubmatch(out.String()); m != nil {
			d.addr = m[1]
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("hubd %v exited before serving: %v\n%s", args, d.err, out)
		case <-deadline:
			t.Fatalf("hubd %v did not start in 30s:\n%s", args, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// launch starts cmd as a daemon without waiting for it to serve; the
// test's cleanup kills it.
func launch(t testing.TB, cmd *exec.Cmd) *daemon {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { d.kill() })
	return d
}

// kill ends the daemon with SIGKILL: no flush, no goodbye.
func (d *daemon) kill() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (d *daemon) stop() time.Duration {
	d.t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.t.Fatalf("hubd did not stop within 15s of SIGTERM:\n%s", d.out)
	}
	return time.Since(start)
}

// yandexDevice is one device of a devices/query answer.
type yandexDevice struct {
	ID           string `json:"id"`
	ErrorCode    string `json:"error_code"`
	Capabilities []struct {
		Type  string `json:"type"`
		State struct {
			Instance string          `json:"instance"`
			Value    json.RawMessage `json:"value"`
		} `json:"state"`
	} `json:"capabilities"`
	Properties []struct {
		Type  string `json:"type"`
		State struct {
			Instance string          `json:"instance"`
			Value    json.RawMessage `json:"value"`
		} `json:"state"`
	} `json:"properties"`
}

// value returns the raw JSON value of a capability or property instance.
func (d yandexDevice) value(instance string) (string, bool) {
	for _, c := range d.Capabilities {
		if c.State.Instance == instance {
			return string(c.State.Value), true
		}
	}
	for _, p := range d.Properties {
		if p.State.Instance == instance {
			return string(p.State.Value), true
		}
	}
	return "", false
}

type yandexReply struct {
	RequestID string `json:"request_id"`
	Payload   struct {
		Devices []yandexDevice `json:"devices"`
	} `json:"payload"`
}

var e2eClient = &http.Client{Timeout: 10 * time.Second}

// yandexCall posts body to a provider API path with the demo token.
func yandexCall(t testing.TB, addr, path, reqID, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", reqID)
	resp, err := e2eClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// query asks devices/query for ids and returns the answer by id.
func query(t testing.TB, addr string, ids ...string) map[string]yandexDevice {
	t.Helper()
	code, data := yandexCall(t, addr, "/v1.0/user/devices/query", "q", string(queryBody(ids)))
	if code != 200 {
		t.Fatalf("query: %d %s", code, data)
	}
	var r yandexReply
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("query reply: %v: %s", err, data)
	}
	out := map[string]yandexDevice{}
	for _, d := range r.Payload.Devices {
		out[d.ID] = d
	}
	return out
}

// eventually polls cond every 50ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func httpNewRequest(method, url, token string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}

// testHash is a bcrypt hash of pw at bcrypt's lowest cost, for the
// configs of tests that prove who may log in, not what a hash costs
// (hub/web's TestHashPassword holds `hubd hash-password` to the default
// cost). A daemon start compares every status page user's hash with the
// published passwords and makes its unknown-user dummy at the users'
// cost: at the default cost that is ~0.85 s a bcrypt run under -race,
// seconds for every daemon a test starts.
func testHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
