package modbus

import (
	"reflect"
	"testing"
	"time"

	"hubd/drivers/modbus/pymodbustest"
)

func TestScan_PyModbus_FindsSlavesAndProposesProfiles(t *testing.T) {
	s := pymodbustest.Start(t)
	relay4 := relay4
	relay4.Ident = &Ident{Register: Register{Table: Coil, Addr: 3}} // only a 4-channel relay has coil 3
	var probed []uint8
	found, err := Scan(t.Context(), ScanOptions{
		Bus:      BusConfig{Name: "scan", Port: s.Port, Line: Line{Baud: 19200}, Timeout: 50 * time.Millisecond, Retries: -1},
		Units:    []uint8{1, 2, 3, 4, 5},
		Profiles: []Profile{relay4},
		Progress: func(u uint8) { probed = append(probed, u) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{
		{Unit: 1, Profiles: []string{"relay", "relay4"}},
		{Unit: 2}, // the dimmer: no profile recognizes it, so a person is asked
		{Unit: 3, Profiles: []string{"sdm120", "sdm630"}}, // an Eastron meter, model unknown
	}
	if !reflect.DeepEqual(found, want) {
		t.Fatalf("found %+v, want %+v", found, want)
	}
	if len(probed) != 5 {
		t.Fatalf("probed %v", probed)
	}
}

func TestProfile_Validate_ChecksTheIdent(t *testing.T) {
	p := Profile{Name: "x", Switch: &Register{Table: Coil}, Ident: &Ident{Register: Register{Table: Input, Type: Bool}}}
	if err := p.Validate(); err == nil {
		t.Fatal("a bool input register passed as ident")
	}
}
