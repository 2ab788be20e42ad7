package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashDevices = 200

// TestDB_KillNine_KeepsAcknowledgedState re-executes this test binary as a
// child that puts states in a loop with fsync on and prints "ack N" after
// every Flush, kills it with SIGKILL at a random moment, and checks that the
// file passes bbolt's check and holds, for every device, a state at least as
// new as the last acknowledged one. Three rounds run on the same file.
func TestDB_KillNine_KeepsAcknowledgedState(t *testing.T) {
	if path := os.Getenv("HUBD_STORE_CRASH"); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "hubd.db")

	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDB_KillNine_KeepsAcknowledgedState$")
		cmd.Env = append(os.Environ(), "HUBD_STORE_CRASH="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()

		var lastAck uint64
		var acks int
		// Wait for the child to be writing, then kill it at a random moment.
		var kill <-chan time.Time
		for line := range lines {
			if v, ok := strings.CutPrefix(line, "ack "); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("child said %q", line)
				}
				lastAck = n
				acks++
			} else if strings.HasPrefix(line, "fail ") {
				t.Fatalf("round %d: child: %s", round, line)
			}
			if kill == nil && acks > 0 {
				kill = time.After(time.Duration(rnd.IntN(400)) * time.Millisecond)
				go func(k <-chan time.Time) {
					<-k
					cmd.Process.Signal(syscall.SIGKILL)
				}(kill)
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die by SIGKILL: %v", round, err)
		}
		if acks == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		db, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		if err := db.Check(); err != nil {
			t.Errorf("round %d: Check: %v", round, err)
		}
		all, err := db.LoadAll()
		if err != nil {
			t.Fatalf("round %d: LoadAll: %v", round, err)
		}
		if len(all) != crashDevices {
			t.Errorf("round %d: %d devices stored, want %d", round, len(all), crashDevices)
		}
		for i := range crashDevices {
			s := all[devID(i)]
			// Every device has the acknowledged state, or the one put after
			// it when the kill came during a later commit.
			if s.Seq < lastAck || s.Seq > lastAck+1 {
				t.Errorf("round %d: %s has seq %d, last acknowledged %d", round, devID(i), s.Seq, lastAck)
			}
		}
		if st := db.Stats(); st.BadRecords != 0 {
			t.Errorf("round %d: %d undecodable records", round, st.BadRecords)
		}
		t.Logf("round %d: killed after %d acknowledged flushes (last seq %d)", round, acks, lastAck)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild puts crashDevices states per round, continuing from the seq
// stored, and acknowledges each Flush on stdout, until it is killed.
func crashChild(path string) {
	db, err := Open(path, Options{LockTimeout: 5 * time.Second, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		fmt.Printf("fail open: %v\n", err)
		os.Exit(1)
	}
	all, err := db.LoadAll()
	if err != nil {
		fmt.Printf("fail load: %v\n", err)
		os.Exit(1)
	}
	var seq uint64
	for _, s := range all {
		seq = max(seq, s.Seq)
	}
	for {
		seq++
		for i := range crashDevices {
			db.Put(devID(i), snap(i, seq))
		}
		if err := db.Flush(); err != nil {
			fmt.Printf("fail flush: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", seq)
	}
}
