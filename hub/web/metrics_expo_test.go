package web

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hubd/hub"
)

// parseText parses an exposition as Prometheus does.
func parseText(b []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(b))
}

// getMetrics fetches /metrics; safe to call off the test goroutine.
func getMetrics(url string) ([]byte, *http.Response, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("/metrics: %d", resp.StatusCode)
	}
	return body, resp, err
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestMetrics_Exposition_HeadersHelpAndOrder(t *testing.T) {
	opts := Options{Version: "1.2.3", Commit: "abc"}
	fakeLinks(&opts)
	ts := newTestServer(t, opts)
	for _, ep := range []string{"zeta", "alpha", "mid", "devices/query"} {
		ts.ObserveAPI(ep, 200, time.Millisecond)
		ts.ObserveAPI(ep, 404, time.Millisecond)
	}
	body, resp, err := getMetrics(ts.url)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	fams, err := parseText(body)
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, body)
	}
	if got := fams["hubd_go_memory_bytes"].GetHelp(); got != mGoMemory.help {
		t.Errorf("help %q, want %q", got, mGoMemory.help)
	}
	for name, typ := range map[string]dto.MetricType{
		"hubd_devices": dto.MetricType_GAUGE, "hubd_reports_total": dto.MetricType_COUNTER,
		"hubd_api_request_duration_seconds": dto.MetricType_HISTOGRAM,
	} {
		if fams[name].GetType() != typ {
			t.Errorf("%s is %v, want %v", name, fams[name].GetType(), typ)
		}
	}

	// Families come sorted by name, each once.
	var names []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted and unique: %v", names)
	}
	// Histogram series sorted by code, then endpoint (labels in name order).
	var series []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "hubd_api_request_duration_seconds_count{"); ok {
			series = append(series, rest[:strings.IndexByte(rest, '}')])
		}
	}
	want := []string{
		`code="200",endpoint="alpha"`, `code="200",endpoint="devices/query"`, `code="200",endpoint="mid"`, `code="200",endpoint="zeta"`,
		`code="404",endpoint="alpha"`, `code="404",endpoint="devices/query"`, `code="404",endpoint="mid"`, `code="404",endpoint="zeta"`,
	}
	if !slices.Equal(series, want) {
		t.Errorf("histogram series\n%v\nwant\n%v", series, want)
	}

	// Two scrapes of the same state are the same bytes, but for the runtime
	// figures that move by themselves.
	stable := func(b []byte) string {
		var keep []string
		for line := range strings.SplitSeq(string(b), "\n") {
			if !strings.HasPrefix(line, "hubd_go_memory_bytes{") && !strings.HasPrefix(line, "hubd_goroutines ") {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	for range 5 {
		again, _, err := getMetrics(ts.url)
		if err != nil {
			t.Fatal(err)
		}
		if stable(again) != stable(body) {
			t.Fatalf("scrape changed with no change of state:\n%s\n---\n%s", body, again)
		}
	}
}

func TestMetrics_Exposition_HeadAndOtherMethods(t *testing.T) {
	ts := newTestServer(t, Options{})
	req, _ := http.NewRequest(http.MethodHead, ts.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != expoContentType {
		t.Errorf("HEAD: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
	resp, err = http.Post(ts.url+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// awkwardValues are label values that need escaping or are not ASCII.
var awkwardValues = []string{
	`say "hi"`,
	`C:\ports\COM3`,
	"two\nlines",
	`\n is not a newline`,
	`ends with \`,
	`\"`,
	"шина-1 🚦 ☃",
	"tab\there, cr\rthere",
	"}{,=\" le=\"1\"",
	"bad utf-8 \xff\xfe end",
}

func TestMetrics_Exposition_AwkwardLabelValuesRoundTrip(t *testing.T) {
	opts := Options{Version: "v1 \"quoted\"", Commit: "line\nbreak\\"}
	opts.Buses = func() []hub.BusStatus {
		bs := make([]hub.BusStatus, len(awkwardValues))
		for i, v := range awkwardValues {
			bs[i] = hub.BusStatus{Name: v, FramesIn: uint64(100 + i)}
		}
		return bs
	}
	ts := newTestServer(t, opts)
	fams := scrape(t, ts.url)
	got := map[string]float64{}
	for _, m := range fams["hubd_serial_frames_total"].GetMetric() {
		if l := labelsOf(m); l["direction"] == "in" {
			got[l["bus"]] = m.GetCounter().GetValue()
		}
	}
	for i, v := range awkwardValues {
		want := strings.ToValidUTF8(v, "\uFFFD") // invalid bytes can not be sent
		if n, ok := got[want]; !ok || n != float64(100+i) {
			t.Errorf("bus %q: got %v (present %v), want %d; all: %v", v, n, ok, 100+i, got)
		}
	}
	if len(got) != len(awkwardValues) {
		t.Errorf("%d bus series, want %d", len(got), len(awkwardValues))
	}
	build := labelsOf(fams["hubd_build_info"].GetMetric()[0])
	if build["version"] != opts.Version || build["commit"] != opts.Commit {
		t.Errorf("build_info labels %q", build)
	}
}

// FuzzMetrics_LabelValue: any label value makes an exposition that
// Prometheus parses and that gives the value back (invalid UTF-8 replaced).
func FuzzMetrics_LabelValue(f *testing.F) {
	f.Add("")
	for _, v := range awkwardValues {
		f.Add(v)
	}
	d := newMetricDesc("test_metric", "Fuzzed.", kindCounter, "value", "fixed")
	f.Fuzz(func(t *testing.T, v string) {
		e := newExposition()
		e.add(d, 42, v, "x")
		text := e.appendText(nil)
		fams, err := parseText(text)
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, text)
		}
		ms := fams["test_metric"].GetMetric()
		if len(ms) != 1 || ms[0].GetCounter().GetValue() != 42 {
			t.Fatalf("%q: samples %v", v, ms)
		}
		l := labelsOf(ms[0])
		if want := strings.ToValidUTF8(v, "\uFFFD"); l["value"] != want || l["fixed"] != "x" {
			t.Fatalf("%q came back as %q", v, l)
		}
	})
}

func TestMetrics_Exposition_HelpEscaping(t *testing.T) {
	for _, help := range []string{
		`plain`,
		`a \ backslash and "quotes"`,
		"two\nlines",
		`trailing \`,
		`\n literally`,
		"ünïcödé ✓",
	} {
		d := newMetricDesc("test_metric", help, kindGauge)
		e := newExposition()
		e.add(d, 1)
		text := e.appendText(nil)
		if bytes.Count(text, []byte("\n")) != 3 {
			t.Errorf("help %q: not three lines:\n%s", help, text)
		}
		fams, err := parseText(text)
		if err != nil {
			t.Errorf("help %q: %v\n%s", help, err, text)
			continue
		}
		if got := fams["test_metric"].GetHelp(); got != help {
			t.Errorf("help %q came back as %q", help, got)
		}
	}
}

func TestMetrics_Exposition_Values(t *testing.T) {
	d := newMetricDesc("test_metric", "h", kindGauge, "v")
	e := newExposition()
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-300, 1.7976931348623157e308, 1 << 53, 18446744073709551615, math.Inf(1), math.Inf(-1), math.NaN()}
	for i, v := range vals {
		e.add(d, v, fmt.Sprint(i))
	}
	fams, err := parseText(e.appendText(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams["test_metric"].GetMetric() {
		var i int
		fmt.Sscan(labelsOf(m)["v"], &i)
		got, want := m.GetGauge().GetValue(), vals[i]
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("%v came back as %v", want, got)
		}
	}
	if n := len(fams["test_metric"].GetMetric()); n != len(vals) {
		t.Errorf("%d samples, want %d", n, len(vals))
	}
}

func TestMetrics_Exposition_OrderAndDuplicates(t *testing.T) {
	a := newMetricDesc("a_total", "A.", kindCounter, "z", "b")
	z := newMetricDesc("z", "Z.", kindGauge)
	build := func(order []int) []byte {
		e := newExposition()
		add := []func(){
			func() { e.add(z, 5) },
			func() { e.add(a, 1, "x", "2") },
			func() { e.add(a, 2, "x", "1") },
			func() { e.add(a, 3, "w", "1") },
		}
		for _, i := range order {
			add[i]()
		}
		e.add(a, 99, "x", "1")   // duplicate of a later-sorted set: dropped
		e.add(a, 98, "only-one") // wrong label count: dropped
		e.add(z, 97, "surplus")  // likewise
		return e.appendText(nil)
	}
	want := "# HELP a_total A.\n# TYPE a_total counter\n" +
		"a_total{b=\"1\",z=\"w\"} 3\na_total{b=\"1\",z=\"x\"} 2\na_total{b=\"2\",z=\"x\"} 1\n" +
		"# HELP z Z.\n# TYPE z gauge\nz 5\n"
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
		if got := string(build(order)); got != want {
			t.Errorf("order %v:\n%s\nwant\n%s", order, got, want)
		}
	}
	if got := newExposition().appendText(nil); len(got) != 0 {
		t.Errorf("empty exposition wrote %q", got)
	}
}

func TestMetrics_DuplicateBusSkipped(t *testing.T) {
	opts := Options{}
	opts.Buses = func() []hub.BusStatus {
		return []hub.BusStatus{{Name: "bus0", FramesIn: 1}, {Name: "bus1", FramesIn: 2}, {Name: "bus0", FramesIn: 3}}
	}
	ts := newTestServer(t, opts)
	fams := scrape(t, ts.url)
	var in []string
	for _, m := range fams["hubd_serial_frames_total"].GetMetric() {
		if l := labelsOf(m); l["direction"] == "in" {
			in = append(in, fmt.Sprintf("%s=%v", l["bus"], m.GetCounter().GetValue()))
		}
	}
	if want := []string{"bus0=1", "bus1=2"}; !slices.Equal(in, want) {
		t.Errorf("frames in %v, want %v (the first bus0 kept)", in, want)
	}
}

// checkHistograms checks that every API latency series is a proper
// histogram: buckets at the configured bounds, cumulative, the +Inf bucket
// equal to _count. It returns the series by endpoint and code.
func checkHistograms(fams map[string]*dto.MetricFamily) (map[string]*dto.Histogram, error) {
	out := map[string]*dto.Histogram{}
	for _, m := range fams["hubd_api_request_duration_seconds"].GetMetric() {
		l := labelsOf(m)
		key := l["endpoint"] + " " + l["code"]
		h := m.GetHistogram()
		bs := h.GetBucket()
		if n := len(bs); n > 0 && math.IsInf(bs[n-1].GetUpperBound(), 1) {
			if bs[n-1].GetCumulativeCount() != h.GetSampleCount() {
				return nil, fmt.Errorf("%s: +Inf bucket %d, count %d", key, bs[n-1].GetCumulativeCount(), h.GetSampleCount())
			}
			bs = bs[:n-1]
		}
		if len(bs) != len(apiBuckets.upper) {
			return nil, fmt.Errorf("%s: %d buckets, want %d", key, len(bs), len(apiBuckets.upper))
		}
		var prev uint64
		for i, b := range bs {
			if b.GetUpperBound() != apiBuckets.upper[i] {
				return nil, fmt.Errorf("%s: bucket %d at %v, want %v", key, i, b.GetUpperBound(), apiBuckets.upper[i])
			}
			if b.GetCumulativeCount() < prev {
				return nil, fmt.Errorf("%s: bucket le=%v has %d, below the one before (%d)", key, b.GetUpperBound(), b.GetCumulativeCount(), prev)
			}
			prev = b.GetCumulativeCount()
		}
		if prev > h.GetSampleCount() {
			return nil, fmt.Errorf("%s: last bucket %d above count %d", key, prev, h.GetSampleCount())
		}
		out[key] = h
	}
	return out, nil
}

func TestMetrics_Histogram_ConcurrentObservations(t *testing.T) {
	ts := newTestServer(t, Options{})
	const workers, each = 8, 2000
	// Durations from 0 to 7 s in 523 µs steps cover every bucket and +Inf;
	// every 50th sits on a bound (le is inclusive).
	dur := func(w, i int) time.Duration {
		if i%50 == 0 {
			return time.Duration(apiBuckets.upper[(w+i/50)%len(apiBuckets.upper)] * float64(time.Second))
		}
		return time.Duration((w*each+i)*523) * time.Microsecond % (7 * time.Second)
	}
	endpoint := func(w int) string { return []string{"devices/query", "devices/action"}[w%2] }

	done := make(chan struct{})
	midway := make(chan struct{}) // closed once two scrapes saw half the work
	scraped := make(chan error, 1)
	go func() { // scrapes during the observations must be consistent too
		var err error
		defer func() { scraped <- err }()
		defer func() {
			select {
			case <-midway:
			default:
				close(midway) // on error: let the workers finish
			}
		}()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			var body []byte
			if body, _, err = getMetrics(ts.url); err != nil {
				return
			}
			fams, perr := parseText(body)
			if perr != nil {
				err = perr
				return
			}
			if _, err = checkHistograms(fams); err != nil {
				return
			}
			if n == 2 {
				close(midway)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if i == each/2 {
					<-midway
				}
				ts.ObserveAPI(endpoint(w), 200, dur(w, i))
			}
		})
	}
	wg.Wait()
	close(done)
	if err := <-scraped; err != nil {
		t.Fatalf("scrape during observations: %v", err)
	}

	hs, err := checkHistograms(scrape(t, ts.url))
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"devices/query", "devices/action"} {
		var count uint64
		var sum float64
		cum := make([]uint64, len(apiBuckets.upper))
		for w := range workers {
			if endpoint(w) != ep {
				continue
			}
			for i := range each {
				s := dur(w, i).Seconds()
				count++
				sum += s
				for j, ub := range apiBuckets.upper {
					if s <= ub {
						cum[j]++
					}
				}
			}
		}
		h := hs[ep+" 200"]
		if h == nil {
			t.Fatalf("no series for %s", ep)
		}
		if h.GetSampleCount() != count {
			t.Errorf("%s: count %d, want %d", ep, h.GetSampleCount(), count)
		}
		if math.Abs(h.GetSampleSum()-sum) > 1e-9*sum {
			t.Errorf("%s: sum %v, want %v", ep, h.GetSampleSum(), sum)
		}
		for j, b := range h.GetBucket()[:len(cum)] {
			if b.GetCumulativeCount() != cum[j] {
				t.Errorf("%s: le=%v has %d, want %d", ep, b.GetUpperBound(), b.GetCumulativeCount(), cum[j])
			}
		}
		if cum[0] == 0 || cum[len(cum)-1] == count {
			t.Errorf("%s: the durations missed the first bucket or +Inf: %v of %d", ep, cum, count)
		}
	}
}

func TestMetrics_Histogram_BoundIsInclusive(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.ObserveAPI("q", 200, time.Millisecond) // exactly le="0.001"
	hs, err := checkHistograms(scrape(t, ts.url))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range hs["q 200"].GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 0.001 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestMetrics_Buckets_DurationBoundsMatchSeconds(t *testing.T) {
	bk := newBuckets(5, math.NaN(), 0.001, -1, 1e-10, 0.001, math.Inf(1), 1e-9, 0.3, 1e12)
	if want := []float64{1e-10, 1e-9, 0.001, 0.3, 5, 1e12}; !slices.Equal(bk.upper, want) {
		t.Fatalf("bounds %v, want %v", bk.upper, want)
	}
	if want := []string{"1e-10", "1e-09", "0.001", "0.3", "5", "1e+12"}; !slices.Equal(bk.le, want) {
		t.Errorf("le %q, want %q", bk.le, want)
	}
	for _, b := range []*buckets{bk, apiBuckets} {
		for i, ub := range b.upper {
			d := b.ns[i]
			if d.Seconds() > ub || (d < math.MaxInt64 && (d+1).Seconds() <= ub) {
				t.Errorf("bound %v s as %d ns: not the longest duration within it", ub, int64(d))
			}
		}
	}
}

// The daemon links no Prometheus client library: on Linux its text is
// resident, and client_golang brings protobuf, prometheus/common and procfs.
// Tests may still use them to parse.
func TestMetrics_DaemonDoesNotLinkPrometheusClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	banned := []string{
		"github.com/prometheus/client_golang",
		"github.com/prometheus/client_model",
		"github.com/prometheus/common",
		"github.com/prometheus/procfs",
		"google.golang.org/protobuf",
	}
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		cmd := exec.Command(goBin, "list", "-deps", "hubd/cmd/hubd")
		cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list (linux/%s): %v\n%s", arch, err, stderr)
		}
		pkgs := strings.Fields(string(out))
		if !slices.Contains(pkgs, "hubd/hub/web") {
			t.Fatalf("go list (linux/%s) does not list hubd/hub/web: %q", arch, out)
		}
		var linked []string
		for _, b := range banned {
			for _, p := range pkgs {
				if p == b || strings.HasPrefix(p, b+"/") {
					linked = append(linked, b)
					break
				}
			}
		}
		if len(linked) > 0 {
			t.Errorf("linux/%s: cmd/hubd links %v (go list -deps hubd/cmd/hubd shows which packages)", arch, linked)
		}
	}
}
