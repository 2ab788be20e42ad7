package hub

import (
	"runtime"
	"testing"
	"unsafe"
)

// entrySink keeps the entries TestEntry_FitsItsSizeClass allocates on the
// heap.
var entrySink []*entry

// A hub keeps one entry per device; at 10,000 devices every size class
// it moves up costs most of a megabyte (README, "Where the memory goes").
// An entry is allocated from the 512-byte class. Past 512 bytes an object
// that holds pointers also carries an 8-byte header, so an entry of 576
// bytes took 640 (as it did before waiters, the last clash and the last
// capability report stopped being fields of their own, beside.go): a
// field that pushes it past 512 costs 128 bytes a device more, and should
// be a decision.
func TestEntry_FitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 512 {
		t.Fatalf("a device's hub entry is %d bytes, past the 512-byte size class", n)
	}
	const n = 1000
	entrySink = make([]*entry, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range entrySink {
		entrySink[i] = &entry{}
	}
	runtime.ReadMemStats(&after)
	entrySink = nil
	// Anything else allocating meanwhile adds to the figure, never takes
	// from it: the next class up is 576 bytes.
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= 576 {
		t.Fatalf("a device's hub entry takes %d bytes of heap, past the 512-byte size class", per)
	}
}
