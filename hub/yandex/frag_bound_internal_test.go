package yandex

import (
	"bytes"
	"maps"
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
		if c := cachedAnswers(bounded); c > bound || c != len(bounded.order) {
			t.Fatalf("after the query from %d: %d answers cached (%d in their order), bound %d", off, c, len(bounded.order), bound)
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

// Run with -race: queries of many devices at once leave the cache within
// its bound, each answer in the order once.
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
	if c > bound || c != len(api.order) {
		t.Fatalf("%d answers cached (%d in their order), bound %d, after %d queries at once", c, len(api.order), bound, workers)
	}
	seen := map[string]bool{}
	for _, id := range api.order {
		if _, ok := api.frags.Load(id); !ok || seen[id] {
			t.Fatalf("%s in the order: cached %v, twice %v", id, ok, seen[id])
		}
		seen[id] = true
	}
}

// A device new to a full cache pushes out the oldest answer, whichever
// device it is and however often it was asked for since.
func TestQuery_CachedAnswersOldestGoesFirst(t *testing.T) {
	const n, bound = 100, 3
	api := staffAPI(t, n, bound)
	ask := func(i int) { queryAPI(t, api, queryBody(1, i, n)) }
	cached := func() map[string]bool {
		m := map[string]bool{}
		api.frags.Range(func(k, _ any) bool { m[k.(string)] = true; return true })
		return m
	}
	for _, i := range []int{40, 10, 70} {
		ask(i)
	}
	ask(40) // asked again: keeps its age
	ask(20)
	if got, want := cached(), map[string]bool{"dev-0010": true, "dev-0070": true, "dev-0020": true}; !maps.Equal(got, want) {
		t.Fatalf("after 40, 10, 70, 40, 20 with room for 3: %v cached, want %v", got, want)
	}
	ask(90)
	ask(30)
	if got, want := cached(), map[string]bool{"dev-0020": true, "dev-0090": true, "dev-0030": true}; !maps.Equal(got, want) {
		t.Fatalf("then 90, 30: %v cached, want %v", got, want)
	}
}
