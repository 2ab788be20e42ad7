package store

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadJournal feeds garbage to the journal reader: it must never
// panic, and every record it returns must verify under the key.
func FuzzReadJournal(f *testing.F) {
	key := make([]byte, 32)
	var recs []revocation
	var head [sha256.Size]byte
	for i, tok := range []string{"a", "b", "c"} {
		r := revocation{at: int64(1_700_000_000 + i), digest: sha256.Sum256([]byte(tok))}
		r.mac = recordMAC(key, uint64(i), head, r.at, r.digest)
		head = r.mac
		recs = append(recs, r)
	}
	var good []byte
	for i := range recs {
		good = append(good, recs[i].line()...)
	}
	f.Add(good)
	f.Add(good[:recordLen+7])
	f.Add([]byte("R garbage\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "journal")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := readJournal(p, key)
		var prev [sha256.Size]byte
		for i, r := range got {
			if want := recordMAC(key, uint64(i), prev, r.at, r.digest); want != r.mac {
				t.Fatalf("record %d returned without verifying", i)
			}
			prev = r.mac
		}
	})
}
