package hub

import (
	"testing"
	"unsafe"
)

// A hub keeps one entry per device; at 10,000 devices every size class
// it moves up costs most of a megabyte (README, "Where the memory goes").
// An entry is allocated from the 512-byte class (it was 576 before the
// rare fields moved beside it, beside.go): a field that pushes it past
// that costs 64 bytes a device more, and should be a decision.
func TestEntry_FitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 512 {
		t.Fatalf("a device's hub entry is %d bytes, past the 512-byte size class", n)
	}
}
