package broker

import (
	"testing"
	"unsafe"
)

// A broker keeps a conn for each connected client and a session for each
// client id; at 10,000 devices every size class they move up costs a few
// hundred kilobytes. A field that pushes one past its class should be a
// decision.
func TestConnSessionAndNode_FitTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 144 {
		t.Errorf("a conn is %d bytes, past the 144-byte size class", n)
	}
	if n := unsafe.Sizeof(session{}); n > 144 {
		t.Errorf("a session is %d bytes, past the 144-byte size class", n)
	}
	// A subscription tree node is one or more a filter of each device.
	if n := unsafe.Sizeof(node{}); n > 32 {
		t.Errorf("a tree node is %d bytes, past the 32-byte size class", n)
	}
}
