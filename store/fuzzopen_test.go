package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen writes mutated store files and opens them: Open either refuses
// the file with a clear error or yields a store whose reads and writes
// return errors instead of panicking.
func FuzzOpen(f *testing.F) {
	// A small seed keeps the fuzzer's mutation and minimization fast.
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 12 {
		db.Put(devID(i), snap(i, uint64(i)))
	}
	db.PutSite(demoSite())
	db.Bucket("alexa-units").Put("r101", "unit")
	db.Close()
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Logf("seed store: %d bytes", len(seed))
	f.Add(seed, false)
	f.Add(seed, true)
	f.Add(seed[:len(seed)/2], false)
	f.Add([]byte("garbage"), false)
	f.Fuzz(func(t *testing.T, data []byte, skipCheck bool) {
		if len(data) > 64<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "hubd.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, Options{NoSync: true, SkipCheck: skipCheck, LockTimeout: -1})
		if err != nil {
			for _, want := range []error{ErrCorrupt, ErrForeign, ErrSchemaTooNew} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("Open: unexpected error kind: %v", err)
		}
		db.LoadAll()
		db.Site()
		db.Bucket("alexa-units").All()
		db.Put("lamp-1", snap(1, 1))
		db.Flush()
		db.Close()
	})
}
