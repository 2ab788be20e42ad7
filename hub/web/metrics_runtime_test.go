package web

import "testing"

func TestMetrics_GoRuntime_HeapStacksAndGoroutines(t *testing.T) {
	ts := newTestServer(t, Options{})
	fams := scrape(t, ts.url)
	class := func(c string) float64 { return value(t, fams, "hubd_go_memory_bytes", map[string]string{"class": c}) }
	heap, stacks, free, total := class("heap"), class("stacks"), class("heap_free"), class("total")
	if heap <= 0 || stacks <= 0 || free < 0 {
		t.Errorf("heap %v, stacks %v, heap_free %v: want heap and stacks above zero", heap, stacks, free)
	}
	if total < heap+stacks+free {
		t.Errorf("total %v below heap %v + stacks %v + free %v", total, heap, stacks, free)
	}
	if g := value(t, fams, "hubd_goroutines", nil); g < 1 {
		t.Errorf("goroutines = %v", g)
	}
}
