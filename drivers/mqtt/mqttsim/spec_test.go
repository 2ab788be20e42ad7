package mqttsim

import (
	"context"
	"errors"
	"testing"
)

func TestMass_DevicesAreValidAndUnique(t *testing.T) {
	specs := append(Demo(), Mass(60)...)
	ids, names := map[string]bool{}, map[string]bool{}
	for _, s := range specs {
		d := s.Device()
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", s.ID, err)
		}
		if ids[s.ID] || names[s.Address()] {
			t.Errorf("%s (%s) is not unique", s.ID, s.Address())
		}
		ids[s.ID], names[s.Address()] = true, true
	}
}

func TestStart_FailsWithoutBroker(t *testing.T) {
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Fatal("Start without a broker succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, Options{Broker: "tcp://127.0.0.1:1", Devices: Demo()[:1]})
	if err == nil {
		t.Fatal("Start against a closed port succeeded")
	}
	if errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unexpected error %v", err)
	}
}
