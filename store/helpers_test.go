package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"hubd/hub"
)

// openTest opens a store in a fresh t.TempDir() (fsync off unless the caller
// set opts) and, in t.Cleanup, closes it and runs bbolt's consistency check
// on the file as it was left on disk.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	return openTestAt(t, filepath.Join(t.TempDir(), "hubd.db"), opts)
}

func openTestAt(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkPath(t, path)
	})
	return db
}

// checkPath opens a closed store file read-only and checks its consistency.
func checkPath(t testing.TB, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("check %s: open: %v", path, err)
		return
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("check %s: %v", path, err)
	}
}

// snap builds a plausible snapshot for device number i at sequence seq.
func snap(i int, seq uint64) hub.Snapshot {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond)
	s := hub.Snapshot{LastSeen: at, Online: true, Seq: seq,
		Info: hub.Info{Manufacturer: "hubd", Model: fmt.Sprintf("lamp-%d", i%7)}}
	s.State.Set = hub.Fields(hub.FieldOn, hub.FieldBrightness, hub.FieldPower)
	s.State.On = seq%2 == 0
	s.State.Brightness = int(seq % 101)
	s.State.Power = float64(seq) / 10
	for _, f := range s.State.Set.List() {
		s.State.Updated[f] = hub.StampOf(at)
	}
	return s
}

func devID(i int) string { return fmt.Sprintf("dev-%05d", i) }
