package main

import "testing"

func TestBuildBuses_ParsesDeviceFlags(t *testing.T) {
	tests := []struct {
		name                    string
		spec                    string
		lamps, sockets, n, per  int
		wantBuses, wantDevsBus0 int
		ok                      bool
	}{
		{"demo default", "", 0, 0, 0, 32, 1, 2, true},
		{"list", "lamp:1, socket:7,lamp:9", 0, 0, 0, 32, 1, 3, true},
		{"counts", "", 3, 2, 0, 32, 1, 5, true},
		{"mass", "", 0, 0, 1000, 32, 32, 32, true},
		{"mass one bus", "", 0, 0, 5, 247, 1, 5, true},
		{"bad kind", "fan:1", 0, 0, 0, 32, 0, 0, false},
		{"no address", "lamp", 0, 0, 0, 32, 0, 0, false},
		{"address 0", "lamp:0", 0, 0, 0, 32, 0, 0, false},
		{"address 248", "lamp:248", 0, 0, 0, 32, 0, 0, false},
		{"duplicate", "lamp:1,socket:1", 0, 0, 0, 32, 0, 0, false},
		{"too many", "", 200, 100, 0, 32, 0, 0, false},
		{"per bus 0", "", 0, 0, 10, 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buses, err := buildBuses(tc.spec, tc.lamps, tc.sockets, tc.n, tc.per)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if !tc.ok {
				return
			}
			if len(buses) != tc.wantBuses || len(buses[0].Devices()) != tc.wantDevsBus0 {
				t.Errorf("%d buses, %d devices on the first", len(buses), len(buses[0].Devices()))
			}
		})
	}
}
