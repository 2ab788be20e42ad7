package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func queueValues(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("event-%04d", from+i))
	}
	return out
}

func TestQueue_AppendPeekRemove_KeepsOrderAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.Queue("uplink-events", QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Append(queueValues(0, 10)); err != nil {
		t.Fatal(err)
	}
	first, err := q.Peek(0, 4)
	if err != nil || len(first) != 4 || string(first[0].Value) != "event-0000" || first[3].Seq <= first[0].Seq {
		t.Fatalf("Peek(4) = %v, %v", first, err)
	}
	if err := q.Remove(first[3].Seq); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestAt(t, path, Options{NoSync: true})
	q, err = db.Queue("uplink-events", QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Items != 6 || st.Bytes != 60 || st.Dropped != 0 {
		t.Fatalf("Stats after reopen = %+v, want 6 items, 60 bytes, 0 dropped", st)
	}
	if _, err := q.Append(queueValues(10, 1)); err != nil {
		t.Fatal(err)
	}
	rest, err := q.Peek(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range rest {
		if want := fmt.Sprintf("event-%04d", 4+i); string(it.Value) != want {
			t.Fatalf("item %d = %q, want %q", i, it.Value, want)
		}
		if i > 0 && it.Seq <= rest[i-1].Seq {
			t.Fatalf("seq %d after %d: not increasing across reopen", it.Seq, rest[i-1].Seq)
		}
	}
	if len(rest) != 7 {
		t.Fatalf("%d items left, want 7", len(rest))
	}
	if after, _ := q.Peek(rest[4].Seq, 10); len(after) != 2 || after[0].Seq != rest[5].Seq {
		t.Fatalf("Peek after %d = %v, want the last 2", rest[4].Seq, after)
	}
}

func TestQueue_Append_OverBounds_DropsOldestAndCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hubd.db")
	db := openTestAt(t, path, Options{NoSync: true})
	q, err := db.Queue("uplink-events", QueueOptions{MaxItems: 5, MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := q.Append(queueValues(0, 8))
	if err != nil || dropped != 3 {
		t.Fatalf("Append(8) over 5 = %d dropped, %v; want 3", dropped, err)
	}
	items, _ := q.Peek(0, 10)
	if len(items) != 5 || string(items[0].Value) != "event-0003" {
		t.Fatalf("left %d items from %q, want the newest 5", len(items), items[0].Value)
	}
	// The byte bound: 40 bytes hold four 10-byte values.
	qb, err := db.Queue("by-bytes", QueueOptions{MaxBytes: 40})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := qb.Append(queueValues(0, 6)); n != 2 || qb.Stats().Bytes != 40 {
		t.Fatalf("byte bound: dropped %d, %d bytes left; want 2 and 40", n, qb.Stats().Bytes)
	}
	if _, err := qb.Append([][]byte{make([]byte, 41)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("value over MaxBytes: %v, want ErrTooLarge", err)
	}
	q2, err := db.Queue("uplink-events", QueueOptions{MaxItems: 5})
	if err != nil || q2.Stats().Dropped != 3 {
		t.Fatalf("dropped counter after reopen = %d, %v; want 3 (kept in the file)", q2.Stats().Dropped, err)
	}
}
