package main

import (
	"strings"
	"testing"

	"hubd/drivers/modbus/modbussim"
)

func TestParseSlaves_BuildsTheListedSlaves(t *testing.T) {
	ss, err := parseSlaves("relay:1:4,dimmer:2:2,sdm120:3:1/0,sdm120:4")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range ss {
		got = append(got, s.Describe())
	}
	want := []string{"unit 1: 4-channel relay", "unit 2: 2-channel dimmer", "unit 3: SDM120", "unit 4: SDM120"}
	for i, w := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], w) {
			t.Fatalf("slaves %q, want %q", got, want)
		}
	}
	if demo, err := parseSlaves(""); err != nil || len(demo) != 3 {
		t.Fatalf("default: %d slaves, %v", len(demo), err)
	}
}

func TestParseSlaves_RefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"relay", "relay:0:4", "relay:1", "relay:1:0", "dimmer:300:1", "sdm120:3:9/0", "sdm120:3:1-0", "toaster:1:1", "relay:1:4,relay:1:4", ",", "sdm120:x"} {
		ss, err := parseSlaves(spec)
		if err == nil {
			// Duplicate units are caught when the bus is built.
			if _, err = modbussim.NewBus(ss...); err == nil {
				t.Errorf("%q: no error", spec)
			}
		}
	}
}
