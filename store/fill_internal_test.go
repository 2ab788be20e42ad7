package store

import (
	"math/rand/v2"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The state bucket's pages stay mostly full as devices come (in id order,
// a batch at a time) and their records are rewritten: at bbolt's default
// a split left each page half empty, twice the pages to write and to read
// through the file's memory map.
func TestDB_StatePagesStayFull(t *testing.T) {
	db := openTest(t, Options{NoSync: true, FlushInterval: time.Hour, MaxBatch: 1 << 20})
	const n = 5000
	flush := func() {
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		db.Put(devID(i), snap(i, 1))
		if i%500 == 499 {
			flush()
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		for _, i := range rng.Perm(n)[:n/2] {
			db.Put(devID(i), snap(i, uint64(2+round)))
		}
		flush()
	}
	var st bolt.BucketStats
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		st = tx.Bucket(bucketState).Stats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
		t.Fatalf("%d state records on %d leaf pages %.0f%% full; want at least 80%%", st.KeyN, st.LeafPageN, 100*fill)
	}
	t.Logf("%d state records on %d leaf pages, %.0f%% full", st.KeyN, st.LeafPageN, 100*float64(st.LeafInuse)/float64(st.LeafAlloc))
}
