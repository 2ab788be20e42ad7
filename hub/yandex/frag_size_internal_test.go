package yandex

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// A device's cached query answer holds about its own bytes: 2,000 devices
// answered once keep no more than their answers' bytes, a quarter of that
// for the size classes, and 200 bytes a device for the cache's entry. Grown
// by appending from nothing, a fragment held up to a third more than its
// bytes, besides its entry.
func TestQuery_CachedAnswersHoldAboutTheirBytes(t *testing.T) {
	const n = 2000
	h := benchHub(t, n)
	api, err := New(h, Options{Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		t.Fatal(err)
	}
	query := func(body []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/v1.0/user/devices/query", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("query: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.Len()
	}
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
