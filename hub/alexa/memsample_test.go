package alexa

import (
	"bufio"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// heapFigures are the heap measures the benchmarks report, in bytes.
type heapFigures struct {
	live  uint64 // heap held by objects the last GC found reachable
	alloc uint64 // heap objects including garbage not yet collected (MemStats.HeapAlloc)
}

var heapSamples = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}

func readHeap() heapFigures {
	s := make([]metrics.Sample, len(heapSamples))
	copy(s, heapSamples)
	metrics.Read(s)
	return heapFigures{live: s[0].Value.Uint64(), alloc: s[1].Value.Uint64()}
}

// idleHeap collects twice and returns the heap then: everything in it is
// reachable.
func idleHeap() heapFigures {
	runtime.GC()
	runtime.GC()
	return readHeap()
}

// heapSampler records the highest heap figures seen every interval until
// stopped. runtime/metrics reads do not stop the world.
type heapSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  heapFigures
}

func sampleHeap(every time.Duration) *heapSampler {
	h := &heapSampler{stopc: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			f := readHeap()
			h.peak.live = max(h.peak.live, f.live)
			h.peak.alloc = max(h.peak.alloc, f.alloc)
			select {
			case <-h.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// stop ends sampling and returns the peaks, taking one last sample.
func (h *heapSampler) stop() heapFigures {
	close(h.stopc)
	h.wg.Wait()
	f := readHeap()
	h.peak.live = max(h.peak.live, f.live)
	h.peak.alloc = max(h.peak.alloc, f.alloc)
	return h.peak
}

// resetPeakRSS resets VmHWM (Linux: "5" to clear_refs); it reports whether
// that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procStatus returns a /proc/self/status field in bytes (VmRSS, VmHWM), or 0.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
