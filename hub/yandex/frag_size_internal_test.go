package yandex

import (
	"runtime"
	"testing"
)

// A device's cached query answer holds about its own bytes: 2,000 devices
// (the default bound)
// answered once keep no more than their answers' bytes, a quarter of that
// for the size classes, and 200 bytes a device for the cache's entry. Grown
// by appending from nothing, a fragment held up to a third more than its
// bytes, besides its entry.
func TestQuery_CachedAnswersHoldAboutTheirBytes(t *testing.T) {
	const n = 2000
	api := staffAPI(t, n, 0)
	query := func(body []byte) int { return len(queryAPI(t, api, body)) }
	query(queryBody(1, 0, n)) // the handler's own buffers, before the count
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	answered := 0
	for off := 0; off < n; off += 100 {
		answered += query(queryBody(100, off, n)) // every 7th from off: all of them over the loop
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	cached := 0
	api.frags.Range(func(_, v any) bool { cached += len(v.(*frag).b); return true })
	if cached < answered*9/10 {
		t.Fatalf("%d bytes cached for %d bytes answered: not every device's answer was kept", cached, answered)
	}
	if limit := int64(cached+cached/4) + n*200; kept > limit {
		t.Fatalf("%d devices' cached answers (%d bytes) keep %d bytes of heap, over %d", n, cached, kept, limit)
	}
	t.Logf("%d devices' cached answers: %d bytes, %d bytes of heap kept", n, cached, kept)
}
