package store

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKV_PutGetDelete(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	kv := db.Bucket("alexa-units")
	if v, ok, err := kv.Get("r101"); v != "" || ok || err != nil {
		t.Errorf("Get on a never-written namespace = %q, %v, %v", v, ok, err)
	}
	if all, err := kv.All(); err != nil || len(all) != 0 {
		t.Errorf("All on a never-written namespace = %v, %v", all, err)
	}
	if err := kv.Put("r101", "amzn1.alexa.unit.did.A"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put("empty", ""); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := kv.Get("r101"); v != "amzn1.alexa.unit.did.A" || !ok || err != nil {
		t.Errorf("Get = %q, %v, %v", v, ok, err)
	}
	if v, ok, err := kv.Get("empty"); v != "" || !ok || err != nil {
		t.Errorf("Get of an empty value = %q, %v, %v; want present", v, ok, err)
	}
	if err := kv.Delete("r101"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete("never-there"); err != nil {
		t.Errorf("Delete of an absent key: %v", err)
	}
	if _, ok, _ := kv.Get("r101"); ok {
		t.Errorf("key still present after Delete")
	}
}

func TestKV_NamespacesAreSeparateAndSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{"b1": "unit-1", "f1": "unit-2", "r101": "unit-3"}
	if err := db.Bucket("alexa-units").PutMany(units); err != nil {
		t.Fatal(err)
	}
	if err := db.Bucket("revoked-tokens").Put("b1", "2026-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openTestAt(t, path, Options{NoSync: true})
	got, err := db.Bucket("alexa-units").All()
	if err != nil || !maps.Equal(got, units) {
		t.Errorf("alexa-units after reopen = %v, %v; want %v", got, err, units)
	}
	got, _ = db.Bucket("revoked-tokens").All()
	if len(got) != 1 || got["b1"] != "2026-01-01T00:00:00Z" {
		t.Errorf("revoked-tokens = %v", got)
	}
}

func TestKV_RejectsBadNamesKeysAndValues(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	ok := db.Bucket("j")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"empty name", db.Bucket("").Put("k", "v"), ErrInvalidName},
		{"long name", db.Bucket(strings.Repeat("n", MaxNameLen+1)).Put("k", "v"), ErrInvalidName},
		{"empty name get", func() error { _, _, err := db.Bucket("").Get("k"); return err }(), ErrInvalidName},
		{"empty key", ok.Put("", "v"), ErrInvalidKey},
		{"long key", ok.Put(strings.Repeat("k", MaxKeyLen+1), "v"), ErrInvalidKey},
		{"empty key get", func() error { _, _, err := ok.Get(""); return err }(), ErrInvalidKey},
		{"empty key delete", ok.Delete(""), ErrInvalidKey},
		{"huge value", ok.Put("k", strings.Repeat("v", MaxValueSize+1)), ErrTooLarge},
		{"bad pair in PutMany", ok.PutMany(map[string]string{"a": "1", "": "2"}), ErrInvalidKey},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if all, _ := ok.All(); len(all) != 0 {
		t.Errorf("a rejected write left %v", all)
	}
	if err := ok.PutMany(nil); err != nil {
		t.Errorf("PutMany(nil) = %v", err)
	}
}

func TestKV_ConcurrentWritersAllLand(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	kv := db.Bucket("journal")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if err := kv.Put(fmt.Sprintf("%d-%d", g, i), "x"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// The state writer commits at the same time.
	for i := range 500 {
		db.Put(devID(i), snap(i, 1))
	}
	wg.Wait()
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := kv.All()
	if err != nil || len(all) != 100 {
		t.Errorf("All = %d keys, %v; want 100", len(all), err)
	}
}
