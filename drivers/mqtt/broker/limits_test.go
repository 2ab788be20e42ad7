package broker

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// heapNow is the live heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A packet's announced length costs nothing until its bytes arrive: a
// client (not even logged in) that announces a large CONNECT and sends
// a few bytes must not make the broker hold the whole length.
func TestBroker_AnnouncedLength_HoldsNoMemory(t *testing.T) {
	const maxPacket = 8 << 20
	const clients = 16
	b, _ := start(t, func(o *Options) { o.MaxPacket = maxPacket })
	before := heapNow()
	var cs []net.Conn
	for range clients {
		r := dial(t, b)
		// CONNECT announcing maxPacket-1 bytes, and the first few of them.
		hdr := appendLength([]byte{0x10}, maxPacket-1)
		r.send(append(hdr, 0, 4, 'M', 'Q', 'T', 'T', 4))
		cs = append(cs, r.c)
	}
	eventually(t, "the connections accepted", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.all) == clients
	})
	time.Sleep(200 * time.Millisecond) // for the broker to read what was sent
	grew := int64(heapNow()) - int64(before)
	if grew > clients*maxPacket/8 {
		t.Errorf("%d clients that sent 12 bytes each made the heap grow by %d MiB", clients, grew>>20)
	}
	runtime.KeepAlive(cs)
}
