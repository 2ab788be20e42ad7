package mqttsim_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hubd/drivers/mqtt/broker"
	"hubd/drivers/mqtt/mqttsim"
)

// TestPublished_CountsWhatTheBrokerDelivers checks the simulator's count
// against an independent subscriber of the same broker: every message
// the devices published arrives, and a device that lost power counts its
// reports as refused, not as published.
func TestPublished_CountsWhatTheBrokerDelivers(t *testing.T) {
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve()
	t.Cleanup(func() { b.Close() })

	// The observer counts device messages; the marker topic is its own.
	var seen atomic.Int64
	marker := make(chan struct{}, 16)
	obs := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("observer"))
	if tok := obs.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	defer obs.Disconnect(50)
	if tok := obs.Subscribe("#", 0, func(_ paho.Client, m paho.Message) {
		if m.Topic() == "test/marker" {
			marker <- struct{}{}
			return
		}
		if m.Topic() != "zigbee2mqtt/bridge/devices" { // the bridge's list is not counted
			seen.Add(1)
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}

	specs := mqttsim.Mass(8) // every dialect
	sim, err := mqttsim.Start(context.Background(), mqttsim.Options{Broker: "tcp://" + b.Addr(), Devices: specs, Telemetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for round := range 3 {
		for _, s := range specs {
			if err := sim.SetLoad(s.Name, float64(10+round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The marker travels after everything the devices published, on a
	// connection of its own (QoS 0 on separate connections is not ordered
	// across them): a round counts when no device published during it.
	// A device counts a message before sending it, so what arrived can
	// never be more than the count read after the marker.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before, refused := sim.Published()
		if refused != 0 {
			t.Fatalf("%d publishes refused with every device connected", refused)
		}
		obs.Publish("test/marker", 0, false, "x")
		select {
		case <-marker:
		case <-time.After(5 * time.Second):
			t.Fatal("the marker did not arrive")
		}
		pub, _ := sim.Published()
		got := seen.Load()
		if got > pub {
			t.Fatalf("the devices counted %d messages published, the broker delivered %d", pub, got)
		}
		if got == pub && pub == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the devices counted %d messages published, the broker delivered %d", pub, got)
		}
	}
	if pub, _ := sim.Published(); pub < int64(3*len(specs)) {
		t.Fatalf("only %d messages published for %d reports", pub, 3*len(specs))
	}

	// A device without power: its report is refused, never published.
	cut := specs[0].Name
	if err := sim.PowerCut(cut, 0); err != nil {
		t.Fatal(err)
	}
	client, _ := sim.Client(cut)
	for end := time.Now().Add(5 * time.Second); client.IsConnectionOpen(); {
		if time.Now().After(end) {
			t.Fatal("the cut device's connection stayed open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub0, ref0 := sim.Published()
	if err := sim.SetLoad(cut, 99); err != nil {
		t.Fatal(err)
	}
	pub1, ref1 := sim.Published()
	if pub1 != pub0 || ref1 <= ref0 {
		t.Fatalf("a report without a connection: published %d -> %d, refused %d -> %d; want it refused", pub0, pub1, ref0, ref1)
	}
}
