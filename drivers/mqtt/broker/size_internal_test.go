package broker

import (
	"testing"
	"unsafe"
)

// A broker keeps a conn for each connected client and a session for each
// client id; at 10,000 devices every size class they move up costs a few
// hundred kilobytes. A field that pushes one past its class should be a
// decision.
func TestConnAndSession_FitTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 192 {
		t.Errorf("a conn is %d bytes, past the 192-byte size class", n)
	}
	if n := unsafe.Sizeof(session{}); n > 176 {
		t.Errorf("a session is %d bytes, past the 176-byte size class", n)
	}
}
