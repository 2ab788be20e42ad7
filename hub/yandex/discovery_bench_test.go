package yandex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"hubd/hub"
)

// hotelAPI is a staff account's API on a hotel's gateway: floors of
// rooms of perRoom lamps each.
func hotelAPI(tb testing.TB, floors, rooms, perRoom int) (*Handler, []hub.Device) {
	tb.Helper()
	site := &hub.Site{Buildings: []*hub.Node{{ID: "hotel", Name: "Hotel", Kind: hub.NodeBuilding}}}
	var devs []hub.Device
	for f := range floors {
		fl := &hub.Node{ID: fmt.Sprintf("f%d", f), Name: fmt.Sprintf("Floor %d", f), Kind: hub.NodeFloor}
		for r := range rooms {
			rm := &hub.Node{ID: fmt.Sprintf("r%d%02d", f, r), Name: fmt.Sprintf("Room %d%02d", f, r), Kind: hub.NodeRoom}
			for d := range perRoom {
				id := fmt.Sprintf("%s-%02d", rm.ID, d)
				rm.Devices = append(rm.Devices, id)
				devs = append(devs, hub.Device{ID: id, Name: "Lamp " + id, Kind: hub.KindLight, Driver: "echo", Fields: hub.LightFields, TempMinK: 2700, TempMaxK: 6500})
			}
			fl.Children = append(fl.Children, rm)
		}
		site.Buildings[0].Children = append(site.Buildings[0].Children, fl)
	}
	h, err := hub.New(devs, site, hub.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	api, err := New(h, Options{Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		tb.Fatal(err)
	}
	return api, devs
}

func discoveryRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/v1.0/user/devices", nil)
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("X-Request-Id", "bench")
	return req
}

// The answer is written as it is encoded: one of many times the write
// buffer still decodes whole, every device once, in order.
func TestDiscovery_StreamedAnswerIsWhole(t *testing.T) {
	api, devs := hotelAPI(t, 3, 10, 20)
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, discoveryRequest())
	if rec.Code != http.StatusOK || rec.Body.Len() < 4*32<<10 {
		t.Fatalf("status %d, %d bytes: want 200 and an answer several times the write buffer", rec.Code, rec.Body.Len())
	}
	var d discoveryResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatalf("the answer does not decode: %v", err)
	}
	if d.RequestID != "bench" || d.Payload.UserID != "u" || len(d.Payload.Devices) != len(devs) {
		t.Fatalf("request %q, user %q, %d devices; want bench, u, %d", d.RequestID, d.Payload.UserID, len(d.Payload.Devices), len(devs))
	}
	for i, dv := range d.Payload.Devices {
		if dv.ID != devs[i].ID || len(dv.Capabilities) == 0 {
			t.Fatalf("device %d is %q with %d capabilities, want %q with some", i, dv.ID, len(dv.Capabilities), devs[i].ID)
		}
	}
}

// BenchmarkDiscovery_10000Devices is GET /v1.0/user/devices for a staff
// account on a hotel's gateway: 10,000 devices in 500 rooms on 10 floors.
// It reports the time and the bytes the handler allocates per answer
// (the answer goes to a writer that only counts it).
func BenchmarkDiscovery_10000Devices(b *testing.B) {
	api, _ := hotelAPI(b, 10, 50, 20)
	b.ReportAllocs()
	for b.Loop() {
		w := &countingWriter{header: http.Header{}}
		start := time.Now()
		api.ServeHTTP(w, discoveryRequest())
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/answer")
		b.ReportMetric(float64(w.n)/(1<<20), "answer-MiB")
	}
}

// countingWriter is a ResponseWriter that keeps only the status and the
// number of bytes.
type countingWriter struct {
	header http.Header
	status int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(s int)   { w.status = s }
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
