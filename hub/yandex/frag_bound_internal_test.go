package yandex

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// cachedAnswers counts the answers the cache holds.
func cachedAnswers(api *Handler) int {
	n := 0
	api.frags.Range(func(_, _ any) bool { n++; return true })
	return n
}

func queryAPI(t testing.TB, api *Handler, body []byte) []byte {
	req := httptest.NewRequest(http.MethodPost, "/v1.0/user/devices/query", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("X-Request-Id", "r")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("query: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func staffAPI(t testing.TB, n, maxCached int) *Handler {
	api, err := New(benchHub(t, n), Options{Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}, MaxCachedAnswers: maxCached})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// The cache of answers holds at most MaxCachedAnswers devices, whatever
// is asked, and the answers are the same with it, full, and without it.
func TestQuery_CachedAnswersBounded(t *testing.T) {
	const n, bound = 1000, 50
	bounded, uncached := staffAPI(t, n, bound), staffAPI(t, n, -1)
	for off := 0; off < n; off += 100 {
		body := queryBody(100, off, n)
		got, want := queryAPI(t, bounded, body), queryAPI(t, uncached, body)
		if !bytes.Equal(got, want) {
			t.Fatalf("query from %d: answer with a full cache differs from one without:\n%s\n%s", off, got, want)
		}
		if c := cachedAnswers(bounded); c > bound || int64(c) != bounded.nFrags.Load() {
			t.Fatalf("after the query from %d: %d answers cached (counted %d), bound %d", off, c, bounded.nFrags.Load(), bound)
		}
	}
	if c := cachedAnswers(bounded); c != bound {
		t.Fatalf("%d answers cached after %d devices were asked for; want the bound, %d", c, n, bound)
	}
	if c := cachedAnswers(uncached); c != 0 {
		t.Fatalf("%d answers cached with MaxCachedAnswers < 0", c)
	}
	// A device asked again is answered from the cache: its answer is kept.
	body := queryBody(1, 7, n)
	queryAPI(t, bounded, body)
	if _, ok := bounded.frags.Load("dev-0007"); !ok {
		t.Fatal("the device just asked for has no cached answer")
	}
}

// Run with -race: queries of many devices at once keep the count true and
// the cache within the bound and one entry per query under way.
func TestQuery_CachedAnswersBoundedUnderConcurrentQueries(t *testing.T) {
	const n, bound, workers = 1000, 40, 4
	api := staffAPI(t, n, bound)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := w; off < n; off += 25 {
				queryAPI(t, api, queryBody(20, off, n))
			}
		}()
	}
	wg.Wait()
	c := cachedAnswers(api)
	if c > bound+workers || int64(c) != api.nFrags.Load() {
		t.Fatalf("%d answers cached (counted %d), bound %d with %d queries at once", c, api.nFrags.Load(), bound, workers)
	}
}
