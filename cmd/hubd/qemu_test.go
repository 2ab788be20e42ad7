package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The cross-built binaries, run under qemu-user: what ships to the gateways
// must start, report its architecture and serve the demo API.

func needQemu(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("cross-built binary under qemu: skipped in -short mode")
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: apt-get install -y qemu-user-static", name)
	}
	return p
}

func TestQemu_Version_ReportsArch(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	tests := []struct{ goarch, qemu, want string }{
		{"arm64", "qemu-aarch64-static", "linux/arm64"},
		{"arm", "qemu-arm-static", "linux/arm"},
	}
	for _, tt := range tests {
		t.Run(tt.goarch, func(t *testing.T) {
			qemu := needQemu(t, tt.qemu)
			bin := buildHubd(t, t.TempDir(), tt.goarch)
			out, err := exec.Command(qemu, bin, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("hubd version under %s: %v\n%s", tt.qemu, err, out)
			}
			got := string(out)
			if !strings.Contains(got, tt.want) || !strings.Contains(got, testBuildVersion) || !strings.Contains(got, testBuildCommit) {
				t.Fatalf("hubd version = %q, want version %s, commit %s and %s", got, testBuildVersion, testBuildCommit, tt.want)
			}
		})
	}
}

// syncBuffer collects a child's output for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestQemu_Demo_AnswersDevicesQuery runs `hubd demo` for arm64 under qemu
// and asks the Yandex API for lamp-1, the serial lamp of the demo.
func TestQemu_Demo_AnswersDevicesQuery(t *testing.T) {
	t.Parallel() // child processes, ports and a temp dir of its own
	qemu := needQemu(t, "qemu-aarch64-static")
	dir := t.TempDir()
	bin := buildHubd(t, dir, "arm64")
	addr := freePort(t)
	data := filepath.Join(dir, "data")

	var logs syncBuffer
	cmd := exec.Command(qemu, bin, "demo", "-http", addr, "-data", data)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	body := `{"devices":[{"id":"lamp-1"}]}`
	client := &http.Client{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var last string
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("hubd demo exited early: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("no lamp-1 with on_off within 3 min; last reply: %s\nlogs:\n%s", last, logs.String())
		case <-time.After(500 * time.Millisecond):
		}
		ok, reply := queryLamp(ctx, client, addr, body)
		last = reply
		if ok {
			t.Logf("lamp-1 under qemu: %s", reply)
			return
		}
	}
}

// queryLamp posts a devices/query and reports whether lamp-1 came back with
// an on_off capability, with the reply for diagnostics.
func queryLamp(ctx context.Context, client *http.Client, addr, body string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1.0/user/devices/query", strings.NewReader(body))
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("Authorization", "Bearer demo-token")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "qemu-test")
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, err.Error()
	}
	reply := fmt.Sprintf("%d %s", resp.StatusCode, raw)
	if resp.StatusCode != http.StatusOK {
		return false, reply
	}
	var r struct {
		Payload struct {
			Devices []struct {
				ID           string `json:"id"`
				ErrorCode    string `json:"error_code"`
				Capabilities []struct {
					Type  string `json:"type"`
					State struct {
						Instance string `json:"instance"`
						Value    any    `json:"value"`
					} `json:"state"`
				} `json:"capabilities"`
			} `json:"devices"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return false, reply
	}
	for _, d := range r.Payload.Devices {
		if d.ID != "lamp-1" || d.ErrorCode != "" {
			continue
		}
		for _, c := range d.Capabilities {
			if c.Type == "devices.capabilities.on_off" && c.State.Instance == "on" {
				if _, isBool := c.State.Value.(bool); isBool {
					return true, reply
				}
			}
		}
	}
	return false, reply
}
