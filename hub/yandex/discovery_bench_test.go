package yandex

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"hubd/hub"
)

// BenchmarkDiscovery_10000Devices is GET /v1.0/user/devices for a staff
// account on a hotel's gateway: 10,000 devices in 500 rooms on 10 floors.
func BenchmarkDiscovery_10000Devices(b *testing.B) {
	const floors, rooms, perRoom = 10, 50, 20
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
		b.Fatal(err)
	}
	defer h.Close()
	api, err := New(h, Options{Users: []User{{ID: "u", TokenHashes: []string{HashToken("t")}, Scope: staff}}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/v1.0/user/devices", nil)
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("X-Request-Id", "bench")
		rec := httptest.NewRecorder()
		start := time.Now()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/answer")
		b.ReportMetric(float64(rec.Body.Len())/(1<<20), "answer-MiB")
	}
}
