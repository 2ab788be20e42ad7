package alexa

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"hubd/hub/alexa/alexatest"
)

// simEnv carries the simulator's options to the helper process:
// "polls,listLag".
const simEnv = "HUBD_ALEXA_SIM_HELPER"

// simCounts is what the helper process reports about its simulator.
type simCounts struct {
	Calls    map[string]int `json:"calls"`
	Total    int            `json:"total"`
	Token    int            `json:"token"`
	Sessions int            `json:"sessions"`
	Running  int            `json:"running"`
	Units    int            `json:"units"`
	Homes    int            `json:"homes"`
}

// TestMain runs the package's tests, or, with simEnv set, the simulator
// of the memory benchmarks: they run the test binary again so that the
// simulator (which holds every unit it is sent) lives in another process
// and the benchmark's heap is the product's alone.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(simEnv); cfg != "" {
		os.Exit(serveSimulator(cfg))
	}
	os.Exit(m.Run())
}

// serveSimulator serves the simulator until stdin closes; cfg is
// "polls,lag".
func serveSimulator(cfg string) int {
	var polls, lag int
	if _, err := fmt.Sscanf(cfg, "%d,%d", &polls, &lag); err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", simEnv, cfg, err)
		return 2
	}
	srv := alexatest.New(alexatest.Options{DiscoveryPolls: polls, ListLag: lag, SubscriptionSkillID: alexatest.DemoSubscriptionSkill})
	defer srv.Close()
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(simCounts{Calls: srv.Counts(), Total: srv.TotalCalls(), Token: srv.TokenCalls(),
			Sessions: srv.SessionsTotal(), Running: srv.SessionsRunning(), Units: srv.UnitCount(), Homes: len(srv.HomePaths())})
	}))
	defer ctl.Close()
	fmt.Printf("SIM %s %s\n", srv.URL(), ctl.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// simProc is a simulator in a helper process.
type simProc struct {
	url, ctl string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
}

// startSimProc starts the helper process and waits for its address.
func startSimProc(tb testing.TB, polls, listLag int) *simProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), simEnv+"="+strconv.Itoa(polls)+","+strconv.Itoa(listLag))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &simProc{cmd: cmd, stdin: stdin}
	tb.Cleanup(p.stop)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "SIM" {
			p.url, p.ctl = f[1], f[2]
			go func() { _, _ = io.Copy(io.Discard, out) }() // the rest of its output; ends when it exits
			return p
		}
	}
	tb.Fatalf("simulator helper process exited without an address: %v", sc.Err())
	return nil
}

func (p *simProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *simProc) counts(tb testing.TB) simCounts {
	tb.Helper()
	resp, err := http.Get(p.ctl)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var c simCounts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		tb.Fatal(err)
	}
	return c
}
