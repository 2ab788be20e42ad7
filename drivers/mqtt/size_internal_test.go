package mqtt

import (
	"testing"
	"unsafe"
)

// The driver keeps one device per output; at 10,000 devices every size
// class it moves up costs a few hundred kilobytes (README, "Where the
// memory goes"). A field that pushes it past its class should be a
// decision.
func TestDevice_FitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(device{}); n > 208 {
		t.Fatalf("a driver's device is %d bytes, past the 208-byte size class", n)
	}
}

// A route is a value in the route maps, one per device topic: 32 bytes
// keeps a map slot (with its 16-byte key) at 48.
func TestRoute_IsSmall(t *testing.T) {
	if n := unsafe.Sizeof(route{}); n > 32 {
		t.Fatalf("a route is %d bytes, want at most 32", n)
	}
}
