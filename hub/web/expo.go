package web

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// This file writes the Prometheus text exposition format, version 0.0.4:
// https://prometheus.io/docs/instrumenting/exposition_formats/. It covers
// what /metrics needs (gauges, counters and histograms) and nothing else, in
// place of the client library and the protobuf runtime it would link in.

// expoContentType is the Content-Type of a text exposition.
const expoContentType = "text/plain; version=0.0.4; charset=utf-8"

// metricKind is a family's TYPE.
type metricKind uint8

const (
	kindGauge metricKind = iota
	kindCounter
	kindHistogram
)

func (k metricKind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindHistogram:
		return "histogram"
	default:
		return "gauge"
	}
}

// metricDesc describes one family. Names must be valid Prometheus metric
// and label names ([a-zA-Z_:][a-zA-Z0-9_:]*); they are constants in this
// package, so they are written as they are.
type metricDesc struct {
	name, help string
	kind       metricKind
	// labels are the label names in the order samples give their values;
	// sorted are the same names sorted, and order[i] is the index in labels
	// of sorted[i]. Series are written with their labels in sorted order.
	labels, sorted []string
	order          []int
}

func newMetricDesc(name, help string, kind metricKind, labels ...string) *metricDesc {
	d := &metricDesc{name: name, help: help, kind: kind, labels: labels}
	d.order = make([]int, len(labels))
	for i := range d.order {
		d.order[i] = i
	}
	slices.SortFunc(d.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	d.sorted = make([]string, len(labels))
	for i, j := range d.order {
		d.sorted[i] = labels[j]
	}
	return d
}

// buckets are the upper bounds of a latency histogram in seconds,
// ascending, without +Inf; the same bounds as durations, for observing
// without floating point; and their le label values, written once.
type buckets struct {
	upper []float64
	le    []string
	ns    []time.Duration // ns[i]: the longest d with d.Seconds() <= upper[i]
}

// newBuckets sorts the bounds and drops duplicates, NaN, infinities and
// bounds below zero (the +Inf bucket is always written).
func newBuckets(upper ...float64) *buckets {
	u := slices.DeleteFunc(slices.Clone(upper), func(v float64) bool { return !(v >= 0) || math.IsInf(v, 1) })
	slices.Sort(u)
	u = slices.Compact(u)
	bk := &buckets{upper: u, le: make([]string, len(u)), ns: make([]time.Duration, len(u))}
	for i, v := range u {
		bk.le[i] = string(appendFloat(nil, v))
		if v*1e9 >= math.MaxInt64 { // beyond 292 years: every duration is within
			bk.ns[i] = math.MaxInt64
			continue
		}
		d := time.Duration(v * 1e9)
		for d > 0 && d.Seconds() > v {
			d--
		}
		for (d + 1).Seconds() <= v {
			d++
		}
		bk.ns[i] = d
	}
	return bk
}

// histSnapshot is one histogram series as read at scrape time.
type histSnapshot struct {
	bk         *buckets
	cumulative []uint64 // observations <= bk.upper[i]
	count      uint64
	sum        float64
}

// sample is one series of a family.
type sample struct {
	values []string // label values in the desc's sorted name order
	value  float64
	hist   histSnapshot
}

// exposition gathers the samples of one scrape, then writes them out with
// families sorted by name and series by label values, so that two scrapes
// of the same state are byte for byte the same.
type exposition struct {
	fams map[*metricDesc][]sample
}

func newExposition() *exposition {
	return &exposition{fams: map[*metricDesc][]sample{}}
}

// labelValues puts vs in d's sorted name order, with invalid UTF-8 replaced
// (a scraper must reject it). It reports false when the count is not the
// number of d's labels: a programming error, and the sample is dropped
// rather than written with labels missing.
func (d *metricDesc) labelValues(vs []string) ([]string, bool) {
	if len(vs) != len(d.labels) {
		return nil, false
	}
	out := make([]string, len(vs))
	for i, j := range d.order {
		out[i] = strings.ToValidUTF8(vs[j], "\uFFFD")
	}
	return out, true
}

// add records one gauge or counter sample with its label values, in the
// order of the desc's labels.
func (e *exposition) add(d *metricDesc, v float64, labelValues ...string) {
	if d.kind == kindHistogram {
		return
	}
	if vs, ok := d.labelValues(labelValues); ok {
		e.fams[d] = append(e.fams[d], sample{values: vs, value: v})
	}
}

// addHistogram records one histogram series.
func (e *exposition) addHistogram(d *metricDesc, h histSnapshot, labelValues ...string) {
	if d.kind != kindHistogram {
		return
	}
	if vs, ok := d.labelValues(labelValues); ok {
		e.fams[d] = append(e.fams[d], sample{values: vs, hist: h})
	}
}

// appendText appends the exposition to b. Families without samples are
// left out. Of several series with the same label values only the first
// added is written: a duplicate would make the scraper drop the scrape.
func (e *exposition) appendText(b []byte) []byte {
	descs := make([]*metricDesc, 0, len(e.fams))
	for d := range e.fams {
		descs = append(descs, d)
	}
	slices.SortFunc(descs, func(a, b *metricDesc) int { return strings.Compare(a.name, b.name) })
	for _, d := range descs {
		ss := e.fams[d]
		slices.SortStableFunc(ss, func(a, b sample) int { return slices.Compare(a.values, b.values) })
		ss = slices.CompactFunc(ss, func(a, b sample) bool { return slices.Equal(a.values, b.values) })

		b = append(b, "# HELP "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = appendEscaped(b, d.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = append(b, d.kind.String()...)
		b = append(b, '\n')
		for i := range ss {
			if d.kind == kindHistogram {
				b = appendHistogram(b, d, &ss[i])
				continue
			}
			b = appendSeries(b, d.name, "", d.sorted, ss[i].values, "", "")
			b = appendFloat(b, ss[i].value)
			b = append(b, '\n')
		}
	}
	return b
}

func appendHistogram(b []byte, d *metricDesc, s *sample) []byte {
	h := &s.hist
	for i, le := range h.bk.le {
		b = appendSeries(b, d.name, "_bucket", d.sorted, s.values, "le", le)
		b = strconv.AppendUint(b, h.cumulative[i], 10)
		b = append(b, '\n')
	}
	b = appendSeries(b, d.name, "_bucket", d.sorted, s.values, "le", "+Inf")
	b = strconv.AppendUint(b, h.count, 10)
	b = append(b, '\n')
	b = appendSeries(b, d.name, "_sum", d.sorted, s.values, "", "")
	b = appendFloat(b, h.sum)
	b = append(b, '\n')
	b = appendSeries(b, d.name, "_count", d.sorted, s.values, "", "")
	b = strconv.AppendUint(b, h.count, 10)
	return append(b, '\n')
}

// appendSeries appends `name{a="x",b="y",extra="v"} ` (the braces only
// when there are labels), ready for the value.
func appendSeries(b []byte, name, suffix string, names, values []string, extraName, extraValue string) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(names) > 0 || extraName != "" {
		b = append(b, '{')
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, n, values[i])
		}
		if extraName != "" {
			if len(names) > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, extraName, extraValue)
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped escapes backslash and newline, and the double quote too in
// a label value (quoted); HELP text leaves it as it is.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quoted:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes v as Prometheus reads it back: shortest round-trip
// decimal, and +Inf, -Inf, NaN spelled out.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 0:
		return append(b, '0') // also -0
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// histogram is one latency histogram series, observed concurrently
// without locks: an atomic add to one bucket and one to the sum. The sum is
// kept in nanoseconds, so it is exact. A scrape derives the count from the
// buckets, so the buckets, +Inf and _count always agree; _sum may already
// hold an observation whose bucket the scrape did not see yet.
type histogram struct {
	bk     *buckets        // shared, never written
	counts []atomic.Uint64 // counts[i]: observations in (ns[i-1], ns[i]]; the last, above every bound
	sum    atomic.Int64    // nanoseconds
}

func newHistogram(bk *buckets) *histogram {
	return &histogram{bk: bk, counts: make([]atomic.Uint64, len(bk.upper)+1)}
}

func (h *histogram) observe(d time.Duration) {
	i, _ := slices.BinarySearch(h.bk.ns, d) // first bound >= d: le is inclusive
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() histSnapshot {
	n := len(h.bk.upper)
	s := histSnapshot{bk: h.bk, cumulative: make([]uint64, n)}
	for i := range n {
		s.count += h.counts[i].Load()
		s.cumulative[i] = s.count
	}
	s.count += h.counts[n].Load()
	s.sum = time.Duration(h.sum.Load()).Seconds()
	return s
}
