package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"hubd/hub"
)

// Benchmarks run a fixed workload per iteration, with fsync on, and report
// rates and latency percentiles, so that `make bench` (-benchtime 1x) gives
// meaningful figures.

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchDevices(n int) []hub.Device {
	devs := make([]hub.Device, n)
	for i := range devs {
		if i%2 == 0 {
			devs[i] = hub.Device{ID: devID(i), Kind: hub.KindLight, Driver: "serial", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500}
		} else {
			devs[i] = hub.Device{ID: devID(i), Kind: hub.KindSocket, Driver: "mqtt", Fields: hub.Fields(hub.FieldOn).Union(hub.MeterFields)}
		}
	}
	return devs
}

// BenchmarkIngest_HubApply drives 1,000,000 reports for 1,000 devices from
// four driver goroutines through a real hub.Hub into the store, and counts
// the time until the final Flush returns.
func BenchmarkIngest_HubApply(b *testing.B) {
	const devices, reports, drivers = 1000, 1_000_000, 4
	devs := benchDevices(devices)
	for b.Loop() {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		h, err := hub.New(devs, nil, hub.Options{Store: db})
		if err != nil {
			b.Fatal(err)
		}
		lat := make([][]time.Duration, drivers)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for g := range drivers {
			wg.Go(func() {
				for k := range reports / drivers {
					i := (k*drivers + g) % devices
					r := hub.Report{Device: devID(i)}
					if i%2 == 0 {
						r.State = hub.State{Set: hub.Fields(hub.FieldOn, hub.FieldBrightness), On: k%2 == 0, Brightness: k % 101}
					} else {
						r.State = hub.State{Set: hub.MeterFields, Power: float64(k % 2000), Voltage: 230, Current: 0.1, Energy: float64(k)}
					}
					t0 := time.Now()
					if err := h.Apply(r); err != nil {
						b.Error(err)
						return
					}
					if k%16 == 0 {
						lat[g] = append(lat[g], time.Since(t0))
					}
				}
			})
		}
		wg.Wait()
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		st := db.Stats()
		h.Close()
		db.Close()
		all := slices.Concat(lat...)
		b.ReportMetric(float64(reports)/took.Seconds(), "reports/s")
		b.ReportMetric(float64(percentile(all, 0.5).Nanoseconds()), "apply-p50-ns")
		b.ReportMetric(float64(percentile(all, 0.99).Nanoseconds()), "apply-p99-ns")
		b.ReportMetric(float64(st.Batches), "batches")
		b.ReportMetric(float64(st.Committed), "snapshots-written")
		b.ReportMetric(ms(st.MaxCommit), "max-commit-ms")
		b.StartTimer()
	}
}

// BenchmarkIngest_Put puts 1,000,000 snapshots of 1,000 devices straight
// into the store from four goroutines, then flushes.
func BenchmarkIngest_Put(b *testing.B) {
	const devices, puts, writers = 1000, 1_000_000, 4
	snaps := make([]hub.Snapshot, devices)
	for i := range snaps {
		snaps[i] = snap(i, 1)
	}
	for b.Loop() {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for k := range puts / writers {
					i := (k*writers + g) % devices
					s := snaps[i]
					s.Seq = uint64(k)
					db.Put(devID(i), s)
				}
			})
		}
		wg.Wait()
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		st := db.Stats()
		db.Close()
		b.ReportMetric(float64(puts)/took.Seconds(), "reports/s")
		b.ReportMetric(float64(st.Batches), "batches")
		b.ReportMetric(float64(st.Coalesced)/float64(st.Puts)*100, "coalesced-%")
		b.StartTimer()
	}
}

// BenchmarkCommit measures one commit (Flush of a batch of distinct
// devices, fsync on) for several batch sizes, 30 commits each.
func BenchmarkCommit(b *testing.B) {
	for _, size := range []int{1, 100, 1000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			const rounds = 30
			db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{FlushInterval: time.Hour, MaxBatch: size + 1})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var lat []time.Duration
			var seq uint64
			for b.Loop() {
				for range rounds {
					seq++
					for i := range size {
						db.Put(devID(i), snap(i, seq))
					}
					t0 := time.Now()
					if err := db.Flush(); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
			}
			b.ReportMetric(ms(percentile(lat, 0.5)), "commit-p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "commit-p99-ms")
			b.ReportMetric(float64(size)/percentile(lat, 0.5).Seconds(), "snapshots/s")
		})
	}
}

// BenchmarkLoadAll measures the startup read of 5,000 saved devices.
func BenchmarkLoadAll(b *testing.B) {
	const devices = 5000
	db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := range devices {
		db.Put(devID(i), snap(i, uint64(i)))
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		for range 20 {
			t0 := time.Now()
			all, err := db.LoadAll()
			if err != nil || len(all) != devices {
				b.Fatalf("LoadAll: %d, %v", len(all), err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	size, _ := db.Size()
	b.ReportMetric(ms(percentile(lat, 0.5)), "loadall-p50-ms")
	b.ReportMetric(float64(size)/devices, "file-bytes/device")
}

// BenchmarkKV_Put measures a synchronous key/value write (one commit).
func BenchmarkKV_Put(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "hubd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	kv := db.Bucket("bench")
	var lat []time.Duration
	for b.Loop() {
		for i := range 50 {
			t0 := time.Now()
			if err := kv.Put(fmt.Sprintf("unit-%d", i), "amzn1.alexa.unit.did.0123456789"); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	b.ReportMetric(ms(percentile(lat, 0.5)), "put-p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "put-p99-ms")
}
