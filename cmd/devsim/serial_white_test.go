package main

import (
	"testing"
	"time"

	"hubd/firmware/wire"
)

// A white lamp's INFO differs from the demo lamp's: no color, 3000..6000 K.
func TestBuildBuses_WhiteLampHasItsOwnInfo(t *testing.T) {
	buses, err := buildBuses("lamp:1,white:3", 0, 0, 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	infos := map[uint8]wire.Info{}
	for _, d := range buses[0].Devices() {
		resp, ok := d.Handle(wire.Frame{Addr: d.Addr(), Seq: 1, Cmd: wire.CmdIdentify}, time.Now())
		if !ok {
			t.Fatalf("device %d did not answer IDENTIFY", d.Addr())
		}
		in, err := wire.DecodeInfo(resp.Payload)
		if err != nil {
			t.Fatal(err)
		}
		infos[d.Addr()] = in
	}
	if w := infos[3]; w.Caps.Has(wire.FColor) || !w.Caps.Has(wire.FTemp) || w.MinK != 3000 || w.MaxK != 6000 {
		t.Fatalf("white lamp INFO %+v", w)
	}
	if l := infos[1]; !l.Caps.Has(wire.FColor) || l.MinK != 2700 {
		t.Fatalf("lamp INFO %+v", l)
	}
}
